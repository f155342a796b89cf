"""The demo's command line: flags checked in argparse (exit status 2, one line naming the flag)."""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from fnnet import (
    _checks,
)
from fnnet.demo._models import (
    ACTIVATIONS,
    DATASETS,
    MODELS,
    OPTIMIZERS,
    PRESETS,
)

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


def default_cache_dir() -> str:
    """The demo's compilation cache folder: ``$JAX_COMPILATION_CACHE_DIR`` when set (JAX's own
    variable), else ``fnnet/jax`` under ``$XDG_CACHE_HOME`` (``~/.cache`` when unset)."""
    if os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return os.environ["JAX_COMPILATION_CACHE_DIR"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "fnnet", "jax")


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
        prog=PROG,
        description=str(__doc__).split("\n\n")[0],
        epilog=epilog,
        formatter_class=_Formatter,
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
    p.add_argument(
        "--cache-dir",
        type=_output_folder,
        default=preset,  # not given: default_cache_dir(), named in the help
        help="folder of JAX's persistent compilation cache: a second run with the same flags "
        "loads its programs instead of compiling them (created if missing; default: "
        "$JAX_COMPILATION_CACHE_DIR, else $XDG_CACHE_HOME/fnnet/jax, else ~/.cache/fnnet/jax)",
    )
    p.add_argument(
        "--no-cache", action="store_true", help="compile everything; read and write no cache"
    )
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
    if args.no_cache and "cache_dir" in given:
        p.error(f"argument --no-cache: not allowed with --cache-dir {args.cache_dir}")
    args.cache_dir = None if args.no_cache else vars(args).get("cache_dir", default_cache_dir())
    args.cosine = preset_values["cosine"]
    args.residual = preset_values["residual"]
    return args
