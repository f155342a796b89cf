"""Classic models against scikit-learn in one run: speed, and accuracy over the same seeds.

* **RBM**: scikit-learn's "RBM features for digit classification" recipe (nudged digits, 7,188
  training rows, ``minmax_scale``; 100 hidden units, learning rate 0.06, batch 10, PCD-1).
  ``BernoulliRBM(n_iter=E)`` against ``fnnet.boltzmann.rbm_fit(persistent=True)`` with
  ``sgd(0.06)``: seconds per epoch (fnnet's compiled run as ``rbm_fit`` times it, compilation
  excluded; the first call with compilation is reported apart) and the final pseudo-likelihood
  in scikit-learn's scale (exact for fnnet, scikit-learn's one-flip estimate for it).
* **Perceptron**: digits (1,797 raw pixels, 10 classes one-vs-rest), ``Perceptron(max_iter=E,
  tol=None, random_state=0)`` against ``fnnet.classic.perceptron_fit(epochs=E)``: seconds per
  epoch and training accuracy.

Each timing is the median of ``--reps`` runs after a warm-up; the ratio is scikit-learn's time
over fnnet's (above 1: fnnet is faster).

**Accuracy, both libraries over the same seeds and splits** (``--seeds``, default 10: seeds 0-9):

* **Perceptron**, digits, raw pixels, one-vs-rest: scikit-learn's docstring setting
  ``Perceptron(tol=1e-3, random_state=s)`` against ``perceptron_fit(key=jax.random.key(s),
  epochs=22)``; (a) fit and scored on all 1,797 rows, (b) scikit-learn's
  ``train_test_split(stratify=y, test_size=0.3, random_state=s)``, the same split for both.
* **RBM + logistic regression**, scikit-learn's gallery recipe (its data and split, PCD-1, 100
  hidden, ``sgd(0.06)``, batch 10, 20 epochs, rows in order): scikit-learn's whole pipeline
  (``BernoulliRBM(random_state=s)`` + ``LogisticRegression(newton-cg, C=6000, tol=1e-4)``)
  against fnnet's RBM (``rbm_fit(key=jax.random.key(s), shuffle=False)``) with the same
  scikit-learn regression on its features, and with fnnet's own regression (``Dense(10)``,
  softmax cross-entropy, full-batch Adam 0.05, 2,000 epochs, as ``examples/rbm_digits.py``).

Not a test: nothing is asserted.

Run: ``python benchmarks/classic.py [--epochs 10] [--reps 3] [--seeds 10] [--parts speed,perceptron,rbm]``
(the RBM accuracy part takes about 3 minutes a seed on 2 shared cores).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))

from rbm_digits import nudged_digits, sklearn_regression, softmax_regression  # noqa: E402

from fnnet import boltzmann, classic, optimizers  # noqa: E402


def median_seconds(fn, reps: int) -> float:
    fn()  # warm-up (compilation for fnnet)
    times = []
    for _ in range(reps):
        tic = time.perf_counter()
        fn()
        times.append(time.perf_counter() - tic)
    return statistics.median(times)


def rbm(epochs: int, reps: int) -> dict:
    from sklearn.neural_network import BernoulliRBM

    xtr, _, _, _ = nudged_digits()
    x_np = np.asarray(xtr)

    def sk():
        return BernoulliRBM(n_components=100, learning_rate=0.06, batch_size=10, n_iter=epochs,
                            random_state=0).fit(x_np)  # fmt: skip

    opt = optimizers.sgd(0.06)  # one optimizer object: rbm_fit compiles once for it

    def ours():
        return boltzmann.rbm_fit(xtr, 100, key=jax.random.key(0), optimizer=opt, epochs=epochs,
                                 batch_size=10, persistent=True)  # fmt: skip

    tic = time.perf_counter()
    fit = ours()
    first = time.perf_counter() - tic
    sk_s = median_seconds(sk, reps) / epochs
    # rbm_fit times its compiled run (compilation excluded) and reports it per epoch
    ours_s = statistics.median(ours().history["seconds_per_epoch"] for _ in range(reps))
    sk_pl = float(np.mean(sk().score_samples(x_np)))
    pl = float(boltzmann.pseudo_log_likelihood(fit.params, xtr).per_example)
    return {"sklearn s/epoch": sk_s, "fnnet s/epoch": ours_s, "ratio": sk_s / ours_s,
            "fnnet first call s (compile + run)": first, "sklearn PL": sk_pl,
            "fnnet PL (exact)": pl}  # fmt: skip


def perceptron(epochs: int, reps: int) -> dict:
    from sklearn.datasets import load_digits
    from sklearn.linear_model import Perceptron

    x_np, y_np = load_digits(return_X_y=True)
    x, y = jnp.asarray(x_np, jnp.float32), jnp.asarray(y_np, jnp.int32)
    targets = classic.signed_targets(y, 10)

    def sk():
        return Perceptron(max_iter=epochs, tol=None, random_state=0).fit(x_np, y_np)

    def ours():
        fit = classic.perceptron_fit(x, targets, key=jax.random.key(0), epochs=epochs)
        fit.params.w.block_until_ready()
        return fit

    sk_s, ours_s = median_seconds(sk, reps) / epochs, median_seconds(ours, reps) / epochs
    fit = ours()
    return {"sklearn s/epoch": sk_s, "fnnet s/epoch": ours_s, "ratio": sk_s / ours_s,
            "sklearn train accuracy": sk().score(x_np, y_np),
            "fnnet train accuracy": float(jnp.mean(classic.perceptron_predict(fit.params, x) == y))}  # fmt: skip


def _summary(values: list[float]) -> str:
    return f"mean {np.mean(values):.4f} (min {np.min(values):.4f}, max {np.max(values):.4f})"


def perceptron_accuracy(seeds: int, epochs: int = 22) -> dict:
    """Both libraries on the same seeds: all 1,797 rows, and the same stratified 70/30 splits."""
    from sklearn.datasets import load_digits
    from sklearn.linear_model import Perceptron
    from sklearn.model_selection import train_test_split

    x_np, y_np = load_digits(return_X_y=True)
    names = ("sk all", "fn all", "fn all avg", "sk 70/30", "fn 70/30", "fn 70/30 avg")
    rows: dict[str, list[float]] = {k: [] for k in names}

    def fnnet_scores(xtr, ytr, xte, yte, seed):  # the plain and the averaged perceptron
        x, y = jnp.asarray(xtr, jnp.float32), jnp.asarray(ytr, jnp.int32)
        fit = classic.perceptron_fit(
            x, classic.signed_targets(y, 10), key=jax.random.key(seed), epochs=epochs
        )
        xte = jnp.asarray(xte, jnp.float32)
        return [
            float(np.mean(np.asarray(classic.perceptron_predict(p, xte)) == yte))
            for p in (fit.params, fit.averaged)
        ]

    for seed in range(seeds):
        sk = Perceptron(tol=1e-3, random_state=seed)
        rows["sk all"].append(sk.fit(x_np, y_np).score(x_np, y_np))
        plain, averaged = fnnet_scores(x_np, y_np, x_np, y_np, seed)
        rows["fn all"].append(plain)
        rows["fn all avg"].append(averaged)
        xtr, xte, ytr, yte = train_test_split(
            x_np, y_np, test_size=0.3, stratify=y_np, random_state=seed
        )
        sk = Perceptron(tol=1e-3, random_state=seed)
        rows["sk 70/30"].append(sk.fit(xtr, ytr).score(xte, yte))
        plain, averaged = fnnet_scores(xtr, ytr, xte, yte, seed)
        rows["fn 70/30"].append(plain)
        rows["fn 70/30 avg"].append(averaged)
    return rows


def rbm_accuracy(seeds: int) -> dict:
    """scikit-learn's RBM + Newton-CG pipeline against fnnet's RBM with the same regression and
    with fnnet's own, on the gallery's data and split, RBM seeds 0..seeds-1."""
    from sklearn.neural_network import BernoulliRBM

    xtr, xte, ytr, yte = nudged_digits()
    opt = optimizers.sgd(0.06)
    rows: dict[str, list[float]] = {k: [] for k in ("sklearn pipeline", "fnnet RBM + sklearn LR",
                                                    "fnnet RBM + fnnet LR")}  # fmt: skip
    for seed in range(seeds):
        sk = BernoulliRBM(n_components=100, learning_rate=0.06, batch_size=10, n_iter=20,
                          random_state=seed).fit(np.asarray(xtr))  # fmt: skip
        rows["sklearn pipeline"].append(
            sklearn_regression(
                sk.transform(np.asarray(xtr)), sk.transform(np.asarray(xte)), ytr, yte
            )
        )
        fit = boltzmann.rbm_fit(xtr, 100, key=jax.random.key(seed), optimizer=opt, epochs=20,
                                batch_size=10, persistent=True, shuffle=False)  # fmt: skip
        ftr, fte = boltzmann.transform(fit.params, xtr), boltzmann.transform(fit.params, xte)
        rows["fnnet RBM + sklearn LR"].append(sklearn_regression(ftr, fte, ytr, yte))
        rows["fnnet RBM + fnnet LR"].append(
            softmax_regression(jax.random.key(seed), ftr, ytr, fte, yte)
        )
        print(
            f"  seed {seed}: " + ", ".join(f"{k} {v[-1]:.4f}" for k, v in rows.items()), flush=True
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--parts", default="speed,perceptron,rbm", help="comma-separated")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    print(f"load average {os.getloadavg()[0]:.2f}; jax {jax.__version__}; {jax.devices()[0]}")
    if "speed" in parts:
        for name, fn in (
            ("RBM (PCD-1, 100 hidden)", rbm),
            ("perceptron (OvR, digits)", perceptron),
        ):
            row = fn(args.epochs, args.reps)
            print(f"{name}, {args.epochs} epochs:")
            for key, value in row.items():
                print(f"  {key:36s} {value:.4g}")
    if "perceptron" in parts:
        print(f"perceptron accuracy, digits, seeds 0-{args.seeds - 1}:")
        for name, values in perceptron_accuracy(args.seeds).items():
            print(f"  {name:12s} {_summary(values)}  {np.round(values, 4).tolist()}")
    if "rbm" in parts:
        print(f"RBM + logistic regression, test accuracy, seeds 0-{args.seeds - 1}:")
        for name, values in rbm_accuracy(args.seeds).items():
            print(f"  {name:24s} {_summary(values)}  {np.round(values, 4).tolist()}")


if __name__ == "__main__":
    main()
