"""The train step: forward, hand-written backward, optimizer update, and a non-finite guard.

Data flow of one step (``make_train_step``)::

    (state, (x, y), key)
      → out = apply(params, x, key=key, training=True)        forward, per-layer keys from `key`
      → L = loss(out, y) [+ penalty(params)]                    scalar, mean over the batch
      → grads = ∂L/∂params                                      the δ recursion, hand-written rules
      → updates, opt_state = optimizer.update(grads, opt_state, params)
      → params' = params + updates
      → kept only if L, every gradient, every new parameter and every new optimizer-state
        leaf are finite: proved from the carried intervals (``TrainState.bounds``) by interval
        arithmetic over the optimizer's jaxpr, or, when that cannot prove it, read exactly
    → (TrainState(params', opt_state', step + 1, bounds'), StepMetrics)

``make_train_step`` returns the pair ``TrainStep(init, step)``; ``step`` is a pure function:
compile it once (``jax.jit(train_step.step)``), or let :func:`fnnet.fit` run whole epochs of it
inside one ``lax.scan`` (:mod:`fnnet.training._epoch`). Full-batch gradient descent
and minibatch SGD are the same step fed a different batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from fnnet._checks import check_bool, check_callable, check_optimizer
from fnnet._types import Array, OptState, Params, PRNGKey
from fnnet.optimizers import Optimizer, apply_updates
from fnnet.training._bounds import exact_bounds, pack, propagate, share_by_role, unpack
from fnnet.training._intervals import symmetric_interval

Loss = Callable[[Array, Array], Array]


class TrainState(NamedTuple):
    """What a training run carries from step to step (a pytree; checkpointable).

    ``bounds`` is a cache of the guard, never a source of truth: replacing it with ``None``
    is always safe (the step then reads each candidate state, exactly and more slowly), so a
    checkpoint written before bounds existed loads with ``like=state._replace(bounds=None)``.
    Never copy bounds from another state (say a fresh ``init``): they must enclose this
    state's values.
    """

    params: Params
    opt_state: OptState
    step: Array  # 0-d int32: active steps attempted (rejected non-finite steps included)
    # Certified [lo, hi] of each float array leaf of (params, opt_state), an (n, 2) array kept
    # by make_train_step's guard (fnnet/training/_bounds.py); None: the guard re-reads instead.
    bounds: Any = None


class StepMetrics(NamedTuple):
    """Per-step measurements; ``accuracy`` is NaN unless targets are integer class labels."""

    loss: Array
    accuracy: Array
    loss_finite: Array  # bool: the loss was finite
    grads_finite: Array  # bool: every gradient was finite
    update_finite: Array  # bool: the candidate new params and optimizer state were all finite
    applied: Array  # bool: the update was kept (all three finite, and the step was active)


def accuracy(outputs: Array, labels: Array) -> Array:
    """Fraction of rows whose arg-max equals the integer label (NaN for non-integer targets)."""
    if not jnp.issubdtype(labels.dtype, jnp.integer) or labels.ndim != outputs.ndim - 1:
        return jnp.full((), jnp.nan, jnp.float32)
    return jnp.mean((jnp.argmax(outputs, axis=-1) == labels).astype(jnp.float32))


def all_finite(tree: Any) -> Array:
    """True when every element of every floating leaf of ``tree`` is finite (0-d bool).

    Exact and cheap: ``x · 0`` is ``0`` for a finite element and NaN for ±inf or NaN, so a sum
    of such terms is exactly ``0`` iff all are finite (it cannot overflow), and XLA vectorises a
    float sum (``all(isfinite(x))`` reduces booleans, 2× slower on CPU). Leaves of one shape and
    dtype (a parameter and its optimizer moments) are added elementwise first, so XLA reads them
    in one fused reduction. Integer leaves (step counters) are always finite and are skipped.
    """
    groups: dict[tuple[Any, Any], list[Array]] = {}
    for x in jax.tree_util.tree_leaves(tree):
        if jnp.issubdtype(jnp.result_type(x), jnp.inexact):
            groups.setdefault((jnp.shape(x), jnp.result_type(x)), []).append(x)
    sums = [jnp.sum(sum(x * 0 for x in group)).astype(jnp.float32) for group in groups.values()]
    return sum(sums) == 0 if sums else jnp.array(True)


# Below this many parameters, reading the candidate state costs less than the interval
# program's fixed ~1 µs (2-2-2 net: 1.4 vs 2.2 µs a step; 700 parameters: level; 26 K: 0.23 vs
# 0.30 ms, benchmarks/RESULTS.md), so init leaves bounds out and the step reads the candidate.
_BOUNDS_FROM = 1024


def _yes(_: Any) -> Array:
    return jnp.array(True)


def _elements(tree: Any) -> int:
    return sum(int(jnp.size(x)) for x in jax.tree_util.tree_leaves(tree))


class TrainStep(NamedTuple):
    """A train step as a pair, like ``Layer`` and ``Optimizer``: the optimizer is given once.

    ``state = train_step.init(params)``; ``state, metrics = train_step.step(state, (x, y), key)``.
    Calling the pair itself, ``train_step(state, (x, y), key)``, is the same as ``.step``.
    """

    init: Callable[[Params], TrainState]
    step: Callable[..., tuple[TrainState, StepMetrics]]

    def __call__(self, state: TrainState, batch: tuple[Array, Array], key: PRNGKey, **kw: Any):
        return self.step(state, batch, key, **kw)


def make_train_step(
    apply: Callable[..., Array],
    loss: Loss,
    optimizer: Optimizer,
    *,
    penalty: Callable[[Params], Array] | None = None,
    check_update: bool = True,
) -> TrainStep:
    """Build the pair ``TrainStep(init, step)`` for ``apply``, ``loss`` and ``optimizer``.

    Example::

        train_step = fnnet.make_train_step(net.apply, fnnet.losses.squared_error, opt)
        state = train_step.init(params)         # TrainState(params, opt.init(params), 0, bounds)
        step = jax.jit(train_step.step)                 # or donate_argnums=0 if params is yours
        state, metrics = step(state, (x, y), key)

    Args:
        apply: a layer's apply function ``apply(params, x, *, key, training)``.
        loss: ``loss(outputs, y) -> scalar`` (e.g. ``fnnet.losses.softmax_cross_entropy``).
        optimizer: an ``Optimizer`` from ``fnnet.optimizers``.
        penalty: optional ``penalty(params) -> scalar`` added to the loss (e.g.
            ``lambda p: fnnet.regularizers.l2_penalty(p, 1e-4)``: weights only, never biases).
        check_update: also reject a step whose new parameters or optimizer state are not
            finite (default). ``False`` checks only the loss and the gradients and reports
            ``update_finite=True``; only for callers that verify the state themselves and can
            roll back, as ``fit`` does once per epoch (see :func:`fnnet.training.make_epoch`).

    Returns:
        ``TrainStep(init, step)``: ``init(params) -> TrainState`` (the optimizer initialised on
        ``params``, ``step = 0``; ``params`` is held, not copied), and the pure
        ``step(state, batch, key, *, active=None) -> (state, metrics)``. A step whose loss, gradients, new
        parameters or new optimizer state are not all finite returns the old params and
        optimizer state (``step`` still advances) and reports which in ``StepMetrics``; the
        state is never corrupted, whether the fault is a NaN input, an overflowing update
        (SGD with ``learning_rate=1e6``) or a NaN hyperparameter. ``active`` (a 0-d bool
        array) freezes the whole state, ``step`` included, without a second pass over it
        (``fit`` uses it to stop at the first non-finite step, sweeps to stop a member).

    How the guard stays cheap: reading the candidate state to check it would cost one more
    pass over the optimizer's math (a third of a step on CPU). Instead ``init`` (for models of
    1,024 parameters or more; smaller ones are cheaper to read) records an
    interval ``[lo, hi]`` per float array leaf of params and optimizer state
    (``TrainState.bounds``, an ``(n, 2)`` array), and each step pushes those intervals and the
    gradients' ``[−Σ|g|, Σ|g|]`` through the optimizer's own jaxpr (``fnnet/training/_bounds.py``:
    a few scalar operations, once for all layers). When that proves the new state finite the
    step writes it without reading it; otherwise (an overflowing update, a NaN hyperparameter,
    a primitive without an interval rule, float16 near its range) the candidate is read exactly,
    which also refreshes the intervals. The decision is exact either way. A ``TrainState`` built
    by hand (``bounds=None``) is always read exactly; an unchecked step (``check_update=False``)
    marks the intervals unknown. ``fit`` and sweeps check the state once per epoch instead and
    replay an epoch that went wrong (their states carry no bounds).
    """
    check_callable("apply", apply, example="net.apply")
    check_callable("loss", loss, example="fnnet.losses.softmax_cross_entropy")
    check_optimizer("optimizer", optimizer)
    check_bool("check_update", check_update)
    if penalty is not None:
        check_callable(
            "penalty", penalty, example="lambda p: fnnet.regularizers.l2_penalty(p, 1e-4)"
        )

    def init(params: Params) -> TrainState:
        opt_state = optimizer.init(params)
        bounded = check_update and _elements(params) >= _BOUNDS_FROM
        bounds = exact_bounds((params, opt_state)) if bounded else None
        return TrainState(params, opt_state, jnp.zeros((), jnp.int32), bounds)

    def update(grads, opt_state, params):
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return apply_updates(params, updates), opt_state

    def objective(params, x, y, key):
        outputs = apply(params, x, key=key, training=True)
        value = loss(outputs, y)
        if penalty is not None:
            value = value + penalty(params)
        return value, outputs

    def step(
        state: TrainState,
        batch: tuple[Array, Array],
        key: PRNGKey,
        *,
        active: Array | None = None,
    ) -> tuple[TrainState, StepMetrics]:
        x, y = batch
        (value, outputs), grads = jax.value_and_grad(objective, has_aux=True)(
            state.params, x, y, key
        )
        loss_ok = jnp.isfinite(value)

        def candidate(_=None):
            return update(grads, state.opt_state, state.params)

        old = (state.params, state.opt_state)
        bounds = state.bounds
        certified = False
        if check_update and bounds is not None:
            # Prove the candidate finite from intervals: scalar work, no pass over the state.
            grad_bounds = jax.tree_util.tree_map(symmetric_interval, grads)
            args = (grads, state.opt_state, state.params)
            unit = jax.tree_util.tree_structure(state.params)
            shared = share_by_role((grad_bounds, *unpack(bounds, old)[::-1]), args, unit)
            intervals, certified = propagate(update, shared, *args)
        if certified is not False:
            # Proved (Σ|g| finite ⇒ every g finite; the intervals ⇒ the candidate finite): no
            # pass over anything. Unproved (a NaN, an overflow, bounds grown too wide): read the
            # gradients and the candidate, fused into one reduction per shape and never
            # materialised (a temporary the size of the state would cost every call); the
            # bounds are then refreshed from the state as written.
            # (Two conditionals: one branch checking both materialises 20 MB on the wide MLP.)
            sums_ok = jnp.all(jnp.isfinite(pack(grad_bounds, grads)))
            grads_ok = jax.lax.cond(sums_ok, _yes, lambda _: all_finite(grads), None)
            update_ok = jax.lax.cond(certified, _yes, lambda _: all_finite(candidate()), None)
        else:
            grads_ok = all_finite(grads)
            # Decide before writing: the candidate is recomputed inside the finiteness reduction
            # (read-only, one fused pass per parameter shape), so the state is written once.
            update_ok = all_finite(candidate()) if check_update else jnp.array(True)
        ok = loss_ok & grads_ok & update_ok
        if active is not None:
            ok = ok & active
        params, opt_state = jax.lax.cond(ok, candidate, lambda _: old, None)
        if certified is not False:
            new_bounds = jax.lax.cond(
                certified,
                lambda _: jnp.where(ok, pack(intervals, old), bounds),
                lambda _: exact_bounds((params, opt_state)),  # reads the state as written
                None,
            )
        elif bounds is not None:  # unchecked, or no proof possible: nothing is known any more
            new_bounds = jnp.full_like(bounds, jnp.inf) * jnp.array([-1, 1], bounds.dtype)
        else:
            new_bounds = None
        count = state.step + (1 if active is None else active.astype(state.step.dtype))
        metrics = StepMetrics(value, accuracy(outputs, y), loss_ok, grads_ok, update_ok, ok)
        return TrainState(params, opt_state, count, new_bounds), metrics

    return TrainStep(init, step)


def make_eval_step(
    apply: Callable[..., Array], loss: Loss
) -> Callable[[Params, Array, Array], tuple[Array, Array]]:
    """``evaluate(params, x, y) -> (loss, accuracy)`` in inference mode (no dropout)."""
    check_callable("apply", apply, example="net.apply")
    check_callable("loss", loss, example="fnnet.losses.softmax_cross_entropy")

    def evaluate(params: Params, x: Array, y: Array) -> tuple[Array, Array]:
        outputs = apply(params, x, training=False)
        return loss(outputs, y), accuracy(outputs, y)

    return evaluate


__all__ = [
    "StepMetrics",
    "TrainState",
    "TrainStep",
    "accuracy",
    "all_finite",
    "make_eval_step",
    "make_train_step",
]
