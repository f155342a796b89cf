"""The compiled ART search shared by every learner: the state, the choice's two sums in a fixed
order, ties, the match-tracked search, learning and inference (equations: ``_art.py``)."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from fnnet._types import Array


class ARTState(NamedTuple):
    """Categories and hyperparameters of an ART learner (all arrays, so it vmaps).

    Fields: ``weights`` ``(capacity, M)`` (uncommitted rows are all ones); ``committed``
    bool ``(capacity,)``; ``labels`` int32 ``(capacity,)`` (the class each category predicts;
    −1 if none); 0-d ``rho`` (baseline vigilance), ``alpha``, ``beta``, ``epsilon``;
    ``overflow`` and ``conflicts``: int32 counts of inputs that could not be learned.
    """

    weights: Array
    committed: Array
    labels: Array
    rho: Array
    alpha: Array
    beta: Array
    epsilon: Array
    overflow: Array
    conflicts: Array


def row_sum(a: Array) -> Array:
    """``Σ`` over the last axis in a fixed pairwise order, the same for every leading shape."""
    while a.shape[-1] > 1:
        half = a.shape[-1] // 2
        pairs = a[..., :half] + a[..., half : 2 * half]
        a = jnp.concatenate([pairs, a[..., 2 * half :]], axis=-1) if a.shape[-1] % 2 else pairs
    return a[..., 0]


def choice_terms(i: Array, w: Array, alpha: Array) -> tuple[Array, Array]:
    """Numerator ``|I ∧ w_j|`` and denominator ``α + |w_j|`` of the choice function."""
    return row_sum(jnp.minimum(i, w)), alpha + row_sum(w)


def learn(i: Array, w: Array, beta: Array) -> Array:
    """Learning rule ``w ← β (I ∧ w) + (1 − β) w``."""
    return beta * jnp.minimum(i, w) + (1.0 - beta) * w


def tie_tolerance(width: int, dtype: Any) -> float:
    """Relative gap below which two sums over ``M = width`` features count as equal:
    ``(⌈log₂ M⌉ + 1) ε``, the most by which rounding can tell apart two such sums (pairwise
    order, plus α) that are equal in real arithmetic."""
    return (math.ceil(math.log2(max(width, 2))) + 1) * float(jnp.finfo(dtype).eps)


def first_choice(terms: tuple[Array, Array], allowed: Array, tolerance: float) -> Array:
    """The best ``allowed`` choice ``T = num / den``; ties go to the lowest index.

    A tie is a category whose numerator and denominator both equal the best one's up to
    ``tolerance`` (relative): equal in real arithmetic, told apart only by rounding. A small α
    still orders categories whose ``|w|`` differ, however close their ``T``. Returns 0 when
    nothing is allowed."""
    num, den = terms
    den = jnp.broadcast_to(den, num.shape)
    best = jnp.argmax(jnp.where(allowed, num / den, -jnp.inf), axis=-1, keepdims=True)
    num_best = jnp.take_along_axis(num, best, axis=-1)
    den_best = jnp.take_along_axis(den, best, axis=-1)
    tied = (
        allowed
        & (jnp.abs(num - num_best) <= tolerance * num_best)
        & (jnp.abs(den - den_best) <= tolerance * den_best)
    )
    return jnp.argmax(tied, axis=-1).astype(jnp.int32)


def _search(state: ARTState, i: Array, label: Array) -> Array:
    """Index of the resonating category (−1 if none) after a bounded, match-tracked search.

    Visiting the categories one by one in decreasing ``T`` (ties: lowest index) is equivalent to
    jumping straight to the best not yet visited one that passes the current vigilance (those
    that fail keep failing: match tracking only raises ρ). So each loop step, an
    ``O(capacity)`` argmax with no sort, is either resonance or one match-tracking reset: at
    most ``capacity`` steps, usually one or two. Uncommitted categories (match 1) pass unless
    match tracking took ρ above 1.
    """
    terms = choice_terms(i, state.weights, state.alpha)
    m = terms[0] / row_sum(i)  # the match |I ∧ w_j| / |I|, sharing the choice's numerator
    right = ~state.committed | (label < 0) | (state.labels == label)
    tolerance = tie_tolerance(state.weights.shape[-1], m.dtype)

    def searching(carry: tuple) -> Array:
        return ~carry[3]

    def visit(carry: tuple) -> tuple:
        visited, rho, _, _ = carry
        candidates = ~visited & (m >= rho)
        q = first_choice(terms, candidates, tolerance)
        some = candidates[q]
        hit = some & right[q]
        rho = jnp.where(some & ~right[q], m[q] + state.epsilon, rho)  # match tracking
        return visited.at[q].set(True), rho, jnp.where(hit, q, -1), hit | ~some

    begin = (
        jnp.zeros(m.shape, bool),
        state.rho,
        jnp.full((), -1, jnp.int32),
        jnp.zeros((), bool),
    )
    return jax.lax.while_loop(searching, visit, begin)[2]


def resonate(state: ARTState, i: Array, label: Array) -> tuple[ARTState, Array]:
    """One ART step on a coded input ``i``: search, then learn (or count the failure).

    The chosen row is selected with a one-hot mask rather than a scatter: XLA then updates the
    category matrix in place inside the training scan (about 3× faster on CPU)."""
    j = _search(state, i, label)
    ok = j >= 0
    finite = jnp.all(jnp.isfinite(i))  # under jit a NaN input is not learned and not counted
    chosen = (
        jnp.arange(state.weights.shape[0], dtype=jnp.int32) == j
    )  # all False when nothing resonated
    new = jnp.where(state.committed[:, None], learn(i, state.weights, state.beta), i)  # fast commit
    full = jnp.all(state.committed)
    return (
        state._replace(
            weights=jnp.where(chosen[:, None], new, state.weights),
            committed=state.committed | chosen,
            labels=jnp.where(chosen, label, state.labels),
            overflow=state.overflow + (~ok & full & finite).astype(jnp.int32),
            conflicts=state.conflicts + (~ok & ~full & finite).astype(jnp.int32),
        ),
        j,
    )


def best_category(state: ARTState, i: Array) -> Array:
    """Inference without learning: ``argmax_j T_j`` over committed categories; −1 if none is
    committed or the input has a NaN."""
    terms = choice_terms(i[..., None, :], state.weights, state.alpha)
    tolerance = tie_tolerance(state.weights.shape[-1], state.weights.dtype)
    j = first_choice(terms, state.committed, tolerance)
    known = jnp.any(state.committed) & ~jnp.any(jnp.isnan(i), axis=-1)
    return jnp.where(known, j, -1)
