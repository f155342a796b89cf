"""Choosing the vigilance ρ: every ρ of a grid trained as one compiled, vmapped ART program.

Vigilance is the stability–plasticity knob: low ρ makes few, broad categories; high ρ many, tight
ones. ``competitive.sweep_vigilance`` trains one learner per ρ in a single compiled program.
Left: simplified Fuzzy ARTMAP on the digits (70/30 stratified split, pixel bounds 0..16), test
accuracy and category count against ρ. Right: unsupervised Fuzzy ART on iris (min–max scaled),
adjusted Rand index of its categories against the species, and category count. Writes
``art_sweep.png`` to ``--out``.

Run: ``python examples/art_sweep.py`` (``--quick`` for fewer vigilances).
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

import fnnet
from fnnet import competitive as C


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="four vigilances up to 0.75")
    parser.add_argument("--out", default="out", help="directory for art_sweep.png")
    args = parser.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.datasets import load_iris
    from sklearn.metrics import adjusted_rand_score

    rho = np.linspace(0.0, 0.75 if args.quick else 0.9, 4 if args.quick else 19)
    rho = rho.astype(np.float32)
    d = fnnet.data.digits()  # pixels / 16: in [0, 1] with the known bounds 0..16
    (x_train, y_train), (x_test, y_test) = fnnet.data.train_test_split(jax.random.key(0), d.x, d.y)
    capacity = 384 if args.quick else 768
    make = lambda r: C.fuzzy_artmap(rho=r, capacity=capacity)
    start = time.perf_counter()
    # All vigilances side by side (vmap) on an accelerator; on a CPU one after another in the
    # same program is faster (a vmapped search runs as long as its slowest member's).
    batch = 1 if jax.default_backend() == "cpu" else None
    states = C.sweep_vigilance(make, jnp.asarray(rho), x_train, y_train, batch_size=batch)
    jax.block_until_ready(states.weights)
    seconds = time.perf_counter() - start
    assert int(states.overflow.sum()) == 0, "raise the capacity"
    predicted = jax.vmap(make(0.0).predict, in_axes=(0, None))(states, x_test)
    accuracy = np.mean(np.asarray(predicted) == np.asarray(y_test), axis=1)
    categories = np.asarray(C.num_categories(states))
    print(f"digits: {rho.size} vigilances in one program, {seconds:.1f} s (compile included)")
    for r, a, c in zip(rho, accuracy, categories):
        print(f"  ρ {r:.2f}: test accuracy {a:.3f}, {c} categories")

    x, y = load_iris(return_X_y=True)
    x = C.scale_to_unit(np.asarray(x, np.float32), low=x.min(0), high=x.max(0))
    art = lambda r: C.fuzzy_art(rho=r, capacity=150)
    iris_states = C.sweep_vigilance(art, jnp.asarray(rho), x, batch_size=batch)
    clusters = jax.vmap(art(0.0).predict, in_axes=(0, None))(iris_states, x)
    ari = np.array([adjusted_rand_score(y, c) for c in np.asarray(clusters)])
    iris_categories = np.asarray(C.num_categories(iris_states))
    for r, a, c in zip(rho, ari, iris_categories):
        print(f"  iris ρ {r:.2f}: adjusted Rand index {a:.3f}, {c} categories")

    os.makedirs(args.out, exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, score, name, cats, title in [
        (
            axes[0],
            accuracy,
            "test accuracy",
            categories,
            "digits, simplified Fuzzy ARTMAP",
        ),
        (
            axes[1],
            ari,
            "adjusted Rand index",
            iris_categories,
            "iris, Fuzzy ART (unsupervised)",
        ),
    ]:
        ax.plot(rho, score, "o-", color="tab:blue")
        ax.set_xlabel("vigilance ρ")
        ax.set_ylabel(name, color="tab:blue")
        twin = ax.twinx()
        twin.plot(rho, cats, "s--", color="tab:orange")
        twin.set_ylabel("categories", color="tab:orange")
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "art_sweep.png"), dpi=120)
    plt.close(fig)
    print(f"wrote {args.out}/art_sweep.png")
    return {"rho": rho, "accuracy": accuracy, "ari": ari}


if __name__ == "__main__":
    main()
