"""``fit``: epochs of compiled minibatch training with validation, early stopping and checkpoints.

Each epoch is one call of one compiled function: shuffle with the epoch's key, stack the
minibatches, and ``lax.scan`` the train step over them. It is traced once; later epochs reuse
the compiled program (the tests count traces). Between epochs, on the host: evaluation on the
validation set, a progress line, early stopping, the non-finite check and checkpoints.

Keys: epoch ``e`` uses ``fold_in(key, e)``, split into a shuffling key and a step key; step
``s`` of the run draws its dropout masks from ``fold_in(step_key, s)``. A resumed run therefore
replays exactly the keys of an uninterrupted one and ends bit for bit where it would have.

Non-finite values: a step whose loss, gradients, new parameters or new optimizer state are not
all finite leaves the state untouched (see :mod:`fnnet.train`). With ``skip_nonfinite=False`` (default) the epoch freezes at the first
such step, ``fit`` stops, returns the last finite parameters and reports the step and cause in
``FitResult.nonfinite``; with ``skip_nonfinite=True`` such steps are skipped and counted.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from fnnet import checkpoint, parallel
from fnnet._checks import check_bool, check_finite_rows, check_key
from fnnet._types import Array, Params, PRNGKey
from fnnet.data import check_pair, minibatches
from fnnet.optimizers import Optimizer
from fnnet.train import TrainState, init_state, make_eval_step, make_train_step

HISTORY_KEYS = (
    "loss",
    "accuracy",
    "val_loss",
    "val_accuracy",
    "skipped_steps",
    "seconds",
)


class NonFinite(NamedTuple):
    """Where training met a non-finite value: the global step (0-based), epoch and cause."""

    step: int
    epoch: int
    cause: str


class FitResult(NamedTuple):
    """What ``fit`` returns. ``history`` maps each of ``HISTORY_KEYS`` to a per-epoch array."""

    params: Params  # best params (by validation loss) with early stopping, else the last
    state: TrainState
    history: dict[str, np.ndarray]
    best_epoch: int
    stopped_early: bool
    nonfinite: NonFinite | None
    steps_taken: int  # optimizer updates applied (a non-finite stop: the steps before it)
    compile_seconds: float  # compiling the epoch (0.0 when an earlier call compiled it)
    train_seconds: float  # the epochs themselves, evaluation included, compilation excluded


class _Progress(NamedTuple):  # everything a checkpoint needs besides the train state
    state: TrainState
    epoch: Array
    best_params: Params
    best_loss: Array
    best_epoch: Array
    wait: Array
    history: dict[str, Array]


def _epoch_fn(
    step: Callable, batch_size: int, stop_on_nonfinite: bool, mesh: Any = None
) -> Callable:
    def run_epoch(state: TrainState, x: Array, y: Array, key: PRNGKey):
        shuffle_key, step_key = jax.random.split(key)
        batches = minibatches(shuffle_key, x, y, batch_size)
        if mesh is not None:  # data parallel: each step's batch rows split over the devices
            batches = parallel.constrain_batches(batches, mesh)

        def body(carry, batch):
            state, halted = carry
            step_key_s = jax.random.fold_in(step_key, state.step)
            if stop_on_nonfinite:  # structural flag: freeze at the first bad step
                new_state, metrics = step(state, batch, step_key_s, active=~halted)
                halted = halted | ~metrics.applied
            else:
                new_state, metrics = step(state, batch, step_key_s)
            return (new_state, halted), metrics

        (state, _), metrics = jax.lax.scan(body, (state, jnp.array(False)), (batches.x, batches.y))
        return state, metrics

    return jax.jit(run_epoch, donate_argnums=0)


def _nonfinite_cause(metrics: Any, first: int) -> str:
    if not bool(np.asarray(metrics.loss_finite)[first]):
        return "non-finite loss"
    if not bool(np.asarray(metrics.grads_finite)[first]):
        return "non-finite gradients"
    return "non-finite update (new parameters or optimizer state)"


def _check_data(name: str, x: Array, y: Array, allow_nonfinite_data: bool) -> None:
    hint = "pass allow_nonfinite_data=True to let the non-finite guard skip or stop at it instead"
    if not allow_nonfinite_data:
        check_finite_rows(f"{name} inputs", x, hint=hint)
        check_finite_rows(f"{name} targets", y, hint=hint)


def _check_checkpoint_dir(path: str | os.PathLike) -> None:
    """The checkpoint's directory exists and a file can be created in it: before any training."""
    directory = os.path.dirname(os.path.abspath(os.fspath(path)))
    if not os.path.isdir(directory):
        raise ValueError(
            f"`checkpoint_path` {os.fspath(path)!r}: directory {directory!r} does not exist."
        )
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as err:
        raise ValueError(
            f"`checkpoint_path` {os.fspath(path)!r}: directory {directory!r} is not writable ({err.strerror})."
        ) from err


