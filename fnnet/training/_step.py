"""The train step: forward, hand-written backward, optimizer update, and a non-finite guard.

Data flow of one step (``make_train_step``)::

    (state, (x, y), key)
      → out = apply(params, x, key=key, training=True)        forward, per-layer keys from `key`
            (has_state: out, model_state' = apply(..., state=model_state))
      → L = loss(out, y) [+ penalty(params)]                    scalar, mean over the batch
      → grads = ∂L/∂params                                      the δ recursion, hand-written rules
      → updates, opt_state' = optimizer.update(grads, opt_state, params)
      → params' = params + updates
      → kept only if L, every gradient and every leaf of (params', opt_state', model_state')
        are finite, each read exactly (``all_finite``); otherwise the old state, all of it
    → (TrainState(params', opt_state', step + 1, model_state'), StepMetrics)

``make_train_step`` returns ``TrainStep(init, step, steps)``; ``step`` is a pure function:
compile it once (``jax.jit(train_step.step)``), run ``k`` of it per call with
``jax.jit(train_step.steps)``, or let :func:`fnnet.fit` run whole epochs of it inside one
``lax.scan`` (:mod:`fnnet.training._epoch`). Full-batch gradient descent and minibatch SGD are
the same step fed a different batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from fnnet._checks import check_bool, check_callable, check_optimizer
from fnnet._types import Array, OptState, Params, PRNGKey
from fnnet.optimizers import Optimizer, apply_updates

Loss = Callable[[Array, Array], Array]


class TrainState(NamedTuple):
    """What a training run carries from step to step (a pytree; checkpointable).

    ``model_state`` is state the model itself carries between steps and does not differentiate
    (a running mean, a persistent Markov chain); ``None`` unless the step was built with
    ``has_state=True``.
    """

    params: Params
    opt_state: OptState
    step: Array  # 0-d int32: active steps attempted (rejected non-finite steps included)
    model_state: Any = None


class StepMetrics(NamedTuple):
    """Per-step measurements; ``accuracy`` is NaN unless targets are integer class labels."""

    loss: Array
    accuracy: Array
    loss_finite: Array  # bool: the loss was finite
    grads_finite: Array  # bool: every gradient was finite
    update_finite: Array  # bool: the candidate new params, optimizer and model state were finite
    applied: Array  # bool: the update was kept (all three finite, and the step was active)


def accuracy(outputs: Array, labels: Array) -> Array:
    """Fraction of rows whose arg-max equals the integer label (NaN for non-integer targets,
    and where outputs or targets are a pytree rather than one array)."""
    if not all(hasattr(a, "dtype") for a in (outputs, labels)):  # pytree data (issue 24)
        return jnp.full((), jnp.nan, jnp.float32)
    if not jnp.issubdtype(labels.dtype, jnp.integer) or labels.ndim != outputs.ndim - 1:
        return jnp.full((), jnp.nan, jnp.float32)
    return jnp.mean((jnp.argmax(outputs, axis=-1) == labels).astype(jnp.float32))


def all_finite(tree: Any) -> Array:
    """True when every element of every floating leaf of ``tree`` is finite (0-d bool).

    Exact and cheap: ``x − x`` is ``0`` for a finite element and NaN for ±inf or NaN, so a sum
    of such terms is exactly ``0`` iff all are finite (it cannot overflow), and XLA vectorises a
    float sum (``all(isfinite(x))`` reduces booleans, 2× slower on CPU). Leaves of one shape and
    dtype (a parameter and its optimizer moments) are added elementwise first, so XLA reads them
    in one fused reduction. Integer leaves (step counters) are always finite and are skipped.
    (``x − x`` rather than ``x · 0``: XLA:CPU's reduction kernels take the zero as a
    materialised array of ``x``'s shape, a state-sized write and read per step.)
    """
    groups: dict[tuple[Any, Any], list[Array]] = {}
    for x in jax.tree_util.tree_leaves(tree):
        if jnp.issubdtype(jnp.result_type(x), jnp.inexact):
            groups.setdefault((jnp.shape(x), jnp.result_type(x)), []).append(x)
    sums = [jnp.sum(sum(x - x for x in group)).astype(jnp.float32) for group in groups.values()]
    # jnp.asarray only for the type checker: sum() starts from the int 0, so reads as int | Array
    return jnp.asarray(sum(sums) == 0) if sums else jnp.array(True)


def state_finite(state: TrainState) -> Array:
    """True when the params, optimizer state and model state of ``state`` are all finite."""
    return all_finite((state.params, state.opt_state, state.model_state))


class TrainStep(NamedTuple):
    """A train step, like ``Layer`` and ``Optimizer`` a tuple of functions: the optimizer is
    given once.

    ``state = train_step.init(params)``; ``state, metrics = train_step.step(state, (x, y), key)``;
    ``state, metrics = train_step.steps(state, (xs, ys), key)`` runs ``k`` steps at once (batches
    stacked on a leading axis of length ``k``). Calling the tuple itself,
    ``train_step(state, (x, y), key)``, is the same as ``.step``.
    """

    init: Callable[..., TrainState]
    step: Callable[..., tuple[TrainState, StepMetrics]]
    steps: Callable[..., tuple[TrainState, StepMetrics]]

    def __call__(self, state: TrainState, batch: tuple[Array, Array], key: PRNGKey, **kw: Any):
        return self.step(state, batch, key, **kw)


def scan_steps(
    step: Callable[..., tuple[TrainState, StepMetrics]],
    state: TrainState,
    batches: Any,
    key: PRNGKey,
    *,
    active: Array | None = None,
    halt_on_nonfinite: bool = False,
) -> tuple[tuple[TrainState, Array], tuple[StepMetrics, Array, Array]]:
    """``step`` over the batches stacked on a leading axis, in ``lax.scan``; ``make_epoch`` and
    ``TrainStep.steps`` both run it, so their key schedule is one.

    Step ``i`` gets the key ``fold_in(key, state.step)`` (the step counter before it) and, when
    ``active`` is given, ``active=active & ~halted``; with ``halt_on_nonfinite`` the run halts
    at its first rejected step (the state is frozen from there on).

    Returns:
        ``((state, halted), (metrics, counters, rejected))``: the final state, whether it
        halted, and per step the metrics, the step counter before the step and whether it was
        rejected (live but not applied).
    """

    def body(carry, batch):
        state, halted = carry
        live = None if active is None else active & ~halted
        new, m = step(state, batch, jax.random.fold_in(key, state.step), active=live)
        rejected = ~m.applied if live is None else live & ~m.applied
        if halt_on_nonfinite:
            halted = halted | rejected
        return (new, halted), (m, state.step, rejected)

    return jax.lax.scan(body, (state, jnp.zeros((), bool)), batches)


def _structure(tree: Any) -> tuple[Any, tuple[tuple[Any, Any], ...]]:
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return treedef, tuple((jnp.shape(x), jnp.result_type(x)) for x in leaves)


def make_train_step(
    apply: Callable[..., Any],
    loss: Loss,
    optimizer: Optimizer,
    *,
    penalty: Callable[[Params], Array] | None = None,
    check_update: bool = True,
    has_state: bool = False,
) -> TrainStep:
    """Build ``TrainStep(init, step, steps)`` for ``apply``, ``loss`` and ``optimizer``.

    Example::

        train_step = fnnet.make_train_step(net.apply, fnnet.losses.squared_error, opt)
        state = train_step.init(params)                 # TrainState(params, opt.init(params), 0)
        step = jax.jit(train_step.step)                 # or donate_argnums=0 if params is yours
        state, metrics = step(state, (x, y), key)
        steps = jax.jit(train_step.steps)               # k steps per call: the fastest loop
        state, metrics = steps(state, (xs, ys), key)    # xs: (k, batch, features)

    Args:
        apply: a layer's apply function ``apply(params, x, *, key, training)``; with
            ``has_state``, ``apply(params, x, *, key, training, state) -> (outputs, new_state)``.
        loss: ``loss(outputs, y) -> scalar`` (e.g. ``fnnet.losses.softmax_cross_entropy``).
        optimizer: an ``Optimizer`` from ``fnnet.optimizers``.
        penalty: optional ``penalty(params) -> scalar`` added to the loss (e.g.
            ``lambda p: fnnet.regularizers.l2_penalty(p, 1e-4)``: weights only, never biases).
        check_update: also reject a step whose new parameters or optimizer state are not
            finite (default). ``False`` checks only the loss, the gradients and the new model
            state (``update_finite`` then says whether the model state was finite); only for
            callers that verify the state themselves and can roll back, as ``fit`` does once
            per epoch (see :func:`fnnet.training.make_epoch`).
        has_state: the model carries state between steps that is not differentiated (a
            running average, a persistent chain): ``apply`` takes it as ``state=`` and returns
            ``(outputs, new_state)`` of the same structure, and the train state holds it as
            ``TrainState.model_state``.

    Returns:
        ``TrainStep(init, step, steps)``: ``init(params, model_state=None) -> TrainState`` (the
        optimizer initialised on ``params``, ``step = 0``; ``params`` and ``model_state`` are
        held, not copied; ``model_state`` is required with ``has_state`` and refused without),
        and the pure ``step(state, batch, key, *, active=None) -> (state, metrics)``. A step
        whose loss, gradients, new parameters, new optimizer state or new model state are not
        all finite returns the old params, optimizer state and model state (``step`` still
        advances) and reports which in ``StepMetrics``; the state is never corrupted, whether
        the fault is a NaN input, an overflowing update (SGD with ``learning_rate=1e6``) or a
        NaN hyperparameter. ``active`` (a 0-d bool array) freezes the whole state, ``step``
        included (``fit`` uses it to stop at the first non-finite step, sweeps to stop a
        member).

        ``steps(state, (xs, ys), key) -> (state, metrics)`` is ``k`` calls of ``step`` in one
        ``lax.scan``, bit for bit: ``xs`` and ``ys`` hold ``k`` batches stacked on a leading
        axis, step ``i`` draws from ``fold_in(key, state.step)`` (the counter before it, as
        ``fit``'s epochs do), and ``metrics`` has a leading axis of length ``k``. It is the
        fast path for a loop you write yourself: the ``k`` steps run with the cheaper check of
        the loss and gradients only (``check_update=False``), the state is checked once at the
        end, and if any step was rejected or the state is not finite the ``k`` steps are run
        again from the start with the full guard (``fit``'s per-epoch mechanism, inside one
        program). The shortcut is exact because a non-finite value, once in the parameters or
        optimizer state, stays there through the following steps (NaN and ±inf propagate
        through the optimizers' arithmetic; the model state, which a model may overwrite, is
        checked every step), so a finite end state means every candidate was finite. Under ``vmap``
        the two branches of that choice both run; sweeps (:func:`fnnet.sweep.run`) replay
        flagged members instead.

    The guard is exact and simple: the candidate new state is computed inside one fused
    finiteness reduction per leaf shape (:func:`all_finite`, read-only), and the state is then
    written once, under a ``lax.cond`` on that scalar. On a CPU that read costs about a third
    of an MLP's step (1.3× raw JAX, ``benchmarks/RESULTS.md``); ``steps``, ``fit`` and sweeps
    check the state once per call or epoch instead and replay the steps that went wrong.
    """
    check_callable("apply", apply, example="net.apply")
    check_callable("loss", loss, example="fnnet.losses.softmax_cross_entropy")
    check_optimizer("optimizer", optimizer)
    check_bool("check_update", check_update)
    has_state = check_bool("has_state", has_state)
    if penalty is not None:
        check_callable(
            "penalty", penalty, example="lambda p: fnnet.regularizers.l2_penalty(p, 1e-4)"
        )

    def init(params: Params, model_state: Any = None) -> TrainState:
        if has_state and model_state is None:
            raise ValueError(
                "`model_state` is required: this train step was built with has_state=True; "
                "call init(params, model_state) with the model's initial state."
            )
        if not has_state and model_state is not None:
            raise ValueError(
                "`model_state` was given, but this train step was built with has_state=False; "
                "pass has_state=True to make_train_step, with an apply that takes `state=` and "
                "returns (outputs, new_state)."
            )
        return TrainState(params, optimizer.init(params), jnp.zeros((), jnp.int32), model_state)

    def forward(params, model_state, x, key):
        if not has_state:
            return apply(params, x, key=key, training=True), None
        result = apply(params, x, key=key, training=True, state=model_state)
        if not (isinstance(result, tuple) and len(result) == 2):
            raise TypeError(
                "with has_state=True, `apply` must return (outputs, new_state); got "
                f"{type(result).__name__}."
            )
        if _structure(result[1]) != _structure(model_state):
            raise TypeError(
                "with has_state=True, `apply`'s new_state must have the structure, shapes and "
                f"dtypes of the state it was given: expected {_structure(model_state)}, got "
                f"{_structure(result[1])}."
            )
        return result

    def objective(params, model_state, x, y, key):
        outputs, new_model_state = forward(params, model_state, x, key)
        value = loss(outputs, y)
        if penalty is not None:
            value = value + penalty(params)
        return value, (outputs, new_model_state)

    def make_step(check_update: bool) -> Callable[..., tuple[TrainState, StepMetrics]]:
        def step(
            state: TrainState,
            batch: tuple[Array, Array],
            key: PRNGKey,
            *,
            active: Array | None = None,
        ) -> tuple[TrainState, StepMetrics]:
            x, y = batch
            (value, (outputs, model_state)), grads = jax.value_and_grad(objective, has_aux=True)(
                state.params, state.model_state, x, y, key
            )
            loss_ok = jnp.isfinite(value)
            grads_ok = all_finite(grads)

            def candidate(_=None):
                updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
                return apply_updates(state.params, updates), opt_state, model_state

            # Decide before writing: the candidate is recomputed inside the finiteness reduction
            # (read-only, one fused pass per leaf shape), so the state is written once. The new
            # model state is the forward's output, checked always (True when there is none).
            update_ok = all_finite(candidate() if check_update else model_state)
            ok = loss_ok & grads_ok & update_ok
            if active is not None:
                ok = ok & active
            old = (state.params, state.opt_state, state.model_state)
            params, opt_state, model_state = jax.lax.cond(ok, candidate, lambda _: old, None)
            count = state.step + (1 if active is None else active.astype(state.step.dtype))
            metrics = StepMetrics(value, accuracy(outputs, y), loss_ok, grads_ok, update_ok, ok)
            return TrainState(params, opt_state, count, model_state), metrics

        return step

    step = make_step(check_update)
    unchecked = make_step(False) if check_update else step

    def steps(
        state: TrainState, batches: tuple[Any, Any], key: PRNGKey
    ) -> tuple[TrainState, StepMetrics]:
        """``k`` calls of ``step``, step ``i`` with ``fold_in(key, state.step)``, bit for bit."""
        (fast, _), (metrics, _, _) = scan_steps(unchecked, state, batches, key)
        if not check_update:
            return fast, metrics

        def exact(_):  # rare: a step was rejected or the state went non-finite: replay all k
            (new, _), (metrics, _, _) = scan_steps(step, state, batches, key)
            return new, metrics

        clean = state_finite(fast) & jnp.all(metrics.applied)
        return jax.lax.cond(clean, lambda _: (fast, metrics), exact, None)

    return TrainStep(init, step, steps)


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
