"""Convolutional networks on MNIST-1D with fnnet's hand-written conv/pool rules.

Two recipes, each over seeds (initialisation and, for ``fnnet``, minibatch order):

* ``--recipe authors`` (default): the MNIST-1D authors' ``ConvBase`` exactly as in their
  notebooks: Conv1d 1→25 (k 5, s 2, p 1) → ReLU → 25→25 (k 3, s 2, p 1) → ReLU → 25→25 (k 3,
  s 2, p 1) → ReLU → flatten 125 → Dense 10 (5,210 parameters), PyTorch's default init
  ``U(±1/√fan_in)`` for weights and biases, Adam 1e-2, batch 100 taken in order (step ``i``
  uses rows ``100·(i mod 40)`` onwards), 6,000 steps, test accuracy at the last step.
  ``--shuffle-positions`` applies one fixed random permutation to the 40 positions of every
  series (train and test): the authors' control, where the conv prior no longer helps.
* ``--recipe fnnet``: fnnet's own recipe: three SAME convolutions with max-pooling, shuffled
  minibatches, AdamW with cosine decay. Its hyperparameters were chosen on a validation split
  carved from the training set (``--validation``), never the test set.

Run: ``nice python examples/cnn_mnist1d.py [--recipe authors|fnnet] [--seeds 0 1 2 3 4]
[--shuffle-positions] [--validation]``.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import fnnet
from fnnet import activations, losses, optimizers, schedules
from fnnet.initializers import fan_in_uniform
from fnnet.layers import Conv, Flatten, MaxPool

relu = activations.relu


def authors_cnn() -> fnnet.layers.Layer:
    """``ConvBase`` with PyTorch's default initialisation (weights and biases U(±1/√fan_in))."""

    def conv(features: int, kernel: int, in_channels: int) -> fnnet.layers.Layer:
        bias = fan_in_uniform(in_channels * kernel)
        return Conv(features, kernel, strides=2, padding=1, activation=relu, b_init=bias)

    return fnnet.serial(
        conv(25, 5, 1),
        conv(25, 3, 25),
        conv(25, 3, 25),
        Flatten(),
        fnnet.Dense(10, w_init=fan_in_uniform(), b_init=fan_in_uniform(125)),
    )


