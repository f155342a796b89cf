"""One epoch of training as one pure function, and early stopping as a pure state update.

Both :func:`fnnet.fit` (one run, an epoch per compiled call) and the sweep trainer
(:func:`fnnet.sweep.make_trainer`, epochs in ``lax.scan``, ``vmap``-ped over members) run
:func:`make_epoch`'s function, so a sweep member equals the ``fit`` run with the same key by
construction. One epoch ``e`` of a run with key ``k``::

    shuffle_key, step_key = split(fold_in(k, e))
    batches = minibatches(shuffle_key, x, y, batch_size)          (num_batches, batch_size, ...)
    lax.scan over batches: state = step(state, batch, fold_in(step_key, state.step), active)
    val_loss, val_accuracy = evaluate(state.params, *validation)   (if any)
    stopping = update_early_stopping(stopping, val_loss, state.params, e, active=...)

``record.state_finite`` checks the state once at the end of the epoch: a caller running the
cheaper step (``make_train_step(..., check_update=False)``) replays the epoch from its starting
state with the full guard when it is false (``fit`` does; the replay is bit for bit what the full
guard would have done from the start).

``active`` is false once the run halted (the first non-finite step, with
``halt_on_nonfinite``) or stopped early: the state is then frozen, step counter included, and
the epoch's record is NaN. A stopped sweep member thus costs compute but changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from fnnet import parallel
from fnnet._types import Array, Params, PRNGKey
from fnnet.data import Batches, minibatches
from fnnet.training._step import TrainState, scan_steps, state_finite

# Why a run met a non-finite step (EpochRecord.nonfinite_cause).
CAUSES = (
    "",
    "non-finite loss",
    "non-finite gradients",
    "non-finite update (new parameters, optimizer state or model state)",
)


class EarlyStopping(NamedTuple):
    """Early-stopping state: the best validation loss so far, its epoch and parameters.

    ``patience`` is an array leaf (``-1``: never stop), so runs with different patience share
    one compiled program.
    """

    best_params: Params
    best_loss: Array  # float32, inf before the first evaluation
    best_epoch: Array  # int32, -1 before the first evaluation
    wait: Array  # int32: epochs since the last improvement
    stopped: Array  # bool
    patience: Array  # int32


def early_stopping(params: Params, patience: int | Array | None = None) -> EarlyStopping:
    """The initial state: nothing seen yet; ``patience=None`` never stops (tracks the best only)."""
    return EarlyStopping(
        params,
        jnp.full((), jnp.inf, jnp.float32),
        jnp.full((), -1, jnp.int32),
        jnp.zeros((), jnp.int32),
        jnp.zeros((), bool),
        jnp.asarray(-1 if patience is None else patience, jnp.int32),
    )


def update_early_stopping(
    stopping: EarlyStopping, val_loss: Array, params: Params, epoch: Array, *, active: Array
) -> EarlyStopping:
    """One epoch's update: a strictly lower ``val_loss`` becomes the best (its ``params`` kept),
    otherwise ``wait`` grows; ``stopped`` once ``wait >= patience``. Pure (``jnp.where``), so it
    runs inside ``jit``/``vmap``; an inactive run's state is returned unchanged."""
    val_loss = jnp.asarray(val_loss, jnp.float32)
    improved = active & (val_loss < stopping.best_loss)
    wait = jnp.where(improved, 0, stopping.wait + active.astype(jnp.int32))
    return EarlyStopping(
        jax.tree_util.tree_map(
            lambda n, o: jnp.where(improved, n, o), params, stopping.best_params
        ),
        jnp.where(improved, val_loss, stopping.best_loss),
        jnp.where(improved, jnp.asarray(epoch, jnp.int32), stopping.best_epoch),
        wait,
        stopping.stopped | ((stopping.patience >= 0) & (wait >= stopping.patience)),
        stopping.patience,
    )


class RunState(NamedTuple):
    """What a run carries from epoch to epoch (a pytree; ``fit`` checkpoints it)."""

    train: TrainState
    stopping: EarlyStopping | None  # None without validation data
    halted: Array  # bool: stopped at a non-finite step (halt_on_nonfinite)


class EpochRecord(NamedTuple):
    """One epoch's figures (0-d arrays); all NaN/0 for an epoch of a run that already stopped."""

    loss: Array  # mean training loss over the applied steps
    accuracy: Array  # mean training accuracy over the applied steps (NaN for non-label targets)
    val_loss: Array  # NaN without validation
    val_accuracy: Array
    skipped_steps: Array  # float32: steps rejected as non-finite
    steps: Array  # int32: updates applied
    nonfinite_step: Array  # int32: the step counter at the first rejected step, -1 if none
    nonfinite_cause: Array  # int32: 0 none, 1 the loss, 2 the gradients, 3 the new state
    active: Array  # bool: the epoch trained
    state_finite: Array  # bool: the train state after the epoch is all finite


def start_run(train: TrainState, *, validation: bool, patience: int | None = None) -> RunState:
    """The run state before the first epoch (the best parameters start as a copy: a compiled
    epoch donates the whole run state, and one buffer cannot be donated twice)."""
    best = jax.tree_util.tree_map(jnp.copy, train.params)
    stopping = early_stopping(best, patience) if validation else None
    return RunState(train, stopping, jnp.zeros((), bool))


