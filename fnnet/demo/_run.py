"""One demo run: load, build, fit, report, plot and write metrics.json."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import time
from collections.abc import Iterator, Sequence
from typing import Any

import jax
import numpy as np

import fnnet
from fnnet import (
    losses,
    regularizers,
    schedules,
)
from fnnet.demo._cli import (
    _usage_error,
    parse,
)
from fnnet.demo._models import (
    ACTIVATIONS,
    OPTIMIZERS,
    build,
    load,
    prepare,
)


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
        "compile_cache": args.cache_dir,
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
        f"{float(result.compile_seconds):.1f}s of it compiling"
        f"{'' if args.cache_dir is None else ', compilation cache ' + args.cache_dir})"
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


# JAX's persistent compilation cache: by default it keeps only programs that took over a second
# to compile; the demo keeps every one, so that a second run compiles nothing.
_CACHE_SETTINGS = {
    "jax_persistent_cache_min_compile_time_secs": 0.0,
    "jax_persistent_cache_min_entry_size_bytes": 0,
}


@contextlib.contextmanager
def compilation_cache(path: str | None) -> Iterator[None]:
    """Within the block, JAX reads compiled programs from the folder ``path`` and writes new ones
    there (``None``: no change). JAX decides once per process, at its first compilation, whether
    to use the cache, so this takes effect only around the process's first computation, as in
    ``python -m fnnet.demo``; the previous settings are restored afterwards."""
    if path is None:
        yield
        return
    settings = {"jax_compilation_cache_dir": path, **_CACHE_SETTINGS}
    before = {name: getattr(jax.config, name) for name in settings}
    os.makedirs(path, exist_ok=True)
    for name, value in settings.items():
        jax.config.update(name, value)
    try:
        yield
    finally:
        for name, value in before.items():
            jax.config.update(name, value)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; exit status 0, 1 after a non-finite stop, 2 for a bad command line."""
    args = parse(argv)
    with compilation_cache(args.cache_dir):
        metrics = run(args)
    return 0 if metrics["nonfinite"] is None else 1
