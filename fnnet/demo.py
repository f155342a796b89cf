"""The main job: train an MLP on real bundled data, print progress and test accuracy, plot curves.

``python -m fnnet.demo`` (or the ``fnnet-demo`` console script) trains on scikit-learn's 8×8
digits with a stratified 70/30 split; ``--dataset mnist1d`` uses the MNIST-1D benchmark with the
benchmark authors' MLP recipe (Adam, learning rate 1e-2, batch 100, 6000 steps). It writes
``curves.png`` (loss and accuracy per epoch) and ``metrics.json`` to ``--out``.

The command line is the one place where names stand for functions; the library itself takes
functions (``activation=fnnet.activations.relu``), never strings.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

import fnnet
from fnnet import activations, data, datasets, initializers, losses, optimizers, regularizers, schedules
from fnnet.dropout import Dropout
from fnnet.fitting import fit

ACTIVATIONS = {
    "relu": activations.relu,
    "tanh": activations.tanh,
    "sigmoid": activations.sigmoid,
    "elu": activations.elu,
    "silu": activations.silu,
    "gelu": activations.gelu,
    "softplus": activations.softplus,
    "leaky_relu": activations.leaky_relu,
}
OPTIMIZERS = {
    "sgd": optimizers.sgd,
    "momentum": lambda lr: optimizers.sgd(lr, momentum=0.9),
    "nesterov": lambda lr: optimizers.sgd(lr, momentum=0.9, nesterov=True),
    "adagrad": optimizers.adagrad,
    "rmsprop": optimizers.rmsprop,
    "adam": optimizers.adam,
}
# Per data set: hidden sizes, epochs, batch size, learning rate, dropout, cosine decay, L2.
PRESETS = {
    "digits": dict(hidden=(512,), epochs=100, batch_size=32, lr=1e-3, dropout=0.5, input_dropout=0.2, cosine=True, l2=0.0),
    # The MNIST-1D authors' MLP: 100 ReLUs, then a residual block of 100 ReLUs (h + relu(W h + b)),
    # Adam 1e-2, batch 100, 6000 steps = 150 epochs of 4000 samples, cross-entropy, no regularisation.
    "mnist1d": dict(hidden=(100, 100), epochs=150, batch_size=100, lr=1e-2, dropout=0.0, input_dropout=0.0, cosine=False, l2=0.0, residual=True),
    "moons": dict(hidden=(32, 32), epochs=100, batch_size=32, lr=1e-2, dropout=0.0, input_dropout=0.0, cosine=False, l2=0.0),
    "spirals": dict(hidden=(64, 64), epochs=300, batch_size=32, lr=1e-2, dropout=0.0, input_dropout=0.0, cosine=False, l2=0.0),
}


def load(name: str, key: jax.Array) -> tuple[tuple[Any, Any], tuple[Any, Any], int]:
    """``(train, test, num_classes)`` for a data set name; digits split stratified 70/30."""
    if name == "mnist1d":
        split = datasets.mnist1d()
        return (split.train.x, split.train.y), (split.test.x, split.test.y), 10
    if name == "digits":
        d = datasets.digits()
    elif name == "moons":
        d = datasets.two_moons(key, 1000, noise=0.2)
    else:
        d = datasets.two_spirals(key, 1000)
    train, test = data.train_test_split(jax.random.fold_in(key, 1), d.x, d.y, test_fraction=0.3)
    return train, test, d.num_classes


def build(
    num_classes: int, hidden: Sequence[int], activation, dropout: float, input_dropout: float, *, residual: bool = False
) -> fnnet.Layer:
    """An MLP as ``serial`` of dense layers (He init for the ReLU family), with dropout.

    With ``residual=True`` every hidden layer after the first of equal width is wrapped in a
    skip connection ``h + f(W h + b)`` (the MNIST-1D authors' MLP).
    """
    w_init = initializers.glorot_normal() if activation in (activations.sigmoid, activations.tanh) else initializers.he_normal()
    layers = [Dropout(input_dropout)] if input_dropout > 0 else []
    for i, width in enumerate(hidden):
        dense = fnnet.Dense(width, activation, w_init=w_init)
        layers.append(fnnet.Residual(dense) if residual and i > 0 and hidden[i - 1] == width else dense)
        if dropout > 0:
            layers.append(Dropout(dropout))
    layers.append(fnnet.Dense(num_classes))  # logits; the loss applies the softmax
    return fnnet.serial(*layers)


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m fnnet.demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", choices=sorted(PRESETS), default="digits")
    p.add_argument("--hidden", type=int, nargs="+", help="hidden layer sizes (preset per data set)")
    p.add_argument("--activation", choices=sorted(ACTIVATIONS), default="relu")
    p.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="adam")
    p.add_argument("--lr", type=float, help="learning rate (preset per data set)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--dropout", type=float, help="hidden-layer dropout rate (fraction zeroed)")
    p.add_argument("--input-dropout", type=float, help="input dropout rate (fraction zeroed)")
    p.add_argument("--l2", type=float, help="L2 penalty on weights (never biases)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="out", help="folder for curves.png and metrics.json")
    p.add_argument("--quiet", action="store_true", help="no per-epoch progress lines")
    args = p.parse_args(argv)
    preset = PRESETS[args.dataset]
    for name in ("hidden", "lr", "epochs", "batch_size", "dropout", "input_dropout", "l2"):
        if getattr(args, name) is None:
            setattr(args, name, preset[name])
    args.cosine = preset["cosine"]
    args.residual = preset.get("residual", False)
    return args


def plot(history: dict, path: str, title: str) -> bool:
    """Write the loss and accuracy curves; returns False when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    epochs = np.arange(1, len(history["loss"]) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, history["loss"], label="train")
    ax_loss.plot(epochs, history["val_loss"], label="test")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", yscale="log", title="loss")
    ax_acc.plot(epochs, history["accuracy"], label="train")
    ax_acc.plot(epochs, history["val_accuracy"], label="test")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.legend()
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def run(args: argparse.Namespace) -> dict:
    key = jax.random.key(args.seed)
    data_key, init_key, fit_key = jax.random.split(key, 3)
    train, test, num_classes = load(args.dataset, data_key)
    if args.dataset == "digits":  # pixels: standardise with training statistics only
        (x_train, x_test), _ = data.standardize(train[0], test[0])
        train, test = (x_train, train[1]), (x_test, test[1])
    net = build(num_classes, args.hidden, ACTIVATIONS[args.activation], args.dropout, args.input_dropout, residual=args.residual)
    params = net.init(init_key, train[0].shape[-1])
    steps = args.epochs * (train[0].shape[0] // args.batch_size)
    lr = schedules.cosine_decay(args.lr, decay_steps=steps) if args.cosine else args.lr
    penalty = (lambda p: regularizers.l2_penalty(p, args.l2)) if args.l2 > 0 else None
    log = (lambda _: None) if args.quiet else print
    print(
        f"fnnet demo: {args.dataset} ({train[0].shape[0]} train / {test[0].shape[0]} test), "
        f"hidden {tuple(args.hidden)} {args.activation}, {args.optimizer} lr {args.lr}, "
        f"batch {args.batch_size}, {args.epochs} epochs ({steps} steps), dropout {args.dropout}"
    )
    tic = time.perf_counter()
    result = fit(
        net.apply, params, losses.softmax_cross_entropy, OPTIMIZERS[args.optimizer](lr), train,
        key=fit_key, epochs=args.epochs, batch_size=args.batch_size, validation=test,
        penalty=penalty, log=log, verbose=not args.quiet,
    )
    seconds = time.perf_counter() - tic
    test_loss, test_accuracy = jax.jit(fnnet.train.make_eval_step(net.apply, losses.softmax_cross_entropy))(result.params, *test)
    os.makedirs(args.out, exist_ok=True)
    metrics = {
        "dataset": args.dataset,
        "test_accuracy": float(test_accuracy),
        "test_loss": float(test_loss),
        "epochs": int(len(result.history["loss"])),
        "steps": int(result.state.step),
        "seconds": round(seconds, 2),
        "seed": args.seed,
        "nonfinite": None if result.nonfinite is None else result.nonfinite._asdict(),
    }
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
    figure = os.path.join(args.out, "curves.png")
    drew = plot(result.history, figure, f"fnnet demo: {args.dataset}, test accuracy {float(test_accuracy):.4f}")
    print(f"final test accuracy: {float(test_accuracy):.4f}  (test loss {float(test_loss):.4f}, {seconds:.1f}s)")
    print(f"wrote {figure}" if drew else 'matplotlib is not installed (pip install "fnnet[examples]"): no figure')
    return metrics


def main(argv: Sequence[str] | None = None) -> None:
    run(parse(argv))


if __name__ == "__main__":
    main()
