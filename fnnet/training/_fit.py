"""``fit``: a short host loop around one compiled epoch (:mod:`fnnet.training._epoch`).

Each epoch is one call of one compiled program: shuffle with the epoch's key, ``lax.scan`` the
train step over the stacked minibatches, evaluate on the validation set and update early
stopping. The steps check the loss and the gradients; the new state is checked once at the end
of the epoch, and an epoch that ended with a non-finite state is replayed from its start with
the full per-step guard (``make_train_step(check_update=True)``, compiled only then), so the
result is bit for bit the fully guarded run's at a fraction of the guard's cost. The program is compiled once per structure and cached across calls
(:mod:`fnnet._cache`): a second ``fit`` of the same model does not compile again.
Between epochs, on the host: the progress line, the non-finite stop and checkpoints.

Keys: epoch ``e`` uses ``fold_in(key, e)``, split into a shuffling key and a step key; step
``s`` of the run draws its dropout masks from ``fold_in(step_key, s)``. A resumed run therefore
replays exactly the keys of an uninterrupted one and ends bit for bit where it would have.

Non-finite values: a step whose loss, gradients, new parameters or new optimizer state are not
all finite leaves the state untouched (see :func:`fnnet.training.make_train_step`). With
``skip_nonfinite=False`` (default) the run freezes at the first such step, ``fit`` stops,
returns the last finite parameters and reports the step and cause in ``FitResult.nonfinite``;
with ``skip_nonfinite=True`` such steps are skipped and counted.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from fnnet import _cache, checkpoint, parallel
from fnnet._data_checks import check_labels, num_rows
from fnnet._types import Array, Params, PRNGKey
from fnnet.optimizers import Optimizer
from fnnet.training._epoch import CAUSES, RunState, make_epoch, start_run
from fnnet.training._inputs import check_data, check_finite_params, check_fit_args
from fnnet.training._step import TrainState, make_eval_step, make_train_step

HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "skipped_steps", "steps", "seconds")


class NonFinite(NamedTuple):
    """Where training met a non-finite value: the global step (0-based), epoch and cause."""

    step: int  # also the number of updates applied before it
    epoch: int
    cause: str


class FitResult(NamedTuple):
    """What ``fit`` returns. ``history`` maps ``loss``, ``accuracy``, ``val_loss``,
    ``val_accuracy``, ``skipped_steps``, ``steps`` and ``seconds`` to per-epoch arrays."""

    params: Params  # best params (by validation loss) with early stopping, else the last
    state: TrainState
    history: dict[str, np.ndarray]
    best_epoch: int  # -1 without validation
    stopped_early: bool
    nonfinite: NonFinite | None
    steps_taken: int  # optimizer updates applied (a non-finite stop: the steps before it)
    compile_seconds: float  # compiling the epoch (0.0 when an earlier call compiled it)
    train_seconds: float  # the epochs themselves, evaluation included, compilation excluded


class _Progress(NamedTuple):  # what a checkpoint holds
    run: RunState
    epoch: Array  # epochs done
    history: dict[str, Array]


def fit(
    apply: Callable[..., Array],
    params: Params,
    loss: Callable[[Array, Array], Array],
    optimizer: Optimizer,
    data: Any,
    *,
    key: PRNGKey,
    epochs: int,
    batch_size: int,
    validation: Any = None,
    penalty: Callable[[Params], Array] | None = None,
    patience: int | None = None,
    skip_nonfinite: bool = False,
    verbose: bool = True,
    checkpoint_path: str | os.PathLike | None = None,
    checkpoint_every: int = 1,
    resume: bool = False,
    mesh: Any = None,
    allow_nonfinite_data: bool = False,
    log: Callable[[str], None] = print,
) -> FitResult:
    """Train ``apply``'s parameters on ``data = (x, y)`` with minibatch steps.

    Args:
        apply: a layer's apply function; ``params`` its initial parameters (not donated).
        loss: ``loss(outputs, y) -> scalar``; optimizer: an ``Optimizer``.
        data: ``(x, y)``, rows are examples, or a ``fnnet.data.Dataset``. ``x`` and ``y`` may
            each be an array or a pytree of arrays batched on their leading axis (e.g.
            ``((sequences, lengths), labels)``): every array is shuffled and batched by rows
            and ``apply`` receives a batch of ``x``'s structure. ``batch_size`` = the rows is
            full-batch descent.
        key: the run's key (shuffling and dropout). epochs: passes over ``data``.
        validation: optional pair (or ``Dataset``) like ``data``, evaluated after every epoch
            (loss, accuracy).
        penalty: optional ``penalty(params)`` added to the training loss.
        patience: stop after this many epochs without a better validation loss and return
            the best parameters (needs ``validation``).
        skip_nonfinite: skip non-finite steps instead of stopping at the first one.
        verbose: print one progress line per epoch through ``log``.
        checkpoint_path: save the whole run (state, early-stopping state, history) there every
            ``checkpoint_every`` epochs, atomically; ``resume=True`` continues from it when it
            exists (same model, optimizer and ``epochs``), ending bit for bit where an
            uninterrupted run would.
        mesh: optional ``jax.sharding.Mesh``: data-parallel training, every step's batch split
            over the mesh's devices, parameters and optimizer state replicated (XLA inserts the
            gradient all-reduce; the hand-written rules have no collectives).
        allow_nonfinite_data: by default concrete data containing NaN or ±inf is refused up
            front (the message names the first bad row); ``True`` lets the non-finite guard
            deal with it step by step instead.

    Every argument is checked before the first step: the data (rows of every array, shapes,
    emptiness, finite values; integer class labels, one array of one dimension less than the
    outputs, must lie in ``[0, outputs)``), the key, the checkpoint directory (exists,
    writable), the sizes and flags.

    Returns:
        A ``FitResult``; ``steps_taken`` counts the updates applied; ``compile_seconds`` and
        ``train_seconds`` split the wall time (the progress line's rate and ETA exclude
        compilation).
    """
    x, y, val = check_data(data, validation, allow_nonfinite_data=allow_nonfinite_data)
    flags = {"skip_nonfinite": skip_nonfinite, "verbose": verbose, "resume": resume}
    n = num_rows(("data inputs", x))
    mesh = check_fit_args(
        apply, loss, optimizer, n, key=key, epochs=epochs, batch_size=batch_size,
        has_validation=val is not None, patience=patience, flags=flags,
        checkpoint_path=checkpoint_path, checkpoint_every=checkpoint_every, resume=resume, mesh=mesh,
    )  # fmt: skip
    check_finite_params(params)
    targets = [("data", y)] if val is None else [("data", y), ("validation", val[1])]
    check_labels(apply, params, x, targets, key=key, batch_size=batch_size)
    # validates them (the state is checked once per epoch)
    train_step = make_train_step(apply, loss, optimizer, penalty=penalty, check_update=False)
    evaluate = None if val is None else make_eval_step(apply, loss)
    arrays = {"x": x, "y": y} if val is None else {"x": x, "y": y, "val_x": val[0], "val_y": val[1]}
    fresh = jax.tree_util.tree_map(jnp.copy, params)  # the epoch donates its state
    progress = _Progress(
        start_run(train_step.init(fresh), validation=val is not None, patience=patience),
        jnp.zeros((), jnp.int32),
        {k: jnp.full((epochs,), jnp.nan, jnp.float32) for k in HISTORY_KEYS},
    )
    if resume and checkpoint_path is not None and os.path.exists(checkpoint_path):
        progress = _resume(checkpoint_path, progress, epochs)
        if verbose:
            log(f"resumed from {checkpoint_path} after epoch {int(progress.epoch)}")
    run, first = progress.run, int(progress.epoch)
    history = {k: np.array(v) for k, v in progress.history.items()}
    if mesh is not None:
        run, arrays = parallel.replicate((run, arrays), mesh)

    def build(check_update: bool):  # the exact program donates; the fast one keeps its input
        def jitted():
            step = make_train_step(
                apply, loss, optimizer, penalty=penalty, check_update=check_update
            )
            epoch = make_epoch(
                step.step, evaluate, batch_size=batch_size,
                halt_on_nonfinite=not skip_nonfinite, mesh=mesh,
            )  # fmt: skip
            return jax.jit(epoch.run, donate_argnums=0 if check_update else ())

        return jitted

    functions = (apply, loss, optimizer.update, penalty)  # init runs outside the compiled epoch
    structure = ("fit", _cache.fingerprint(functions), batch_size, skip_nonfinite, mesh)
    fast, compile_seconds = _cache.compiled(
        structure + ("fast",), build(False), run, arrays, key, jnp.asarray(first, jnp.int32)
    )
    exact = None

    nonfinite, stopped_early, epoch = None, False, first
    for epoch in range(first, epochs):
        tic, index = time.perf_counter(), jnp.asarray(epoch, jnp.int32)
        new, record = fast(run, arrays, key, index)
        if not jax.device_get(record.state_finite):  # rare: replay the epoch, full guard
            if exact is None:
                pause = time.perf_counter()
                exact, seconds = _cache.compiled(
                    structure + ("exact",), build(True), run, arrays, key, index
                )
                compile_seconds, tic = compile_seconds + seconds, tic + time.perf_counter() - pause
            new, record = exact(run, arrays, key, index)
        run, record = new, jax.device_get(record)
        for name in HISTORY_KEYS[:-1]:
            history[name][epoch] = getattr(record, name)
        history["seconds"][epoch] = time.perf_counter() - tic
        if record.nonfinite_step >= 0 and not skip_nonfinite:
            nonfinite = NonFinite(int(record.nonfinite_step), epoch, CAUSES[record.nonfinite_cause])
            if verbose:
                log(f"epoch {epoch + 1}: stopped at step {nonfinite.step}: {nonfinite.cause}; "
                    "kept the last finite parameters")  # fmt: skip
        stopped_early = run.stopping is not None and bool(run.stopping.stopped)
        last = (epoch + 1) % checkpoint_every == 0 or epoch + 1 == epochs or stopped_early
        if checkpoint_path is not None and last:
            saved = {k: jnp.asarray(v) for k, v in history.items()}
            checkpoint.save(
                checkpoint_path, _Progress(run, jnp.asarray(epoch + 1, jnp.int32), saved)
            )
        if verbose:
            log(_progress_line(epoch, epochs, history, n, first, compile_seconds))
        if nonfinite is not None or stopped_early:
            break
    best_epoch = -1 if run.stopping is None else int(run.stopping.best_epoch)
    if stopped_early and verbose and run.stopping is not None:  # stopped early: it is not None
        log(f"early stopping after epoch {epoch + 1}: best validation loss "
            f"{float(run.stopping.best_loss):.4f} at epoch {best_epoch + 1}")  # fmt: skip
    history = {k: v[: max(epoch + 1, first)] for k, v in history.items()}
    final = run.train.params
    if run.stopping is not None and patience is not None and best_epoch >= 0:
        final = run.stopping.best_params
    return FitResult(
        final, run.train, history, best_epoch, stopped_early, nonfinite,
        int(np.nansum(history["steps"])), compile_seconds, float(np.nansum(history["seconds"][first:])),
    )  # fmt: skip


def _resume(path: str | os.PathLike, like: _Progress, epochs: int) -> _Progress:
    try:
        loaded = checkpoint.load(path, like=like)
    except ValueError as err:
        raise ValueError(
            f"cannot resume from {path}: it must come from a run with the same model, optimizer "
            f"and `epochs` ({epochs}); {err}"
        ) from err
    if loaded.run.stopping is not None and like.run.stopping is not None:  # same structure
        # this call's patience, not the saved one
        stopping = loaded.run.stopping._replace(patience=like.run.stopping.patience)
        loaded = loaded._replace(run=loaded.run._replace(stopping=stopping))
    return loaded


def _progress_line(
    epoch: int, epochs: int, history: dict, n: int, first: int, compiled: float
) -> str:
    h = {k: v[epoch] for k, v in history.items()}
    line = f"epoch {epoch + 1:>{len(str(epochs))}}/{epochs}  loss {h['loss']:.4f}"
    for name, label in (("accuracy", "acc"), ("val_loss", "val_loss"), ("val_accuracy", "val_acc")):
        if not math.isnan(h[name]):
            line += f"  {label} {h[name]:.4f}"
    line += f"  {n / max(h['seconds'], 1e-9):,.0f} samples/s"
    if epoch == first and compiled > 0:  # timed apart: not in the rate, not in the ETA
        line += f"  compiled in {compiled:.1f}s"
    seconds = history["seconds"][first : epoch + 1]
    steady = seconds[1:] if len(seconds) > 1 else seconds  # the first call also warms XLA up
    left = np.mean(steady) * (epochs - epoch - 1)
    return line + f"  {np.sum(seconds):.1f}s training, ~{left:.1f}s left"
