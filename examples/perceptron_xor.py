"""The perceptron: converges on a separable problem, never on XOR; digits against scikit-learn.

1. Iris setosa vs rest (linearly separable): the training rows misclassified after each epoch
   fall to 0 and stay there (Novikoff's theorem).
2. XOR (not separable): some row is misclassified after every epoch, forever; the weights cycle.
3. Digits, one-vs-rest, raw pixels 0..16 as scikit-learn's ``Perceptron`` docstring: fit and
   scored on all 1,797 samples, seed 0, plain and averaged perceptron (both libraries over ten
   seeds and the same splits: ``benchmarks/classic.py``).

Writes ``out/perceptron_xor.png`` (errors after each epoch) when matplotlib is installed.

Run: ``python examples/perceptron_xor.py``
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

from fnnet import classic


def accuracy(params, x, y) -> float:
    return float(jnp.mean(classic.perceptron_predict(params, x) == y))


def iris_and_xor(epochs: int = 30):
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True)
    x = jnp.asarray(x, jnp.float32)
    t = jnp.where(jnp.asarray(y)[:, None] == 0, 1.0, -1.0)
    iris = classic.perceptron_fit(x, t, key=jax.random.key(0), epochs=epochs)
    iris_acc = accuracy(iris.params, x, (y == 0).astype(int))  # class 1: the +1 side
    iris_errors = iris.history["errors"]
    print(f"iris setosa vs rest: errors after each epoch {iris_errors.tolist()[:10]} ...")
    print(f"  training accuracy {iris_acc:.3f} (separable: converged)")
    xor_x = jnp.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    xor_t = jnp.array([[-1.0], [1.0], [1.0], [-1.0]])
    xor = classic.perceptron_fit(xor_x, xor_t, key=jax.random.key(0), epochs=epochs)
    xor_errors = xor.history["errors"]
    print(
        f"XOR: errors after each epoch {xor_errors.tolist()[:10]} ... min {int(xor_errors.min())}"
    )
    print(f"  accuracy {accuracy(xor.params, xor_x, np.array([0, 1, 1, 0])):.2f} (never converges)")
    return iris_errors, xor_errors


def digits(epochs: int = 22):
    """Seed 0, fit and scored on all 1,797 rows. ``benchmarks/classic.py`` compares fnnet with
    scikit-learn over ten seeds and the same stratified 70/30 splits."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x, y = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.int32)
    fit = classic.perceptron_fit(
        x, classic.signed_targets(y, 10), key=jax.random.key(0), epochs=epochs
    )
    plain, averaged = accuracy(fit.params, x, y), accuracy(fit.averaged, x, y)
    print(
        f"digits, fit and scored on all 1,797, seed 0: {plain:.4f} (averaged {averaged:.4f}); "
        f"both libraries over ten seeds: python benchmarks/classic.py --parts perceptron"
    )
    return plain, averaged


def plot(iris_errors, xor_errors, path: str = "out/perceptron_xor.png") -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(np.asarray(iris_errors), label="iris setosa vs rest (separable)")
    ax.plot(np.asarray(xor_errors), label="XOR (not separable)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training rows misclassified after the epoch")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


def main() -> None:
    iris_errors, xor_errors = iris_and_xor()
    digits()
    plot(iris_errors, xor_errors)


if __name__ == "__main__":
    main()
