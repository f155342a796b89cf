"""Maxout vs ReLU at equal parameter count, both with dropout: digits and MNIST-1D, five seeds.

Goodfellow et al. (2013) pair maxout with dropout. Arm A: ``Maxout(units, pieces)`` twice, each
followed by ``Dropout``, then a linear output. Arm B: two ``Dense(h, relu)`` layers with the
same dropout, ``h`` chosen so that the parameter counts match (the closest integer; both counts
are printed). Same optimizer (Adam), epochs, batch size and seeds for both arms; the test
accuracy is reported as mean ± standard deviation over the seeds.

Run: ``python examples/maxout_ab.py [--seeds 5] [--epochs-digits 60] [--epochs-mnist1d 60]``
"""

from __future__ import annotations

import argparse
import math

import jax
import jax.numpy as jnp
import numpy as np

import fnnet
from fnnet import activations, losses, optimizers
from fnnet.layers import Maxout


def count(params) -> int:
    return sum(int(a.size) for a in jax.tree_util.tree_leaves(params))


def matched_relu_width(n_in: int, n_out: int, units: int, pieces: int) -> int:
    """``h`` with ``(n_in + 1)h + (h + 1)h + (h + 1)n_out`` closest to the maxout net's count."""
    target = (n_in + 1) * units * pieces + (units + 1) * units * pieces + (units + 1) * n_out
    # h² + (n_in + 2 + n_out) h + n_out − target = 0
    b = n_in + 2 + n_out
    h = (-b + math.sqrt(b * b - 4 * (n_out - target))) / 2
    return min((math.floor(h), math.ceil(h)), key=lambda w: abs(w * w + b * w + n_out - target))


def arms(n_in: int, n_out: int, units: int, pieces: int, dropout: float):
    maxout = fnnet.serial(
        Maxout(units, pieces), fnnet.Dropout(dropout),
        Maxout(units, pieces), fnnet.Dropout(dropout), fnnet.Dense(n_out),
    )  # fmt: skip
    h = matched_relu_width(n_in, n_out, units, pieces)
    relu = fnnet.serial(
        fnnet.Dense(h, activations.relu), fnnet.Dropout(dropout),
        fnnet.Dense(h, activations.relu), fnnet.Dropout(dropout), fnnet.Dense(n_out),
    )  # fmt: skip
    return {"maxout": maxout, f"relu (h={h})": relu}


def run(name, train, test, *, units, pieces, dropout, epochs, batch_size, lr, seeds):
    n_in = train[0].shape[1]
    results = {}
    for arm, net in arms(n_in, 10, units, pieces, dropout).items():
        accs = []
        for seed in range(seeds):
            params = net.init(jax.random.key(seed), n_in)
            fit = fnnet.fit(
                net.apply, params, losses.softmax_cross_entropy, optimizers.adam(lr), train,
                key=jax.random.key(100 + seed), epochs=epochs, batch_size=batch_size, verbose=False,
            )  # fmt: skip
            logits = net.apply(fit.params, test[0])
            accs.append(float(jnp.mean(jnp.argmax(logits, -1) == test[1])))
        results[arm] = accs
        print(
            f"{name:8s} {arm:14s} params {count(params):6d}: test accuracy "
            f"{100 * np.mean(accs):.2f} ± {100 * np.std(accs):.2f} % ({np.round(accs, 4).tolist()})",
            flush=True,
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs-digits", type=int, default=60)
    parser.add_argument("--epochs-mnist1d", type=int, default=60)
    args = parser.parse_args()
    digits = fnnet.data.digits()
    (xtr, ytr), (xte, yte) = fnnet.data.train_test_split(jax.random.key(0), digits.x, digits.y)
    run("digits", (xtr, ytr), (xte, yte), units=64, pieces=2, dropout=0.2,
        epochs=args.epochs_digits, batch_size=32, lr=1e-3, seeds=args.seeds)  # fmt: skip
    m = fnnet.data.mnist1d()
    run("mnist1d", (m.train.x, m.train.y), (m.test.x, m.test.y), units=100, pieces=2,
        dropout=0.1, epochs=args.epochs_mnist1d, batch_size=100, lr=1e-3, seeds=args.seeds)  # fmt: skip


if __name__ == "__main__":
    main()