def fnnet_cnn(width: int = 64) -> fnnet.layers.Layer:
    """Three SAME convolutions, each followed by max-pooling 2: 40 → 20 → 10 → 5 positions."""
    return fnnet.serial(
        Conv(width // 2, 5, padding="SAME", activation=relu),
        MaxPool(2),
        Conv(width, 3, padding="SAME", activation=relu),
        MaxPool(2),
        Conv(width, 3, padding="SAME", activation=relu),
        MaxPool(2),
        Flatten(),
        fnnet.Dense(10),
    )


FNNET_RECIPE = {"width": 64, "epochs": 60, "batch_size": 50, "lr": 2e-2, "weight_decay": 5e-2}


def load(shuffle_positions: bool) -> tuple[tuple, tuple]:
    """MNIST-1D's standard 4,000 / 1,000 split as ``(n, 40, 1)`` channels-last series."""
    split = fnnet.data.mnist1d()
    train, test = (split.train.x, split.train.y), (split.test.x, split.test.y)
    if shuffle_positions:  # the authors' control: one permutation of the positions for all
        order = np.random.default_rng(0).permutation(train[0].shape[1])
        train, test = (train[0][:, order], train[1]), (test[0][:, order], test[1])
    return (train[0][..., None], train[1]), (test[0][..., None], test[1])


def accuracy(net: fnnet.layers.Layer, params, data: tuple) -> float:
    logits = jax.jit(net.apply)(params, data[0])
    return float(jnp.mean(jnp.argmax(logits, axis=-1) == data[1]))


def run_authors(seed: int, train: tuple, test: tuple, steps: int = 6000, batch: int = 100):
    """6,000 Adam steps on in-order batches, as one compiled ``lax.scan``; test accuracy at the end."""
    net = authors_cnn()
    step = fnnet.make_train_step(net.apply, losses.softmax_cross_entropy, optimizers.adam(1e-2))
    xb = train[0].reshape(-1, batch, *train[0].shape[1:])
    yb = train[1].reshape(-1, batch)

    @jax.jit
    def train_all(state):
        def body(state, i):
            j = i % xb.shape[0]
            return step(state, (xb[j], yb[j]), jax.random.key(0))[0], None

        return lax.scan(body, state, jnp.arange(steps))[0]

    state = step.init(net.init(jax.random.key(seed), train[0].shape))
    compiled = train_all.lower(state).compile()
    tic = time.perf_counter()
    state = jax.block_until_ready(compiled(state))
    return accuracy(net, state.params, test), time.perf_counter() - tic


def fit_recipe(net: fnnet.layers.Layer, train: tuple, recipe: dict, init_key, fit_key) -> tuple:
    """AdamW with cosine decay over ``recipe["epochs"]`` epochs of shuffled minibatches with
    ``fnnet.fit``; returns ``(params, seconds)``. Shared with ``cnn_digits.py``."""
    steps = recipe["epochs"] * (train[0].shape[0] // recipe["batch_size"])
    lr = schedules.cosine_decay(recipe["lr"], decay_steps=steps)
    optimizer = optimizers.adamw(lr, weight_decay=recipe["weight_decay"])
    params = net.init(init_key, train[0].shape)
    tic = time.perf_counter()
    result = fnnet.fit(
        net.apply, params, losses.softmax_cross_entropy, optimizer, train, key=fit_key,
        epochs=recipe["epochs"], batch_size=recipe["batch_size"], verbose=False,
    )  # fmt: skip
    return result.params, time.perf_counter() - tic


def run_fnnet(seed: int, train: tuple, test: tuple, recipe: dict = FNNET_RECIPE):
    """fnnet's recipe; returns (accuracy on ``test``, seconds)."""
    net = fnnet_cnn(recipe["width"])
    params, seconds = fit_recipe(net, train, recipe, *jax.random.split(jax.random.key(seed)))
    return accuracy(net, params, test), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", choices=("authors", "fnnet"), default="authors")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--shuffle-positions", action="store_true")
    parser.add_argument(
        "--validation", action="store_true",
        help="train on the first 3,500 training series, report accuracy on the last 500",
    )  # fmt: skip
    parser.add_argument(
        "--set", nargs="*", default=[], metavar="KEY=VALUE",
        help=f"override fnnet recipe entries (defaults {FNNET_RECIPE})",
    )  # fmt: skip
    args = parser.parse_args()
    recipe = dict(FNNET_RECIPE)
    for item in args.set:
        key, value = item.split("=")
        recipe[key] = type(FNNET_RECIPE[key])(value)
    train, test = load(args.shuffle_positions)
    if args.validation:
        train, test = (train[0][:3500], train[1][:3500]), (train[0][3500:], train[1][3500:])
    accs = []
    for seed in args.seeds:
        if args.recipe == "authors":
            acc, seconds = run_authors(seed, train, test)
        else:
            acc, seconds = run_fnnet(seed, train, test, recipe)
        accs.append(acc)
        print(f"seed {seed}: accuracy {100 * acc:.1f}%  ({seconds:.1f} s of training)", flush=True)
    what = "validation" if args.validation else "test"
    shuffled = ", positions shuffled" if args.shuffle_positions else ""
    print(
        f"{args.recipe} recipe{shuffled} {recipe if args.recipe == 'fnnet' else ''}: mean {what} accuracy {100 * np.mean(accs):.2f}% "
        f"(" + ", ".join(f"{100 * a:.1f}" for a in accs) + f") over seeds {args.seeds}"
    )


if __name__ == "__main__":
    main()
