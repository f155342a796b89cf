"""Classic models against scikit-learn in one run: RBM training and the perceptron.

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
over fnnet's (above 1: fnnet is faster). Not a test: nothing is asserted.

Run: ``python benchmarks/classic.py [--epochs 10] [--reps 3]``
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

from rbm_digits import nudged_digits  # noqa: E402  (the gallery's data, written once)

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
        return boltzmann.rbm_fit(jax.random.key(0), xtr, 100, optimizer=opt, epochs=epochs,
                                 batch_size=10, persistent=True)  # fmt: skip

    tic = time.perf_counter()
    fit = ours()
    first = time.perf_counter() - tic
    sk_s = median_seconds(sk, reps) / epochs
    # rbm_fit times its compiled run (compilation excluded) and reports it per epoch
    ours_s = statistics.median(ours().history["seconds_per_epoch"] for _ in range(reps))
    sk_pl = float(np.mean(sk().score_samples(x_np)))
    pl = 64 * float(boltzmann.pseudo_log_likelihood(fit.params, xtr))
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
        fit = classic.perceptron_fit(jax.random.key(0), x, targets, epochs=epochs)
        fit.params.w.block_until_ready()
        return fit

    sk_s, ours_s = median_seconds(sk, reps) / epochs, median_seconds(ours, reps) / epochs
    fit = ours()
    return {"sklearn s/epoch": sk_s, "fnnet s/epoch": ours_s, "ratio": sk_s / ours_s,
            "sklearn train accuracy": sk().score(x_np, y_np),
            "fnnet train accuracy": float(jnp.mean(classic.perceptron_predict(fit.params, x) == y))}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}; jax {jax.__version__}; {jax.devices()[0]}")
    for name, fn in (("RBM (PCD-1, 100 hidden)", rbm), ("perceptron (OvR, digits)", perceptron)):
        row = fn(args.epochs, args.reps)
        print(f"{name}, {args.epochs} epochs:")
        for key, value in row.items():
            print(f"  {key:36s} {value:.4g}")


if __name__ == "__main__":
    main()
