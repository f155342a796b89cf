"""The perceptron: converges on a separable problem, never on XOR; digits against scikit-learn.

1. Iris setosa vs rest (linearly separable): the online perceptron's mistakes per epoch fall to
   0 and stay there (Novikoff's theorem).
2. XOR (not separable): every epoch has mistakes, forever; the weights cycle.
3. Digits, one-vs-rest, raw pixels 0..16 as scikit-learn's ``Perceptron`` docstring: fit and
   scored on all 1,797 samples (scikit-learn: 0.939), and stratified 70/30 over seeds 0-4
   (scikit-learn: mean 0.937), plain and averaged perceptron.

Writes ``out/perceptron_xor.png`` (mistakes per epoch) when matplotlib is installed.

Run: ``python examples/perceptron_xor.py``
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

import fnnet
from fnnet import classic


def accuracy(params, x, y) -> float:
    return float(jnp.mean(classic.perceptron_predict(params, x) == y))


def iris_and_xor(epochs: int = 30):
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True)
    x = jnp.asarray(x, jnp.float32)
    t = jnp.where(jnp.asarray(y)[:, None] == 0, 1.0, -1.0)
    iris = classic.perceptron_fit(jax.random.key(0), x, t, epochs=epochs)
    iris_acc = accuracy(iris.params, x, np.where(y == 0, 1, -1))
    print(f"iris setosa vs rest: mistakes per epoch {iris.mistakes.tolist()[:10]} ...")
    print(f"  training accuracy {iris_acc:.3f} (separable: converged)")
    xor_x = jnp.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    xor_t = jnp.array([[-1.0], [1.0], [1.0], [-1.0]])
    xor = classic.perceptron_fit(jax.random.key(0), xor_x, xor_t, epochs=epochs)
    print(f"XOR: mistakes per epoch {xor.mistakes.tolist()[:10]} ... min {int(xor.mistakes.min())}")
    print(
        f"  accuracy {accuracy(xor.params, xor_x, np.array([-1, 1, 1, -1])):.2f} (never converges)"
    )
    return iris.mistakes, xor.mistakes


def digits(epochs: int = 22):
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x, y = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.int32)
    fit = classic.perceptron_fit(jax.random.key(0), x, classic.signed_targets(y, 10), epochs=epochs)
    print(
        f"digits, fit and scored on all 1,797: {accuracy(fit.params, x, y):.4f} "
        f"(averaged {accuracy(fit.averaged, x, y):.4f}); scikit-learn Perceptron 0.939"
    )
    plain, avg = [], []
    for seed in range(5):
        (xtr, ytr), (xte, yte) = fnnet.data.train_test_split(jax.random.key(seed), x, y)
        fit = classic.perceptron_fit(
            jax.random.key(seed), xtr, classic.signed_targets(ytr, 10), epochs=epochs
        )
        plain.append(accuracy(fit.params, xte, yte))
        avg.append(accuracy(fit.averaged, xte, yte))
    print(
        f"digits, stratified 70/30, seeds 0-4: {np.round(plain, 3).tolist()} mean "
        f"{np.mean(plain):.4f}; averaged {np.round(avg, 3).tolist()} mean {np.mean(avg):.4f}; "
        f"scikit-learn 0.937"
    )
    return np.mean(plain), np.mean(avg)


def plot(iris_mistakes, xor_mistakes, path: str = "out/perceptron_xor.png") -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(np.asarray(iris_mistakes), label="iris setosa vs rest (separable)")
    ax.plot(np.asarray(xor_mistakes), label="XOR (not separable)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("mistakes in the epoch")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


def main() -> None:
    iris_mistakes, xor_mistakes = iris_and_xor()
    digits()
    plot(iris_mistakes, xor_mistakes)


if __name__ == "__main__":
    main()
