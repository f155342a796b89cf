"""The main job: train a network on real bundled data, print progress and test accuracy, plot curves.

``python -m fnnet.demo`` (or the ``fnnet-demo`` console script) trains an MLP on scikit-learn's
8×8 digits with a stratified 70/30 split; ``--dataset mnist1d`` uses the MNIST-1D benchmark with
the benchmark authors' MLP recipe (Adam, learning rate 1e-2, batch 100, 6000 steps). ``--model``
picks the network: ``cnn`` (digits as 8×8×1 images, MNIST-1D as 40×1 series: fnnet's CNN
recipes, docs/conv.md) or, for MNIST-1D, ``gru``, ``lstm`` or ``elman`` (the authors' bidirectional
recipe, docs/recurrent.md). Each (data set, model) pair has a preset, listed by ``--help``; the
flags given override it. It writes ``curves.png`` (loss and accuracy per epoch) and
``metrics.json`` to ``--out``.

Flags are checked before anything runs: a bad value or a pair with no preset exits with status
2 and one line naming the flag. A run that stops at a non-finite loss or gradient says so in its
last line and exits with status 1; ``metrics.json`` records the optimizer steps actually taken.

The command line is the one place where names stand for functions; the library itself takes
functions (``activation=fnnet.activations.relu``), never strings.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
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
    layers,
    losses,
    optimizers,
    recurrent,
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
OPTIMIZERS = {  # name -> (learning rate, decoupled weight decay) -> Optimizer
    "sgd": lambda lr, _: optimizers.sgd(lr),
    "momentum": lambda lr, _: optimizers.sgd(lr, momentum=0.9),
    "nesterov": lambda lr, _: optimizers.sgd(lr, momentum=0.9, nesterov=True),
    "adagrad": lambda lr, _: optimizers.adagrad(lr),
    "rmsprop": lambda lr, _: optimizers.rmsprop(lr),
    "adam": lambda lr, _: optimizers.adam(lr),
    "adamw": lambda lr, decay: optimizers.adamw(lr, weight_decay=decay),
}
CELLS = {"gru": recurrent.GRU, "lstm": recurrent.LSTM, "elman": recurrent.Elman}
MODELS = ("mlp", "cnn", *CELLS)
# Per (data set, model). ``hidden``: the MLP's layer sizes, the CNN's width, the recurrent
# hidden units per direction. The MNIST-1D authors' MLP: 100 ReLUs, then a residual block of
# 100 ReLUs (h + relu(W h + b)), Adam 1e-2, batch 100, 6000 steps = 150 epochs of 4000
# samples. Their bidirectional GRU (LSTM, Elman): the same optimizer and steps. (The authors
# take the batches in order; ``fit`` shuffles them every epoch; examples/rnn_mnist1d.py follows
# the authors exactly.) The CNN recipes were chosen on validation splits carved from the
# training sets (docs/conv.md).
_PRESET_FIELDS = (
    "hidden", "epochs", "batch_size", "lr", "dropout", "input_dropout", "cosine", "l2", "residual",
    "optimizer", "weight_decay", "activation",
)  # fmt: skip
_RNN = ((6,), 150, 100, 1e-2, 0.0, 0.0, False, 0.0, False, "adam", 0.0)
PRESETS = {
    pair: dict(zip(_PRESET_FIELDS, row, strict=True))
    for pair, row in {
        ("digits", "mlp"):  ((512,),     100, 32,  1e-3, 0.5, 0.2, True,  0.0, False, "adam",  0.0,  "relu"),
        ("digits", "cnn"):  ((32,),      60,  32,  3e-3, 0.3, 0.0, True,  0.0, False, "adamw", 5e-2, "relu"),
        ("mnist1d", "mlp"): ((100, 100), 150, 100, 1e-2, 0.0, 0.0, False, 0.0, True,  "adam",  0.0,  "relu"),
        ("mnist1d", "cnn"): ((64,),      60,  50,  2e-2, 0.0, 0.0, True,  0.0, False, "adamw", 5e-2, "relu"),
        ("mnist1d", "gru"): (*_RNN, None),
        ("mnist1d", "lstm"): (*_RNN, None),
        ("mnist1d", "elman"): (*_RNN, "tanh"),
        ("moons", "mlp"):   ((32, 32),   100, 32,  1e-2, 0.0, 0.0, False, 0.0, False, "adam",  0.0,  "relu"),
        ("spirals", "mlp"): ((64, 64),   300, 32,  1e-2, 0.0, 0.0, False, 0.0, False, "adam",  0.0,  "relu"),
    }.items()
}  # fmt: skip
DATASETS = sorted({name for name, _ in PRESETS})


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


def prepare(name: str, model: str, x: Any, train_x: Any) -> Any:
    """The model's input: digits pixels standardised with training statistics for the MLP, kept
    in [0, 1] as 8×8×1 images for the CNN; MNIST-1D as (40, 1) series for CNNs and RNNs."""
    if model == "mlp":
        return data.standardize(train_x, x)[0][1] if name == "digits" else x
    return x.reshape(-1, 8, 8, 1) if name == "digits" else x[..., None]


def build(
    num_classes: int,
    hidden: Sequence[int],
    activation,
    dropout: float,
    input_dropout: float,
    *,
    residual: bool = False,
    model: str = "mlp",
    example_shape: Sequence[int] = (),
) -> fnnet.layers.Layer:
    """The network ``model`` for inputs of one example's shape ``example_shape``, with dropout.

    ``mlp``: dense layers of sizes ``hidden`` (He init for the ReLU family); with
    ``residual=True`` every hidden layer after the first of equal width is wrapped in a skip
    connection ``h + f(W h + b)`` (the MNIST-1D authors' MLP). ``cnn`` (``width = hidden[0]``):
    for a series, three SAME convolutions of ``max(width/2, 1)``, ``width``, ``width`` maps
    (kernels 5, 3, 3), each followed by max-pooling 2; for an image, two 3×3 SAME convolutions
    of ``width`` maps, max-pooling 2×2, a 3×3 SAME convolution of ``2·width`` maps, max-pooling
    2×2 (docs/conv.md's recipes). ``gru``/``lstm``/``elman``: a bidirectional layer of
    ``hidden[0]`` units per direction whose outputs at every step are flattened, PyTorch's
    default initialisation throughout (the MNIST-1D authors' ``GRUBase``). CNNs and RNNs end in
    flatten, dropout (when ``dropout > 0``) and dense logits.
    """
    body = [fnnet.Dropout(input_dropout)] if input_dropout > 0 else []
    head = fnnet.Dense(num_classes)  # logits; the loss applies the softmax
    if model == "mlp":
        w_init = (
            initializers.glorot_normal()
            if activation in (activations.sigmoid, activations.tanh)
            else initializers.he_normal()
        )
        for i, width in enumerate(hidden):
            dense = fnnet.Dense(width, activation, w_init=w_init)
            body.append(
                fnnet.layers.Residual(dense)
                if residual and i > 0 and hidden[i - 1] == width
                else dense
            )
            if dropout > 0:
                body.append(fnnet.Dropout(dropout))
        return fnnet.serial(*body, head)
    width = hidden[0]
    if model == "cnn":
        pool = layers.MaxPool

        def conv(features: int, kernel: int | tuple[int, int]) -> fnnet.layers.Layer:
            return layers.Conv(features, kernel, padding="SAME", activation=activation)

        if len(example_shape) == 2:  # (length, channels)
            half = max(width // 2, 1)
            body += [conv(half, 5), pool(2), conv(width, 3), pool(2), conv(width, 3), pool(2)]
        else:  # (height, width, channels)
            k = (3, 3)
            body += [conv(width, k), conv(width, k), pool((2, 2)), conv(2 * width, k), pool((2, 2))]
        body.append(layers.Flatten())
    else:
        cell = CELLS[model](width, **({"activation": activation} if model == "elman" else {}))
        body += [recurrent.Bidirectional(cell), layers.Flatten(2)]
        torch_linear = layers.fan_in_uniform(example_shape[0] * 2 * width)
        head = fnnet.Dense(num_classes, w_init=torch_linear, b_init=torch_linear)
    return fnnet.serial(*body, *([fnnet.Dropout(dropout)] if dropout > 0 else []), head)


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


def _describe(preset: dict) -> str:
    """One preset as the flags it fills, ``--hidden 512, --activation relu, ...``; a no-break
    space (U+00A0) keeps each flag with its values when the help wraps the line."""
    flags = [
        f"--{name.replace('_', '-')}\xa0"
        + ("\xa0".join(map(str, value)) if isinstance(value, tuple) else str(value))
        for name, value in ((name, preset[name]) for name in _PRESET_FLAGS)
        if value not in (None, 0.0)  # 0.0: no weight decay, dropout or penalty
    ]
    notes = [note for note in ("cosine", "residual") if preset[note]]
    return ", ".join(flags) + (f" ({', '.join(notes)})" if notes else "")


_nonnegative = _checked(float, _checks.check_real, low=0.0)
_PRESET_FLAGS = {  # name: (argparse keywords, help); none has a default: the preset fills it
    "hidden": (
        {"type": _positive_int, "nargs": "+"},
        "mlp: hidden layer sizes; cnn: one width (maps of the widest layers); gru, lstm, elman: "
        "one number of hidden units per direction",
    ),
    "activation": ({"choices": sorted(ACTIVATIONS)}, "hidden activation (mlp, cnn, elman)"),
    "optimizer": ({"choices": sorted(OPTIMIZERS)}, "optimizer"),
    "lr": (
        {"type": _checked(float, _checks.check_real, low=0.0, low_open=True)},
        "learning rate > 0",
    ),
    "weight_decay": (
        {"type": _nonnegative},
        "decoupled weight decay >= 0 of --optimizer adamw, on weights, never biases",
    ),
    "epochs": ({"type": _positive_int}, "passes over the training set"),
    "batch_size": ({"type": _positive_int}, "samples per step"),
    "dropout": (
        {"type": _rate},
        "dropout rate in [0, 1), the fraction zeroed, after each mlp hidden layer or before the "
        "cnn's and rnn's output layer",
    ),
    "input_dropout": ({"type": _rate}, "input dropout rate in [0, 1)"),
    "l2": ({"type": _nonnegative}, "L2 penalty >= 0 on weights, never biases"),
}


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse and validate the command line; preset values fill the flags not given."""
    epilog = (
        "presets, by --dataset/--model: the values of the flags not given (rates and penalties\n"
        "not listed are 0; cosine: the learning rate decays to 0 along a cosine; residual: skip\n"
        "connections around the equal-width hidden layers):\n"
    )
    epilog += "\n".join(
        textwrap.fill(
            _describe(p),
            92,
            initial_indent=f"  {d}/{m}: ",
            subsequent_indent=" " * 6,
            break_on_hyphens=False,
            break_long_words=False,
        ).replace("\xa0", " ")  # fmt: skip
        for (d, m), p in sorted(PRESETS.items())
    )
    p = _Parser(
        prog=PROG, description=__doc__.split("\n\n")[0], epilog=epilog, formatter_class=_Formatter
    )
    preset = argparse.SUPPRESS  # not given: filled from the preset (listed in the epilog)
    p.add_argument("--dataset", choices=DATASETS, default="digits", help="data set")
    p.add_argument(
        "--model",
        choices=MODELS,
        default="mlp",
        help="network: mlp; cnn (digits, mnist1d); gru, lstm, elman (mnist1d, bidirectional)",
    )
    for name, (kind, text) in _PRESET_FLAGS.items():
        p.add_argument(
            f"--{name.replace('_', '-')}",
            default=preset,
            help=f"{text} (default: the preset)",
            **kind,
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
    if (args.dataset, args.model) not in PRESETS:
        models = ", ".join(m for d, m in PRESETS if d == args.dataset)
        p.error(f"argument --model: {args.model} is not available for --dataset {args.dataset} "
                f"(it takes {models})")  # fmt: skip
    preset_values = PRESETS[args.dataset, args.model]
    given = set(vars(args))
    for name in _PRESET_FLAGS:
        if name not in given:
            setattr(args, name, preset_values[name])
    if args.model != "mlp" and len(args.hidden) != 1:
        p.error(f"argument --hidden: --model {args.model} takes one value; got {len(args.hidden)}")
    if preset_values["activation"] is None and "activation" in given:
        p.error(f"argument --activation: --model {args.model} has fixed gate activations; "
                f"got {args.activation}")  # fmt: skip
    if args.optimizer != "adamw":
        if "weight_decay" in given and args.weight_decay > 0:
            p.error(f"argument --weight-decay: only --optimizer adamw decays weights; "
                    f"got --optimizer {args.optimizer}")  # fmt: skip
        args.weight_decay = 0.0
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


def _network(args: argparse.Namespace) -> str:
    """The network in words, for the first line of output."""
    if args.model == "mlp":
        return f"hidden {tuple(args.hidden)} {args.activation}"
    if args.model == "cnn":
        return f"cnn width {args.hidden[0]} {args.activation}"
    elman = f" {args.activation}" if args.model == "elman" else ""
    return f"bidirectional {args.model}{elman}, {args.hidden[0]} units per direction"


def run(args: argparse.Namespace) -> dict:
    key = jax.random.key(args.seed)
    data_key, init_key, fit_key = jax.random.split(key, 3)
    train, test, num_classes = load(args.dataset, data_key)
    if args.batch_size > train[0].shape[0]:
        _usage_error(
            f"argument --batch-size: must be at most the {train[0].shape[0]} training samples "
            f"of {args.dataset}; got {args.batch_size}"
        )
    x_train, x_test = (prepare(args.dataset, args.model, x, train[0]) for x in (train[0], test[0]))
    train, test = (x_train, train[1]), (x_test, test[1])
    activation = ACTIVATIONS[args.activation] if args.activation is not None else None
    net = build(
        num_classes,
        args.hidden,
        activation,
        args.dropout,
        args.input_dropout,
        residual=args.residual,
        model=args.model,
        example_shape=x_train.shape[1:],
    )
    # The MLP's layers take the feature count; Flatten needs the batch axis to tell it apart.
    params = net.init(init_key, x_train.shape[-1] if args.model == "mlp" else x_train.shape)
    parameters = sum(leaf.size for leaf in jax.tree_util.tree_leaves(params))
    steps = args.epochs * (x_train.shape[0] // args.batch_size)
    lr = schedules.cosine_decay(args.lr, decay_steps=steps) if args.cosine else args.lr
    penalty = (lambda p: regularizers.l2_penalty(p, args.l2)) if args.l2 > 0 else None
    log = (lambda _: None) if args.quiet else print
    decay = f", weight decay {args.weight_decay}" if args.optimizer == "adamw" else ""
    print(
        f"fnnet demo: {args.dataset} ({x_train.shape[0]} train / {x_test.shape[0]} test), "
        f"{_network(args)} ({parameters:,} parameters), {args.optimizer} lr {args.lr}"
        f"{' cosine' if args.cosine else ''}{decay}, batch {args.batch_size}, {args.epochs} "
        f"epochs ({steps} steps), dropout {args.dropout}, input dropout {args.input_dropout}"
    )
    tic = time.perf_counter()
    result = fnnet.fit(
        net.apply,
        params,
        losses.softmax_cross_entropy,
        OPTIMIZERS[args.optimizer](lr, args.weight_decay),
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
        "model": args.model,
        "parameters": int(parameters),
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
        f"fnnet demo: {args.dataset} {args.model}, test accuracy {float(test_accuracy):.4f}",
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
