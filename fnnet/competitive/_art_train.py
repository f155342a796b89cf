"""Online ART training in one ``lax.scan``, and a vigilance sweep in one vmapped program."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from fnnet._checks import check_bool, check_callable, check_positive_int, is_concrete
from fnnet._types import Array
from fnnet.competitive._art import ARTLearner, _check_state
from fnnet.competitive._art_search import ARTState


def _check_learner(learner: Any) -> ARTLearner:
    if not isinstance(learner, ARTLearner):
        raise TypeError(
            f"`learner` must be an ART learner from fuzzy_art, art1 or fuzzy_artmap; got {learner!r}."
        )
    return learner


def num_categories(state: ARTState) -> Array:
    """How many categories are committed (per member, for a stacked sweep state)."""
    return jnp.sum(state.committed, axis=-1)


@functools.partial(jax.jit, static_argnums=0)
def _scan(update: Callable, state: ARTState, x: Array, labels: Array | None) -> tuple:
    """One pass of ``update`` over the rows, compiled once per kind of learner and shape."""
    if labels is None:
        return jax.lax.scan(update, state, x)
    return jax.lax.scan(lambda s, xy: update(s, *xy), state, (x, labels))


def train_art(
    learner: ARTLearner,
    state: ARTState,
    x: Any,
    labels: Any = None,
    *,
    allow_overflow: bool = False,
) -> tuple[ARTState, Array]:
    """Present the rows of ``x`` once, in order, learning online; returns ``(state, categories)``.

    Args:
        learner: an ART learner.
        state: its state (``learner.init(num_features)`` or the state after earlier data:
            training is incremental).
        x: ``(n, features)`` in ``[0, 1]`` (binary for ART 1); checked here (width from
            ``state``, finite, in range). A float wider than the state's dtype (float64 data,
            float32 state) is refused rather than rounded: choose ``init(..., dtype=)``.
        labels: int class ids ``(n,)``, required by :func:`fuzzy_artmap` and refused by the
            unsupervised learners.
        allow_overflow: don't raise when the capacity ran out (the count stays in
            ``state.overflow``); needed under ``jit``/``vmap``, where nothing can be raised.

    Returns:
        The new state and the category each row resonated with (−1: not learned).

    Raises:
        RuntimeError: if (concretely) some inputs found no free category: raise ``capacity``.
    """
    learner = _check_learner(learner)
    allow_overflow = check_bool("allow_overflow", allow_overflow)
    state = _check_state(state)
    x, labels = learner.check(state, x, labels)
    before = state.overflow
    state, cats = _scan(learner.update, state, x, labels)
    if not allow_overflow and is_concrete(state.overflow):
        dropped = int(state.overflow - before)
        if dropped:
            raise RuntimeError(
                f"ART capacity exhausted: {dropped} inputs found no free category "
                f"(capacity {state.weights.shape[0]}, all committed). Build the learner with "
                f"a larger `capacity`, or lower the vigilance `rho`."
            )
    return state, cats


def sweep_vigilance(
    make: Callable[[Array], ARTLearner],
    rho: Any,
    x: Any,
    labels: Any = None,
    *,
    batch_size: int | None = None,
) -> ARTState:
    """Train ``make(ρ_i)`` on ``x`` for every ``ρ_i`` in one compiled program; stacked states.

    Args:
        make: builds the learner from a (traced) vigilance, e.g. ``lambda r: fuzzy_artmap(rho=r,
            capacity=300)``.
        rho: 1-d vigilances in ``[0, 1]``. x, labels: as for :func:`train_art`.
        batch_size: how many vigilances train side by side (``vmap``); the chunks run one
            after another in the same program (``lax.map``). Default: all of them, one
            ``jit(vmap(...))``, the choice for an accelerator. On a CPU ``batch_size=1`` is
            faster: vmapped searches all run as many steps as the slowest member needs.

    Returns:
        The final states stacked over ρ. Check ``states.overflow`` (one count per ρ); predict
        with ``jax.vmap(learner.predict, in_axes=(0, None))(states, x_test)``.
    """
    make = check_callable("make", make, example="lambda r: fuzzy_art(rho=r)")
    rho = jnp.atleast_1d(jnp.asarray(rho))
    if rho.ndim != 1 or not jnp.issubdtype(rho.dtype, jnp.floating):
        raise ValueError(f"`rho` must be a 1-d float array of vigilances; got {rho!r}.")
    if not bool(jnp.all((rho >= 0) & (rho <= 1))):
        raise ValueError(f"`rho` values must lie in [0, 1]; got {np.asarray(rho)}.")
    if batch_size is not None:
        batch_size = check_positive_int("batch_size", batch_size)
    x, labels = _check_learner(make(rho[0])).check(None, x, labels)

    def one(r: Array) -> ARTState:
        learner = make(r)
        state = learner.init(x.shape[1])
        return train_art(learner, state, x, labels, allow_overflow=True)[0]

    if batch_size is None or batch_size >= rho.shape[0]:
        return jax.jit(jax.vmap(one))(rho)
    return jax.jit(lambda r: jax.lax.map(one, r, batch_size=batch_size))(rho)