class Epoch(NamedTuple):
    """One epoch as a pair of functions, like ``TrainStep``: ``run = epoch.init(train_state)``
    before the first epoch (``patience=`` for early stopping, with validation data), then
    ``run, record = epoch.run(run, data, key, index)`` per epoch; compile ``epoch.run``.
    Calling ``epoch(run, data, key, index)`` is the same as ``epoch.run``."""

    init: Callable[..., RunState]
    run: Callable[..., tuple[RunState, EpochRecord]]

    def __call__(self, run: RunState, data: dict[str, Array], key: PRNGKey, index: Array):
        return self.run(run, data, key, index)


def _mean_where(values: Array, ok: Array) -> Array:
    count = jnp.sum(ok)
    total = jnp.sum(jnp.where(ok, values, jnp.zeros_like(values)))
    return jnp.where(count > 0, total / jnp.maximum(count, 1).astype(values.dtype), jnp.nan)


def _in_order(x: Any, y: Any, batch_size: int) -> Batches:
    """The rows of ``x`` and ``y`` (arrays or pytrees) in order as ``(num_batches, batch_size,
    ...)``, the last ``n % batch_size`` rows left out."""
    n = jax.tree_util.tree_leaves(x)[0].shape[0] // batch_size * batch_size

    def stack(a: Array) -> Array:
        return a[:n].reshape((n // batch_size, batch_size) + a.shape[1:])

    x, y = jax.tree_util.tree_map(stack, (x, y))
    return Batches(x, y, jnp.ones((n // batch_size, batch_size), bool))


def make_epoch(
    step: Callable[..., Any],
    evaluate: Callable[..., Any] | None,
    *,
    batch_size: int,
    halt_on_nonfinite: bool,
    mesh: Any = None,
    shuffle: bool = True,
) -> Epoch:
    """``Epoch(init, run)``: ``run(run_state, data, key, index) -> (run_state, record)`` is one
    pure epoch (see the module docs); ``init(train_state, *, patience=None)`` is the run state
    before the first epoch.

    Args:
        step: a train step ``step(state, batch, key, *, active)`` (``make_train_step(...).step``).
        evaluate: ``evaluate(params, x, y) -> (loss, accuracy)``, used when ``data`` has
            ``"val_x"``/``"val_y"``.
        batch_size: rows per step (the last incomplete batch is dropped after the shuffle).
        halt_on_nonfinite: freeze the run at its first rejected step (``fit``'s default);
            otherwise rejected steps are skipped and counted.
        mesh: split every batch's rows over this mesh's devices (data parallelism).
        shuffle: a new order of the rows every epoch (from the epoch's key), or (``False``) the
            rows in their order every epoch, the last ``n % batch_size`` left out (scikit-learn's
            ``BernoulliRBM``; the perceptron's and RBM's NumPy transcriptions).

    ``data`` is ``{"x", "y"}`` plus optionally ``{"val_x", "val_y"}``; ``key`` is the run's key
    (the epoch's is ``fold_in(key, index)``).
    """

    def epoch(run: RunState, data: dict[str, Array], key: PRNGKey, index: Array):
        stopped = jnp.zeros((), bool) if run.stopping is None else run.stopping.stopped
        active = ~run.halted & ~stopped
        shuffle_key, step_key = jax.random.split(jax.random.fold_in(key, index))
        if shuffle:
            batches = minibatches(shuffle_key, data["x"], data["y"], batch_size)
        else:
            batches = _in_order(data["x"], data["y"], batch_size)
        if mesh is not None:  # data parallel: each step's batch rows split over the devices
            batches = parallel.constrain_batches(batches, mesh)

        (state, halted), (m, counters, rejected) = scan_steps(
            step, run.train, (batches.x, batches.y), step_key,
            active=active, halt_on_nonfinite=halt_on_nonfinite,
        )  # fmt: skip
        halted = run.halted | halted
        loss, acc, applied = m.loss, m.accuracy, m.applied
        causes = jnp.where(~m.loss_finite, 1, jnp.where(~m.grads_finite, 2, 3))
        first = jnp.argmax(rejected)
        any_rejected = jnp.any(rejected)
        nan = jnp.full((), jnp.nan, jnp.float32)
        val_loss, val_acc, stopping = nan, nan, run.stopping
        if evaluate is not None and run.stopping is not None:  # init: both or neither
            val_loss, val_acc = evaluate(state.params, data["val_x"], data["val_y"])
            val_loss = jnp.asarray(val_loss, jnp.float32)
            stopping = update_early_stopping(
                run.stopping, val_loss, state.params, index, active=active
            )
        record = EpochRecord(
            jnp.where(active, _mean_where(loss, applied).astype(jnp.float32), nan),
            jnp.where(active, _mean_where(acc, applied), nan),
            jnp.where(active, val_loss, nan),
            jnp.where(active, jnp.asarray(val_acc, jnp.float32), nan),
            jnp.where(active, jnp.sum(rejected).astype(jnp.float32), nan),
            jnp.sum(applied).astype(jnp.int32),
            jnp.where(any_rejected, counters[first], -1).astype(jnp.int32),
            jnp.where(any_rejected, causes[first], 0).astype(jnp.int32),
            active,
            state_finite(state),
        )
        return RunState(state, stopping, halted), record

    def init(train: TrainState, *, patience: int | None = None) -> RunState:
        return start_run(train, validation=evaluate is not None, patience=patience)

    return Epoch(init, epoch)
