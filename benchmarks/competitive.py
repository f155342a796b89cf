"""SOM and ART side by side with MiniSom and artlib: same recipes, same splits, same seeds.

Quality (nothing asserted; the figures go to docs/som.md and docs/art.md):

* SOM, digits (standardised), 30×30, σ 4, learning rate 0.5, triangle, PCA init, 5,000 online
  steps in random order, MiniSom's asymptotic decay; seeds 0–4: QE and TE.
* SOM, iris (min–max), 7×7, σ 1, Gaussian, PCA init, 1,000 steps; seeds 0–4 and 10 (MiniSom#30's
  seed): QE, TE, majority-label purity.
* Simplified Fuzzy ARTMAP, iris (min–max over the whole set, as artlib's ``prepare_data``),
  stratified 67/33 splits with seeds 0–4, ρ ∈ {0, 0.75, 0.9}; digits (bounds 0..16) 70/30
  stratified, ρ 0.7; unsupervised Fuzzy ART on iris, ρ 0.5: adjusted Rand index.

Speed (medians of interleaved rounds, after compilation; ratios are peer time / fnnet time):
SOM online training per step, batch training per pass over the data, inference (winners of all
samples); ARTMAP training on the digits, and a 19-vigilance sweep against a loop of artlib fits.

Run: ``nice python benchmarks/competitive.py`` (``--quick``: fewer seeds and rounds;
``--speed``: only the speed table; ``--quality``: only the quality tables; ``--float64``: fnnet
in float64, like the peers).
Writes ``competitive.md`` and ``competitive.json`` to ``--out`` (default ``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.datasets import load_digits, load_iris
from sklearn.metrics import adjusted_rand_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import scale

from fnnet import competitive as C


def timed(fn, rounds: int) -> float:
    """Median wall time of ``fn()`` over ``rounds`` calls (results blocked on)."""
    return timed_pair(fn, None, rounds)[0]


def timed_pair(ours, theirs, rounds: int) -> tuple[float, float]:
    """Medians of ``ours()`` and ``theirs()`` timed in interleaved rounds (A, B, A, B, ...), so
    that load from other jobs falls on both alike; ``theirs=None`` times ``ours`` alone."""
    times: tuple[list, list] = ([], [])
    for _ in range(rounds):
        for k, fn in enumerate((ours, theirs)):
            if fn is not None:
                start = time.perf_counter()
                jax.block_until_ready(fn())
                times[k].append(time.perf_counter() - start)
    return tuple(statistics.median(t) if t else float("nan") for t in times)


def som_learner(grid, sigma, steps, hood):
    return C.som(grid, sigma=C.asymptotic_decay(sigma, steps),
                 learning_rate=C.asymptotic_decay(0.5, steps), neighborhood=hood)  # fmt: skip


def minisom_run(x, side, sigma, hood, steps, seed):
    from minisom import MiniSom

    som = MiniSom(side, side, x.shape[1], sigma=sigma, learning_rate=0.5,
                  neighborhood_function=hood, random_seed=seed)  # fmt: skip
    som.pca_weights_init(x)
    som.train(x, steps, random_order=True)
    return som


def som_quality(x, y, side, sigma, hood_name, steps, seeds):
    grid = C.rectangular_grid(side, side)
    learner = som_learner(grid, sigma, steps, getattr(C, hood_name))
    w0 = C.pca_init(grid, x)
    train = jax.jit(lambda k: C.train_som(learner, w0, x, key=k))  # `steps`: from the schedules
    rows = []
    for seed in seeds:
        w = train(jax.random.key(seed)).weights
        ours = [
            float(C.quantization_error(w, x)),
            float(C.topographic_error(grid, w, x)),
        ]
        if y is not None:
            ours.append(float(C.label_purity(C.label_map(grid, w, x, y, num_classes=3))))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            som = minisom_run(np.asarray(x, np.float64), side, sigma, hood_name, steps, seed)
        xs = np.asarray(x, np.float64)
        theirs = [som.quantization_error(xs), som.topographic_error(xs)]
        if y is not None:
            wm = som.labels_map(xs, np.asarray(y))
            theirs.append(sum(max(c.values()) for c in wm.values()) / len(xs))
        rows.append({"seed": seed, "fnnet": ours, "minisom": theirs})
    return rows


def som_speed(x, rounds):
    from minisom import MiniSom

    grid, steps = C.rectangular_grid(30, 30), 5000
    learner = som_learner(grid, 4.0, steps, C.triangle)
    passes = C.som(grid, sigma=4.0, learning_rate=0.5, neighborhood=C.triangle)  # 10 passes
    w0 = C.pca_init(grid, x)
    online = jax.jit(lambda w, k: C.train_som(learner, w, x, key=k))
    batch = jax.jit(lambda w: C.train_som(passes, w, x, num_steps=10, batch=True))
    infer = jax.jit(C.winners)
    key = jax.random.key(0)
    for fn in (
        lambda: online(w0, key),
        lambda: batch(w0),
        lambda: infer(w0, x),
    ):
        jax.block_until_ready(fn())  # compile
    xs = np.asarray(x, np.float64)
    som = MiniSom(30, 30, 64, sigma=4.0, learning_rate=0.5, neighborhood_function="triangle",
                  random_seed=0)  # fmt: skip
    som.pca_weights_init(xs)
    peer_steps, peer_batch = 1000, 2
    ours, theirs = timed_pair(lambda: online(w0, key),
                              lambda: som.train(xs, peer_steps, random_order=True), rounds)  # fmt: skip
    out = {"online step": (ours / steps, theirs / peer_steps)}
    ours, theirs = timed_pair(lambda: batch(w0),
                              lambda: som.train_batch_offline(xs, peer_batch), max(2, rounds // 2))  # fmt: skip
    out["batch pass (1797 samples)"] = (ours / 10, theirs / peer_batch)
    out["winners of 1797 samples (MiniSom: vectorised quantization)"] = timed_pair(
        lambda: infer(w0, x), lambda: som.quantization(xs), rounds
    )
    out["winners of 1797 samples (MiniSom: winner() per sample)"] = timed_pair(
        lambda: infer(w0, x), lambda: [som.winner(v) for v in xs], max(2, rounds // 2)
    )
    return out


def iris_unit():
    x, y = load_iris(return_X_y=True)
    x = np.asarray(x, jnp.result_type(float))  # float32, or float64 with --float64
    return np.asarray(C.scale_to_unit(x, low=x.min(0), high=x.max(0))), y


def artlib_artmap(rho, alpha):
    from artlib import FuzzyART, SimpleARTMAP

    return SimpleARTMAP(FuzzyART(rho=rho, alpha=alpha, beta=1.0))


def artlib_fit(model, x_train, y_train):
    coded = np.hstack([x_train, 1 - x_train]).astype(np.float64)  # artlib's complement coding
    model.fit(coded, y_train)
    return model


def artmap_quality(x, y, rho, alpha, test_size, seeds, capacity, *, stratify=True):
    rows = []
    for seed in seeds:
        xtr, xte, ytr, yte = train_test_split(x, y, test_size=test_size, random_state=seed,
                                              stratify=y if stratify else None)  # fmt: skip
        learner = C.fuzzy_artmap(rho=rho, alpha=alpha, epsilon=1e-6, capacity=capacity)
        state, _ = C.train_art(learner, learner.init(x.shape[1]), xtr, jnp.asarray(ytr, jnp.int32))
        ours = float(np.mean(np.asarray(learner.predict(state, xte)) == yte))
        model = artlib_fit(artlib_artmap(rho, alpha), xtr, ytr)
        theirs = float(np.mean(model.predict(np.hstack([xte, 1 - xte]).astype(np.float64)) == yte))
        rows.append({"seed": seed, "fnnet": [ours, int(C.num_categories(state))],
                     "artlib": [theirs, int(model.module_a.n_clusters)]})  # fmt: skip
    return rows


def fuzzy_art_ari(x, y, rho, alpha):
    from artlib import FuzzyART

    learner = C.fuzzy_art(rho=rho, alpha=alpha, capacity=150)
    state, cats = C.train_art(learner, learner.init(x.shape[1]), x)
    model = FuzzyART(rho=rho, alpha=alpha, beta=1.0)
    model.fit(np.hstack([x, 1 - x]).astype(np.float64))
    return {
        "fnnet": [
            adjusted_rand_score(y, np.asarray(cats)),
            int(C.num_categories(state)),
        ],
        "artlib": [adjusted_rand_score(y, model.labels_), int(model.n_clusters)],
    }


def art_speed(x, y, rounds):
    xtr, _, ytr, _ = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
    ytr_j = jnp.asarray(ytr, jnp.int32)
    learner = C.fuzzy_artmap(rho=0.7, alpha=1e-3, epsilon=1e-6, capacity=512)
    fit = lambda: C.train_art(learner, learner.init(64), xtr, ytr_j)[0].weights
    jax.block_until_ready(fit())
    out = {
        "ARTMAP fit, digits train (1257 samples), ρ 0.7": timed_pair(
            fit, lambda: artlib_fit(artlib_artmap(0.7, 1e-3), xtr, ytr), max(2, rounds // 2)
        )
    }
    rho = jnp.linspace(0.0, 0.9, 19)
    make = lambda r: C.fuzzy_artmap(rho=r, alpha=1e-3, epsilon=1e-6, capacity=768)  # noqa: E731
    loop = lambda: [artlib_fit(artlib_artmap(float(r), 1e-3), xtr, ytr) for r in rho]  # noqa: E731
    for batch_size, how in [(None, "all 19 vmapped"), (1, "batch_size=1: lax.map")]:
        sweep = lambda b=batch_size: C.sweep_vigilance(make, rho, xtr, ytr_j, batch_size=b).weights  # noqa: E731
        jax.block_until_ready(sweep())
        out[f"19-vigilance ARTMAP sweep, one program ({how}) vs a loop of artlib fits"] = (
            timed_pair(sweep, loop, 2)
        )
    return out  # fmt: skip


def fmt_mean(values):
    return f"{np.mean(values):.4f} ({', '.join(f'{v:.4f}' for v in values)})"


def som_quality_section(xd, xi, yi, seeds, record) -> list[str]:
    lines = ["## SOM quality (QE / TE; iris also label purity)", "",
             "| recipe | seed | fnnet | MiniSom 2.3.6 |", "| --- | --- | --- | --- |"]  # fmt: skip
    iris_labels = jnp.asarray(yi, jnp.int32)
    quality = {
        "digits 30×30 σ4 triangle 5k": som_quality(xd, None, 30, 4.0, "triangle", 5000, seeds),
        "iris 7×7 σ1 gaussian 1k": som_quality(
            jnp.asarray(xi), iris_labels, 7, 1.0, "gaussian", 1000, seeds + [10]
        ),
    }
    for name, rows in quality.items():
        for row in rows:
            ours = " / ".join(f"{v:.4f}" for v in row["fnnet"])
            theirs = " / ".join(f"{v:.4f}" for v in row["minisom"])
            lines.append(f"| {name} | {row['seed']} | {ours} | {theirs} |")
        means = [
            " / ".join(f"{v:.4f}" for v in np.mean([r[who] for r in rows], 0))
            for who in ("fnnet", "minisom")
        ]
        lines.append(f"| {name} | **mean** | **{means[0]}** | **{means[1]}** |")
    record["som_quality"] = quality
    return lines


def art_quality_section(xi, yi, xg, yg, seeds, record) -> list[str]:
    lines = ["", "## ART quality (test accuracy, categories in brackets)", "",
             "| recipe | fnnet | artlib 0.1.12 |", "| --- | --- | --- |"]  # fmt: skip
    art = {}

    def row(name, rows):
        cells = [
            f"{fmt_mean([r[w][0] for r in rows])} "
            f"[{min(r[w][1] for r in rows)}–{max(r[w][1] for r in rows)}]"
            for w in ("fnnet", "artlib")
        ]
        art[name] = rows
        lines.append(f"| {name} | {cells[0]} | {cells[1]} |")

    settings = [(rho, alpha, True) for rho in (0.0, 0.75, 0.9) for alpha in (1e-3, 1e-6)]
    settings += [(0.0, 1e-6, False), (0.9, 1e-6, False)]
    for rho, alpha, stratify in settings:
        split = "strat." if stratify else "unstratified (artlib demo's split)"
        rows = artmap_quality(xi, yi, rho, alpha, 0.33, seeds, 128, stratify=stratify)
        row(f"iris 67/33 {split}, simplified ARTMAP ρ {rho} α {alpha:g}", rows)
    rows = artmap_quality(xg, yg, 0.7, 1e-3, 0.3, seeds, 512)
    row("digits 70/30 strat., simplified ARTMAP ρ 0.7 α 0.001", rows)
    ari = fuzzy_art_ari(xi, yi, 0.5, 1e-3)
    art["iris Fuzzy ART ρ 0.5 ARI"] = ari
    lines.append(
        f"| iris, unsupervised Fuzzy ART ρ 0.5 α 0.001: adjusted Rand index | "
        f"{ari['fnnet'][0]:.4f} [{ari['fnnet'][1]}] | {ari['artlib'][0]:.4f} [{ari['artlib'][1]}] |"
    )
    record["art_quality"] = art
    return lines


def speed_section(xd, xg, yg, rounds, record) -> list[str]:
    lines = ["", f"## Speed (CPU: {os.cpu_count()} cores; load {os.getloadavg()[0]:.1f})", "",
             "| task | fnnet | peer | peer / fnnet |", "| --- | --- | --- | --- |"]  # fmt: skip
    speed = {**{f"SOM {k}": v for k, v in som_speed(xd, rounds).items()},
             **art_speed(xg, yg, rounds)}  # fmt: skip
    for name, (ours, theirs) in speed.items():
        lines.append(f"| {name} | {ours * 1e3:.3f} ms | {theirs * 1e3:.3f} ms | "
                     f"{theirs / ours:.1f}× |")  # fmt: skip
    record["speed_seconds"] = speed
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two seeds, few timing rounds")
    parser.add_argument("--speed", action="store_true", help="only the speed table")
    parser.add_argument("--quality", action="store_true", help="only the quality tables")
    parser.add_argument("--float64", action="store_true", help="fnnet in float64 (x64)")
    parser.add_argument("--out", default=os.path.join("benchmarks", "results"))
    args = parser.parse_args(argv)
    if args.float64:
        jax.config.update("jax_enable_x64", True)
    seeds = [0, 1] if args.quick else [0, 1, 2, 3, 4]
    rounds = 3 if args.quick else 7
    record = {"load_average": os.getloadavg(), "jax": jax.__version__}
    digits_x, digits_y = load_digits(return_X_y=True)
    real = jnp.result_type(float)  # float32, or float64 with --float64
    xd = jnp.asarray(scale(digits_x), real)
    xg = np.asarray(C.scale_to_unit(jnp.asarray(digits_x, real), low=0.0, high=16.0))
    xi, yi = iris_unit()
    lines = []
    if not args.speed:
        lines += som_quality_section(xd, xi, yi, seeds, record)
        lines += art_quality_section(xi, yi, xg, digits_y, seeds, record)
    if not args.quality:
        lines += speed_section(xd, xg, digits_y, rounds, record)
    text = "\n".join(lines)
    print(text)
    os.makedirs(args.out, exist_ok=True)
    name = "competitive" + ("_speed" if args.speed else "_quality" if args.quality else "")
    name += "_float64" if args.float64 else ""
    with open(os.path.join(args.out, f"{name}.md"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(args.out, f"{name}.json"), "w") as f:
        json.dump(record, f, indent=1, default=float)


if __name__ == "__main__":
    main()
