"""A self-organizing map of the handwritten digits, and its pictures.

MiniSom's published recipe (``examples/HandwrittenDigits.ipynb``): standardised 8×8 digits, a
30×30 rectangular map, σ = 4, learning rate 0.5, triangle neighbourhood, PCA initialisation and
5,000 online updates in random order, with MiniSom's asymptotic decay ``v / (1 + 2t/T)``; then
the same data on a 12×12 hexagonal map with a Gaussian neighbourhood. Prints the quantization
and topographic errors and the label purity, and writes to ``--out``:

* ``som_digits_umatrix.png``: U-matrix (mean distance to the adjacent nodes) with each node's
  majority digit written on it;
* ``som_digits_hits.png``: hit map (samples won per node);
* ``som_digits_planes.png``: component planes of 8 pixels;
* ``som_digits_hex.png``: U-matrix and label map of the hexagonal map, drawn as hexagons.

Run: ``python examples/som_digits.py`` (``--quick`` for a small, seconds-long smoke run).
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import numpy as np

import fnnet
from fnnet import competitive as C


def train_map(grid, x, *, sigma, steps, neighborhood, seed):
    """PCA init, then ``steps`` online updates with MiniSom's decay; returns the weights."""
    learner = C.som(
        grid,
        sigma=C.asymptotic_decay(sigma, steps),
        learning_rate=C.asymptotic_decay(0.5, steps),
        neighborhood=neighborhood,
    )
    weights = C.pca_init(grid, x)
    run = jax.jit(lambda w, k: C.train_som(learner, w, x, key=k))  # steps: from the schedules
    return run(weights, jax.random.key(seed)).weights


def draw(ax, grid, values, *, title, cmap="bone_r", labels=None):
    """Nodes as squares (imshow) or hexagons (scatter), coloured by ``values`` (rows, cols)."""
    pos = C.node_positions(grid)
    if grid.hexagonal:
        im = ax.scatter(pos[:, 1], -pos[:, 0], c=np.ravel(values), cmap=cmap, marker="h",
                        s=(260 / max(grid.rows, grid.cols)) ** 2)  # fmt: skip
        ax.set_aspect("equal")
    else:
        im = ax.imshow(values, cmap=cmap)
    if labels is not None:
        for (r, c), lab in zip(pos, np.ravel(labels)):
            if lab >= 0:
                y = -r if grid.hexagonal else r
                ax.text(
                    c,
                    y,
                    str(lab),
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="tab:red",
                )
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    return im


def majority(counts):
    """Majority label per node, −1 where no sample landed."""
    counts = np.asarray(counts)
    return np.where(counts.sum(-1) > 0, counts.argmax(-1), -1)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small maps, few steps")
    parser.add_argument("--out", default="out", help="directory for the PNGs (default out/)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    digits = fnnet.data.digits()
    (x,), _ = fnnet.data.standardize(digits.x)
    y = digits.y
    side, steps, hex_side = (10, 500, 6) if args.quick else (30, 5000, 12)
    results = {}
    for grid, sigma, hood, name in [
        (C.rectangular_grid(side, side), 4.0, C.triangle, "rect"),
        (C.hexagonal_grid(hex_side, hex_side), 1.5, C.gaussian, "hex"),
    ]:
        start = time.perf_counter()
        w = jax.block_until_ready(
            train_map(grid, x, sigma=sigma, steps=steps, neighborhood=hood, seed=args.seed)
        )
        seconds = time.perf_counter() - start
        counts = C.label_map(grid, w, x, y, num_classes=10)
        results[name] = (grid, w, counts)
        print(
            f"{grid.rows}×{grid.cols} {name}: QE {float(C.quantization_error(w, x)):.4f}  "
            f"TE {float(C.topographic_error(grid, w, x)):.4f}  "
            f"purity {float(C.label_purity(counts)):.3f}  ({seconds:.1f} s with compilation)"
        )
    os.makedirs(args.out, exist_ok=True)
    grid, w, counts = results["rect"]
    fig, ax = plt.subplots(figsize=(7, 6))
    fig.colorbar(draw(ax, grid, C.u_matrix(grid, w), title="U-matrix, majority digit per node",
                      labels=majority(counts)), ax=ax)  # fmt: skip
    fig.savefig(os.path.join(args.out, "som_digits_umatrix.png"), dpi=120)
    fig, ax = plt.subplots(figsize=(7, 6))
    fig.colorbar(draw(ax, grid, C.hit_map(grid, w, x), title="hit map", cmap="viridis"), ax=ax)
    fig.savefig(os.path.join(args.out, "som_digits_hits.png"), dpi=120)
    planes = np.asarray(C.component_planes(grid, w))
    fig, axes = plt.subplots(2, 4, figsize=(12, 6))
    for ax, pixel in zip(axes.ravel(), [10, 13, 19, 27, 36, 42, 50, 53]):
        draw(ax, grid, planes[pixel], title=f"pixel {divmod(pixel, 8)}", cmap="coolwarm")
    fig.suptitle("component planes")
    fig.savefig(os.path.join(args.out, "som_digits_planes.png"), dpi=120)
    grid, w, counts = results["hex"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.5))
    draw(axes[0], grid, C.u_matrix(grid, w), title="hexagonal U-matrix")
    draw(axes[1], grid, majority(counts), title="hexagonal label map", cmap="tab10",
         labels=majority(counts))  # fmt: skip
    fig.savefig(os.path.join(args.out, "som_digits_hex.png"), dpi=120)
    plt.close("all")
    print(f"wrote 4 PNGs to {args.out}/")
    return results


if __name__ == "__main__":
    main()
