"""The main job: train an MLP on real bundled data, print progress and test accuracy, plot curves.

``python -m fnnet.demo`` (or the ``fnnet-demo`` console script) trains on scikit-learn's 8×8
digits with a stratified 70/30 split; ``--dataset mnist1d`` uses the MNIST-1D benchmark with the
benchmark authors' MLP recipe (Adam, learning rate 1e-2, batch 100, 6000 steps). It writes
``curves.png`` (loss and accuracy per epoch) and ``metrics.json`` to ``--out``.

Flags are checked before anything runs: a bad value exits with status 2 and one line naming the
flag. A run that stops at a non-finite loss or gradient says so in its last line and exits with
status 1; ``metrics.json`` records the optimizer steps actually taken.

The command line is the one place where names stand for functions; the library itself takes
functions (``activation=fnnet.activations.relu``), never strings.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import jax
import numpy as np

import fnnet
from fnnet import (
    _checks,
    activations,
    data,
    initializers,
    losses,
    optimizers,
    regularizers,
    schedules,
)

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
# Per data set. The MNIST-1D authors' MLP: 100 ReLUs, then a residual block of 100 ReLUs
# (h + relu(W h + b)), Adam 1e-2, batch 100, 6000 steps = 150 epochs of 4000 samples,
# cross-entropy, no regularisation.
_PRESET_FIELDS = (
    "hidden", "epochs", "batch_size", "lr", "dropout", "input_dropout", "cosine", "l2", "residual",
)  # fmt: skip
PRESETS = {
    name: dict(zip(_PRESET_FIELDS, row, strict=True))
    for name, row in {
        "digits":  ((512,),     100, 32,  1e-3, 0.5, 0.2, True,  0.0, False),
        "mnist1d": ((100, 100), 150, 100, 1e-2, 0.0, 0.0, False, 0.0, True),
        "moons":   ((32, 32),   100, 32,  1e-2, 0.0, 0.0, False, 0.0, False),
        "spirals": ((64, 64),   300, 32,  1e-2, 0.0, 0.0, False, 0.0, False),
    }.items()
}  # fmt: skip


def load(name: str, key: jax.Array) -> tuple[tuple[Any, Any], tuple[Any, Any], int]:
    """``(train, test, num_classes)`` for a data set name; digits split stratified 70/30."""
    if name == "mnist1d":
        split = data.mnist1d()
        return (split.train.x, split.train.y), (split.test.x, split.test.y), 10
    if name == "digits":
        d = data.digits()
    elif name == "moons":
        d = data.two_moons(key, 1000, noise=0.2)
    else:
        d = data.two_spirals(key, 1000)
    train, test = data.train_test_split(jax.random.fold_in(key, 1), d.x, d.y, test_fraction=0.3)
    return train, test, d.num_classes


def build(
    num_classes: int,
    hidden: Sequence[int],
    activation,
    dropout: float,
    input_dropout: float,
    *,
    residual: bool = False,
) -> fnnet.Layer:
    """An MLP as ``serial`` of dense layers (He init for the ReLU family), with dropout.

    With ``residual=True`` every hidden layer after the first of equal width is wrapped in a
    skip connection ``h + f(W h + b)`` (the MNIST-1D authors' MLP).
    """
    w_init = (
        initializers.glorot_normal()
        if activation in (activations.sigmoid, activations.tanh)
        else initializers.he_normal()
    )
    layers = [fnnet.Dropout(input_dropout)] if input_dropout > 0 else []
    for i, width in enumerate(hidden):
        dense = fnnet.Dense(width, activation, w_init=w_init)
        layers.append(
            fnnet.Residual(dense) if residual and i > 0 and hidden[i - 1] == width else dense
        )
        if dropout > 0:
            layers.append(fnnet.Dropout(dropout))
    layers.append(fnnet.Dense(num_classes))  # logits; the loss applies the softmax
    return fnnet.serial(*layers)


PROG = "python -m fnnet.demo"


def _usage_error(message: str) -> NoReturn:
    """One line on stderr, exit status 2 (argparse's convention for a bad command line)."""
    print(f"{PROG}: error: {message} (see --help)", file=sys.stderr)
    raise SystemExit(2)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line instead of the usage block
        _usage_error(message)


def _checked(convert: Callable[[str], Any], check: Callable[..., Any], **bounds: Any):
    """An argparse ``type``: convert the text, then validate it with a ``fnnet._checks`` check."""

    def parse_value(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {convert.__name__}; got {text!r}") from None
        try:
            check("value", value, **bounds)
        except (TypeError, ValueError) as err:
            raise argparse.ArgumentTypeError(str(err).removeprefix("`value` ")) from None
        return value

    return parse_value


def _output_folder(text: str) -> str:
    """An argparse ``type``: a folder that exists and is writable, or can be created."""
    probe = os.path.abspath(text)
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        raise argparse.ArgumentTypeError(f"{probe} is a file, not a folder; got {text!r}")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"cannot write to {probe}; got {text!r}")
    return text


_positive_int = _checked(int, _checks.check_int, low=1)
_rate = _checked(float, _checks.check_real, low=0.0, high=1.0, high_open=True)


def _per_data_set(name: str) -> str:
    return ", ".join(f"{data_set} {preset[name]}" for data_set, preset in sorted(PRESETS.items()))


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse and validate the command line; preset values fill the flags not given."""
    p = _Parser(
        prog=PROG,
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    preset = argparse.SUPPRESS  # not given: filled from the data set's preset (listed in the help)
    p.add_argument("--dataset", choices=sorted(PRESETS), default="digits", help="data set")
    p.add_argument(
        "--hidden",
        type=_positive_int,
        nargs="+",
        default=preset,
        help=f"hidden layer sizes (default: {_per_data_set('hidden')})",
    )
    p.add_argument(
        "--activation", choices=sorted(ACTIVATIONS), default="relu", help="hidden activation"
    )
    p.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="adam", help="optimizer")
    p.add_argument(
        "--lr",
        type=_checked(float, _checks.check_real, low=0.0, low_open=True),
        default=preset,
        help=f"learning rate > 0 (default: {_per_data_set('lr')})",
    )
    p.add_argument(
        "--epochs",
        type=_positive_int,
        default=preset,
        help=f"passes over the training set (default: {_per_data_set('epochs')})",
    )
    p.add_argument(
        "--batch-size",
        type=_positive_int,
        default=preset,
        help=f"samples per step (default: {_per_data_set('batch_size')})",
    )
    p.add_argument(
        "--dropout",
        type=_rate,
        default=preset,
        help=f"hidden-layer dropout rate in [0, 1), the fraction zeroed (default: "
        f"{_per_data_set('dropout')})",
    )
    p.add_argument(
        "--input-dropout",
        type=_rate,
        default=preset,
        help=f"input dropout rate in [0, 1) (default: {_per_data_set('input_dropout')})",
    )
    p.add_argument(
        "--l2",
        type=_checked(float, _checks.check_real, low=0.0),
        default=preset,
        help=f"L2 penalty >= 0 on weights, never biases (default: {_per_data_set('l2')})",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the split, init and batches")
    p.add_argument(
        "--out",
        type=_output_folder,
        default="out",
        help="folder for curves.png and metrics.json (created if missing)",
    )
    p.add_argument("--quiet", action="store_true", help="no per-epoch progress lines")
    args = p.parse_args(argv)
    preset_values = PRESETS[args.dataset]
    for name in ("hidden", "lr", "epochs", "batch_size", "dropout", "input_dropout", "l2"):
        if not hasattr(args, name):
            setattr(args, name, preset_values[name])
    args.cosine = preset_values["cosine"]
    args.residual = preset_values["residual"]
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
    if args.batch_size > train[0].shape[0]:
        _usage_error(
            f"argument --batch-size: must be at most the {train[0].shape[0]} training samples "
            f"of {args.dataset}; got {args.batch_size}"
        )
    if args.dataset == "digits":  # pixels: standardise with training statistics only
        (x_train, x_test), _ = data.standardize(train[0], test[0])
        train, test = (x_train, train[1]), (x_test, test[1])
    net = build(
        num_classes,
        args.hidden,
        ACTIVATIONS[args.activation],
        args.dropout,
        args.input_dropout,
        residual=args.residual,
    )
    params = net.init(init_key, train[0].shape[-1])
    steps = args.epochs * (train[0].shape[0] // args.batch_size)
    lr = schedules.cosine_decay(args.lr, decay_steps=steps) if args.cosine else args.lr
    penalty = (lambda p: regularizers.l2_penalty(p, args.l2)) if args.l2 > 0 else None
    log = (lambda _: None) if args.quiet else print
    print(
        f"fnnet demo: {args.dataset} ({train[0].shape[0]} train / {test[0].shape[0]} test), "
        f"hidden {tuple(args.hidden)} {args.activation}, {args.optimizer} lr {args.lr}, "
        f"batch {args.batch_size}, {args.epochs} epochs ({steps} steps), dropout {args.dropout}, "
        f"input dropout {args.input_dropout}"
    )
    tic = time.perf_counter()
    result = fnnet.fit(
        net.apply,
        params,
        losses.softmax_cross_entropy,
        OPTIMIZERS[args.optimizer](lr),
        train,
        key=fit_key,
        epochs=args.epochs,
        batch_size=args.batch_size,
        validation=test,
        penalty=penalty,
        log=log,
        verbose=not args.quiet,
    )
    seconds = time.perf_counter() - tic
    test_loss, test_accuracy = jax.jit(
        fnnet.training.make_eval_step(net.apply, losses.softmax_cross_entropy)
    )(result.params, *test)
    os.makedirs(args.out, exist_ok=True)
    metrics = {
        "dataset": args.dataset,
        "test_accuracy": _json_number(test_accuracy),
        "test_loss": _json_number(test_loss),
        "epochs": len(result.history["loss"]),
        "steps": int(result.steps_taken),  # updates applied; a non-finite stop ends them
        "steps_planned": steps,
        "compile_seconds": round(float(result.compile_seconds), 2),
        "train_seconds": round(float(result.train_seconds), 2),
        "seconds": round(seconds, 2),
        "seed": args.seed,
        "nonfinite": None if result.nonfinite is None else result.nonfinite._asdict(),
    }
    metrics_path = os.path.join(args.out, "metrics.json")
    with open(metrics_path, "w") as f:
        json.dump(metrics, f, indent=2, allow_nan=False)
    figure = os.path.join(args.out, "curves.png")
    drew = plot(
        result.history,
        figure,
        f"fnnet demo: {args.dataset}, test accuracy {float(test_accuracy):.4f}",
    )
    print(
        f"final test accuracy: {float(test_accuracy):.4f}  "
        f"(test loss {float(test_loss):.4f}; {seconds:.1f}s, "
        f"{float(result.compile_seconds):.1f}s of it compiling)"
    )
    print(
        f"wrote {figure}"
        if drew
        else 'matplotlib is not installed (pip install "fnnet[examples]"): no figure'
    )
    print(f"wrote {metrics_path}")
    if result.nonfinite is not None:
        print(
            f"stopped at step {result.nonfinite.step} (epoch {result.nonfinite.epoch + 1}) of "
            f"{steps}: {result.nonfinite.cause}; the figures above are from the last finite "
            f"parameters"
        )
    return metrics


def _json_number(value: Any) -> float | None:
    """A float for ``metrics.json``; ``null`` for NaN and inf, which strict JSON cannot hold."""
    value = float(value)
    return value if np.isfinite(value) else None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; exit status 0, 1 after a non-finite stop, 2 for a bad command line."""
    metrics = run(parse(argv))
    return 0 if metrics["nonfinite"] is None else 1


if __name__ == "__main__":
    sys.exit(main())
