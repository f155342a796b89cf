"""A small 2-d CNN on scikit-learn's 8×8 digits, on the demo's five stratified splits.

The splits are the ones ``python -m fnnet.demo --seed S`` uses (seed ``S``: key
``jax.random.key(S)`` split into data, init and fit keys; a stratified 70/30 split from
``fold_in(data_key, 1)``), so the accuracies compare with the demo's MLP on the same test sets.
Pixels stay in [0, 1] as 8×8×1 images. The network: two 3×3 SAME convolutions (32 maps),
max-pooling 2, a 3×3 SAME convolution (64 maps), max-pooling 2, flatten 256, dropout, Dense 10;
AdamW with cosine decay, shuffled minibatches of 32. The recipe was chosen on a validation
split carved from the first training set (``--validation``), never on a test set.

Run: ``nice python examples/cnn_digits.py [--seeds 0 1 2 3 4] [--validation]``.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
from cnn_mnist1d import fit_recipe  # the same AdamW + cosine training loop (this folder)

import fnnet
from fnnet import activations, data
from fnnet.layers import Conv, Flatten, MaxPool

RECIPE = {
    "width": 32,
    "dropout": 0.3,
    "epochs": 60,
    "batch_size": 32,
    "lr": 3e-3,
    "weight_decay": 5e-2,
}


def digits_cnn(width: int = 32, dropout: float = 0.3) -> fnnet.layers.Layer:
    """8×8×1 → 8×8×w → 8×8×w → 4×4×w → 4×4×2w → 2×2×2w → 256·(w/32) → 10 logits."""
    relu = activations.relu
    layers = [
        Conv(width, (3, 3), padding="SAME", activation=relu),
        Conv(width, (3, 3), padding="SAME", activation=relu),
        MaxPool((2, 2)),
        Conv(2 * width, (3, 3), padding="SAME", activation=relu),
        MaxPool((2, 2)),
        Flatten(),
    ]
    if dropout > 0:
        layers.append(fnnet.Dropout(dropout))
    return fnnet.serial(*layers, fnnet.Dense(10))


def split(seed: int) -> tuple[tuple, tuple, jax.Array, jax.Array]:
    """The demo's split for ``--seed seed``: ``(train, test, init_key, fit_key)``, images 8×8×1."""
    data_key, init_key, fit_key = jax.random.split(jax.random.key(seed), 3)
    d = data.digits()
    train, test = data.train_test_split(
        jax.random.fold_in(data_key, 1), d.x, d.y, test_fraction=0.3
    )
    train, test = (train[0].reshape(-1, 8, 8, 1), train[1]), (test[0].reshape(-1, 8, 8, 1), test[1])
    return train, test, init_key, fit_key


def run(seed: int, *, validation: bool, recipe: dict = RECIPE) -> tuple[float, float]:
    """Train on the demo's split ``seed``; returns (test or validation accuracy, seconds)."""
    train, test, init_key, fit_key = split(seed)
    if validation:  # the last 20% of the (already shuffled) training set
        cut = int(0.8 * train[0].shape[0])
        train, test = (train[0][:cut], train[1][:cut]), (train[0][cut:], train[1][cut:])
    net = digits_cnn(recipe["width"], recipe["dropout"])
    params, seconds = fit_recipe(net, train, recipe, init_key, fit_key)
    logits = jax.jit(net.apply)(params, test[0])
    return float(jnp.mean(jnp.argmax(logits, axis=-1) == test[1])), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--validation", action="store_true")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    recipe = dict(RECIPE)
    for item in args.set:
        key, value = item.split("=")
        recipe[key] = type(RECIPE[key])(value)
    accs = []
    for seed in args.seeds:
        acc, seconds = run(seed, validation=args.validation, recipe=recipe)
        accs.append(acc)
        print(f"seed {seed}: accuracy {100 * acc:.2f}%  ({seconds:.1f} s of training)", flush=True)
    what = "validation" if args.validation else "test"
    print(
        f"digits CNN {recipe}: mean {what} accuracy {100 * np.mean(accs):.2f}% ("
        + ", ".join(f"{100 * a:.2f}" for a in accs)
        + f") over seeds {args.seeds}"
    )


if __name__ == "__main__":
    main()
