"""RBF networks: two-stage training, then gradient fine-tuning, on digits and iris.

Protocol (as the classic two-stage reference in MODELS.md §5): standardise with training
statistics; k-means centres (3 restarts); Haykin's width σ = d_max/√(2k); least-squares output
weights (ridge 1e-3) on one-hot targets; stratified 70/30 splits, seeds 0-4. Then fine-tuning:
``fnnet.fit`` of centres, log-widths and output weights together (the Gaussian layer's hand rule
and the dense rule), softmax cross-entropy on the two-stage network's outputs, Adam 3e-3,
30 epochs, batch 32.

Writes ``out/rbf_centres.png`` (digits centres in pixel space, before and after fine-tuning).

Run: ``python examples/rbf_digits.py``
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

import fnnet
from fnnet import classic, losses, optimizers


def accuracy(net, params, x, y) -> float:
    return float(jnp.mean(jnp.argmax(net.apply(params, x), -1) == y))


def one_split(x, y, num_classes, k, seed, *, epochs=30):
    (xtr, ytr), (xte, yte) = fnnet.data.train_test_split(jax.random.key(seed), x, y)
    (xtr, xte), stats = fnnet.data.standardize(xtr, xte)
    net = fnnet.serial(classic.RBF(k), fnnet.Dense(num_classes))
    params = classic.rbf_two_stage(
        xtr, jax.nn.one_hot(ytr, num_classes), k, key=jax.random.key(seed)
    )
    tuned = fnnet.fit(
        net.apply, params, losses.softmax_cross_entropy, optimizers.adam(3e-3), (xtr, ytr),
        key=jax.random.key(seed), epochs=epochs, batch_size=32, verbose=False,
    ).params  # fmt: skip
    return accuracy(net, params, xte, yte), accuracy(net, tuned, xte, yte), params, tuned, stats


def table(name, x, y, num_classes, ks) -> None:
    for k in ks:
        two_stage, tuned = [], []
        for seed in range(5):
            a, b, *_ = one_split(x, y, num_classes, k, seed)
            two_stage.append(a)
            tuned.append(b)
        print(
            f"{name:6s} k={k:3d}: two-stage {np.mean(two_stage):.4f} "
            f"({np.round(two_stage, 3).tolist()}), fine-tuned {np.mean(tuned):.4f} "
            f"({np.round(tuned, 3).tolist()})",
            flush=True,
        )


def plot_centres(params, tuned, stats, path: str = "out/rbf_centres.png") -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig, axes = plt.subplots(4, 10, figsize=(7, 3.2))
    for row, p in enumerate((params, params, tuned, tuned)):
        for col in range(10):
            j = (row % 2) * 10 + col
            pixels = np.asarray(p[0].centres[j] * stats.std + stats.mean).reshape(8, 8)
            axes[row, col].imshow(pixels, cmap="gray_r", interpolation="nearest")
            axes[row, col].set_xticks(())
            axes[row, col].set_yticks(())
    axes[0, 0].set_ylabel("k-means", fontsize=7)
    axes[2, 0].set_ylabel("tuned", fontsize=7)
    fig.suptitle("RBF centres (first 20 of 100), pixel space", fontsize=9)
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


def main() -> None:
    digits = fnnet.data.digits()
    table("digits", digits.x, digits.y, 10, (100, 200))
    from sklearn.datasets import load_iris

    xi, yi = load_iris(return_X_y=True)
    table("iris", jnp.asarray(xi, jnp.float32), jnp.asarray(yi, jnp.int32), 3, (30,))
    _, _, params, tuned, stats = one_split(digits.x, digits.y, 10, 100, 0)
    plot_centres(params, tuned, stats)


if __name__ == "__main__":
    main()