def fit(
    apply: Callable[..., Array],
    params: Params,
    loss: Callable[[Array, Array], Array],
    optimizer: Optimizer,
    train: tuple[Any, Any],
    *,
    key: PRNGKey,
    epochs: int,
    batch_size: int,
    validation: tuple[Any, Any] | None = None,
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
    """Train ``apply``'s parameters on ``train = (x, y)`` with minibatch SGD-style steps.

    Args:
        apply: a layer's apply function; ``params`` its initial parameters.
        loss: ``loss(outputs, y) -> scalar``; optimizer: an ``Optimizer``.
        train: ``(x, y)``, rows are examples. ``batch_size = len(x)`` is full-batch descent.
        key: the run's key (shuffling and dropout). epochs: passes over ``train``.
        validation: optional ``(x, y)`` evaluated after every epoch (loss, accuracy).
        penalty: optional ``penalty(params)`` added to the training loss.
        patience: stop after this many epochs without a better validation loss and return
            the best parameters (needs ``validation``).
        skip_nonfinite: skip non-finite steps instead of stopping at the first one.
        verbose: print one progress line per epoch through ``log``.
        checkpoint_path: save the whole run (state, key schedule position, early-stopping
            state, history) there every ``checkpoint_every`` epochs, atomically;
            ``resume=True`` continues from it when it exists (same model, optimizer and
            ``epochs``); the resumed run ends bit for bit where an uninterrupted one would.
        mesh: optional ``jax.sharding.Mesh``: data-parallel training, every step's batch split
            over the mesh's devices, parameters and optimizer state replicated (XLA inserts the
            gradient all-reduce; the hand-written rules have no collectives).
        allow_nonfinite_data: by default concrete training and validation data containing NaN
            or ±inf are refused up front (the message names the first bad row); ``True`` lets
            the non-finite guard deal with them step by step instead.

    Every argument is checked before the first step: the data (shapes, emptiness, finite
    values), the key, the checkpoint directory (exists, writable), the sizes and flags.

    Returns:
        A ``FitResult``; ``steps_taken`` counts the updates applied, ``compile_seconds`` and
        ``train_seconds`` split the wall time.
    """
    check_key("key", key)
    check_bool("allow_nonfinite_data", allow_nonfinite_data)
    x, y = check_pair("train", train)
    if x.shape[0] == 0:
        raise ValueError(
            f"`train` is empty: 0 rows (x {x.shape}, y {y.shape}); fit needs at least one example."
        )
    val = check_pair("validation", validation) if validation is not None else None
    if val is not None:
        for what, t, v in (("inputs", x, val[0]), ("targets", y, val[1])):
            if t.shape[1:] != v.shape[1:]:
                raise ValueError(
                    f"`validation` {what} must have the training {what}' shape per row {t.shape[1:]}; "
                    f"got validation {what} of shape {v.shape} (training: {t.shape})."
                )
        if val[0].shape[0] == 0:
            raise ValueError(
                f"`validation` is empty: 0 rows (x {val[0].shape}); pass None for no validation."
            )
    _check_data("train", x, y, allow_nonfinite_data)
    if val is not None:
        _check_data("validation", *val, allow_nonfinite_data)
    for name, value, low in (
        ("epochs", epochs, 1),
        ("batch_size", batch_size, 1),
        ("checkpoint_every", checkpoint_every, 1),
    ):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"`{name}` must be an int >= {low}; got {value!r}.")
    if checkpoint_path is not None:
        _check_checkpoint_dir(checkpoint_path)
    if batch_size > x.shape[0]:
        raise ValueError(
            f"`batch_size` ({batch_size}) must be at most the number of training rows ({x.shape[0]})."
        )
    if patience is not None and (val is None or not isinstance(patience, int) or patience < 1):
        raise ValueError(
            f"`patience` needs `validation` and must be an int >= 1; got {patience!r}."
        )
    if resume and checkpoint_path is None:
        raise ValueError("`resume=True` needs a `checkpoint_path`.")

    if mesh is not None:
        mesh = parallel.check_mesh(mesh)
        if batch_size % mesh.size:
            raise ValueError(
                f"`batch_size` ({batch_size}) must be divisible by the number of devices in `mesh` ({mesh.size})."
            )
        x, y = parallel.replicate((x, y), mesh)
        val = None if val is None else parallel.replicate(val, mesh)
    step = make_train_step(apply, loss, optimizer, penalty=penalty)
    run_epoch = _epoch_fn(step, batch_size, stop_on_nonfinite=not skip_nonfinite, mesh=mesh)
    evaluate = jax.jit(make_eval_step(apply, loss))

    nan = jnp.full((epochs,), jnp.nan, jnp.float32)
    progress = _Progress(
        init_state(
            jax.tree_util.tree_map(jnp.copy, params), optimizer
        ),  # the caller's arrays are not donated
        jnp.zeros((), jnp.int32),
        jax.tree_util.tree_map(jnp.copy, params),
        jnp.full((), jnp.inf, jnp.float32),
        jnp.full((), -1, jnp.int32),
        jnp.zeros((), jnp.int32),
        {k: nan for k in HISTORY_KEYS},
    )
    if resume and os.path.exists(checkpoint_path):
        try:
            progress = checkpoint.load(checkpoint_path, like=progress)
        except ValueError as err:
            raise ValueError(
                f"cannot resume from {checkpoint_path}: it must come from a run with the same model, "
                f"optimizer and `epochs` ({epochs}); {err}"
            ) from err
        if verbose:
            log(f"resumed from {checkpoint_path} after epoch {int(progress.epoch)}")

    state, history = (
        progress.state,
        {k: np.array(v) for k, v in progress.history.items()},
    )
    if mesh is not None:
        state = parallel.replicate(state, mesh)
    best_params, best_loss = progress.best_params, float(progress.best_loss)
    best_epoch, wait = int(progress.best_epoch), int(progress.wait)
    nonfinite, stopped_early, start = None, False, int(progress.epoch)
    compile_seconds, train_seconds = 0.0, 0.0
    steps_taken = int(state.step) - int(np.nansum(history["skipped_steps"][:start]))
    epoch = start
    for epoch in range(start, epochs):
        epoch_key = jax.random.fold_in(key, epoch)
        if epoch == start:  # compile apart from the timed epochs: no compile time in the ETA
            tic = time.perf_counter()
            run_epoch = run_epoch.lower(state, x, y, epoch_key).compile()
            if val is not None:
                evaluate = evaluate.lower(state.params, *val).compile()
            compile_seconds = time.perf_counter() - tic
        tic = time.perf_counter()
        state, metrics = run_epoch(state, x, y, epoch_key)
        ok = np.asarray(metrics.loss_finite & metrics.grads_finite & metrics.update_finite)
        good = np.asarray(metrics.applied).astype(bool)
        steps_taken += int(good.sum())
        history["loss"][epoch] = np.mean(np.asarray(metrics.loss)[good]) if good.any() else np.nan
        history["accuracy"][epoch] = (
            np.mean(np.asarray(metrics.accuracy)[good]) if good.any() else np.nan
        )
        history["skipped_steps"][epoch] = (
            float((~ok.astype(bool)).sum()) if skip_nonfinite else float(not ok.all())
        )
        if val is not None:
            val_loss, val_acc = evaluate(state.params, *val)
            history["val_loss"][epoch], history["val_accuracy"][epoch] = (
                float(val_loss),
                float(val_acc),
            )
        history["seconds"][epoch] = time.perf_counter() - tic
        train_seconds += history["seconds"][epoch]

        if not ok.all() and not skip_nonfinite:
            first = int(np.argmin(ok))
            nonfinite = NonFinite(steps_taken, epoch, _nonfinite_cause(metrics, first))
            if verbose:
                log(
                    f"epoch {epoch + 1}: stopped at step {nonfinite.step}: {nonfinite.cause}; kept the last finite parameters"
                )
        if val is not None:
            current = history["val_loss"][epoch]
            if current < best_loss:
                best_loss, best_epoch, wait = float(current), epoch, 0
                best_params = jax.tree_util.tree_map(
                    jnp.copy, state.params
                )  # state is donated next epoch
            else:
                wait += 1
        stopped_early = patience is not None and wait >= patience
        if checkpoint_path is not None and (
            (epoch + 1) % checkpoint_every == 0 or epoch + 1 == epochs or stopped_early
        ):
            progress = _Progress(
                state,
                jnp.asarray(epoch + 1, jnp.int32),
                best_params,
                jnp.asarray(best_loss, jnp.float32),
                jnp.asarray(best_epoch, jnp.int32),
                jnp.asarray(wait, jnp.int32),
                {k: jnp.asarray(v) for k, v in history.items()},
            )
            checkpoint.save(checkpoint_path, progress)
        if verbose:
            log(
                _progress_line(
                    epoch,
                    epochs,
                    history,
                    x.shape[0],
                    start,
                    compile_seconds if epoch == start else None,
                )
            )
        if nonfinite is not None or stopped_early:
            break
    if stopped_early and verbose:
        log(
            f"early stopping after epoch {epoch + 1}: best validation loss {best_loss:.4f} at epoch {best_epoch + 1}"
        )
    done = epoch + 1 if epochs > start else start
    history = {k: v[:done] for k, v in history.items()}
    final = best_params if (patience is not None and best_epoch >= 0) else state.params
    return FitResult(
        final,
        state,
        history,
        best_epoch,
        stopped_early,
        nonfinite,
        steps_taken,
        compile_seconds,
        train_seconds,
    )


def _progress_line(
    epoch: int, epochs: int, history: dict, n: int, start: int, compiled: float | None
) -> str:
    h = {k: v[epoch] for k, v in history.items()}
    line = f"epoch {epoch + 1:>{len(str(epochs))}}/{epochs}  loss {h['loss']:.4f}"
    if not math.isnan(h["accuracy"]):
        line += f"  acc {h['accuracy']:.4f}"
    if not math.isnan(h["val_loss"]):
        line += f"  val_loss {h['val_loss']:.4f}"
    if not math.isnan(h["val_accuracy"]):
        line += f"  val_acc {h['val_accuracy']:.4f}"
    line += f"  {n / max(h['seconds'], 1e-9):,.0f} samples/s"
    if compiled is not None:  # compilation is timed apart and left out of the rate and the ETA
        line += f"  compiled in {compiled:.1f}s"
    seconds = history["seconds"][start : epoch + 1]
    line += (
        f"  {np.sum(seconds):.1f}s training, ~{np.mean(seconds) * (epochs - epoch - 1):.1f}s left"
    )
    return line


__all__ = ["HISTORY_KEYS", "FitResult", "NonFinite", "fit"]
