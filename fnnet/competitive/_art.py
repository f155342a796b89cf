"""Adaptive resonance theory: Fuzzy ART, ART 1 and simplified Fuzzy ARTMAP, compiled.

Fuzzy ART (Carpenter, Grossberg & Rosen 1991), for an input ``I`` (complement coded, ``|I| = m``
for ``m`` features in ``[0, 1]``) and category weights ``w_j`` (``|·|`` is the L1 norm, ``∧`` the
elementwise minimum)::

    choice     T_j = |I ∧ w_j| / (α + |w_j|)                     α > 0
    vigilance  |I ∧ w_j| / |I| ≥ ρ                               ρ ∈ [0, 1]
    learning   w_J ← β (I ∧ w_J) + (1 − β) w_J                   β ∈ (0, 1], fast learning β = 1

Categories are searched in decreasing ``T_j`` (ties: lowest index); the first that passes the
vigilance test resonates and learns. Uncommitted categories have ``w = 1`` (all ones), so they
take part in the choice with ``T = |I| / (α + M)`` (``M`` = the length of ``I``) and always pass
the vigilance test, exactly as in the paper; the first one chosen is committed with ``w_J = I``
(fast commit, Carpenter et al. 1992; the rule above with β = 1).

ART 1 (Carpenter & Grossberg 1987, fast learning) is the same search on binary ``I`` without
complement coding: ``T_j = L|I ∩ w_j| / (L − 1 + |w_j|)`` (``α = L − 1``; the factor ``L``
does not change the order), vigilance ``|I ∩ w_j| / |I| ≥ ρ``, learning ``w_J ← I ∩ w_J``.

Simplified Fuzzy ARTMAP (Carpenter et al. 1992; Kasuba 1993): each category also stores the
class it predicts. When the resonating category predicts the wrong class, match tracking raises
the vigilance for this input to ``|I ∧ w_J| / |I| + ε`` and the search goes on; a new category
learns the class. Vigilance returns to its baseline ``ρ`` for the next input.

Compiled form: a fixed ``capacity`` of categories, a ``committed`` mask, and a search bounded by
``capacity`` steps (``lax.while_loop`` over the categories in decreasing ``T``). An input that
finds no category because all are committed is not learned and counted in ``state.overflow``; an
input that match tracking pushes past vigilance 1 (an exact duplicate of a category of another
class) is counted in ``state.conflicts``. :func:`train_art` raises on overflow unless told not to.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from fnnet._checks import check_positive_int, check_real, check_samples, is_concrete
from fnnet._types import Array
from fnnet.competitive._scaling import complement_code


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


class ART(NamedTuple):
    """``init(num_features) -> state``; ``update(state, x[, label]) -> (state, category)`` for
    one sample; ``predict(state, x)`` for a batch ``(n, features)`` (categories, or classes for
    ARTMAP; −1 where nothing is committed); ``check(name, x)`` validates data at the boundary."""

    init: Callable[[int], ARTState]
    update: Callable[..., tuple[ARTState, Array]]
    predict: Callable[[ARTState, Array], Array]
    check: Callable[[str, Any], Array]


def choice(i: Array, w: Array, alpha: Array) -> Array:
    """Choice function ``T_j = |I ∧ w_j| / (α + |w_j|)`` for every row ``w_j`` of ``w``."""
    return jnp.sum(jnp.minimum(i, w), axis=-1) / (alpha + jnp.sum(w, axis=-1))


def match(i: Array, w: Array) -> Array:
    """Match function ``|I ∧ w_j| / |I|`` (compared with the vigilance ρ)."""
    return jnp.sum(jnp.minimum(i, w), axis=-1) / jnp.sum(i, axis=-1)


def learn(i: Array, w: Array, beta: Array) -> Array:
    """Learning rule ``w ← β (I ∧ w) + (1 − β) w``."""
    return beta * jnp.minimum(i, w) + (1.0 - beta) * w


def _search(state: ARTState, i: Array, label: Array) -> Array:
    """Index of the resonating category (−1 if none) after a bounded, match-tracked search.

    Visiting the categories one by one in decreasing ``T`` (ties: lowest index) is equivalent to
    jumping straight to the best not yet visited one that passes the current vigilance (those
    that fail change nothing). So each loop step, an ``O(capacity)`` argmax with no sort, is
    either resonance or one match-tracking reset: at most ``capacity`` steps, usually one or
    two. Uncommitted categories (match 1) pass unless match tracking took ρ above 1.
    """
    t = choice(i, state.weights, state.alpha)
    m = match(i, state.weights)
    right = ~state.committed | (label < 0) | (state.labels == label)
    index = jnp.arange(t.shape[0], dtype=jnp.int32)

    def searching(carry: tuple) -> Array:
        return ~carry[4]

    def visit(carry: tuple) -> tuple:
        t_last, j_last, rho, _, _ = carry
        after = (t < t_last) | ((t == t_last) & (index > j_last))  # later in the ranking
        candidates = after & (m >= rho)
        q = jnp.argmax(jnp.where(candidates, t, -jnp.inf)).astype(jnp.int32)  # ties: lowest
        some = candidates[q]
        hit = some & right[q]
        rho = jnp.where(some & ~right[q], m[q] + state.epsilon, rho)  # match tracking
        return t[q], q, rho, jnp.where(hit, q, -1), hit | ~some

    begin = (
        jnp.asarray(jnp.inf, t.dtype),
        jnp.full((), -1, jnp.int32),
        state.rho,
        jnp.full((), -1, jnp.int32),
        jnp.zeros((), bool),
    )
    return jax.lax.while_loop(searching, visit, begin)[3]


def resonate(state: ARTState, i: Array, label: Array) -> tuple[ARTState, Array]:
    """One ART step on a coded input ``i``: search, then learn (or count the failure).

    The chosen row is selected with a one-hot mask rather than a scatter: XLA then updates the
    category matrix in place inside the training scan (about 3× faster on CPU)."""
    j = _search(state, i, label)
    ok = j >= 0
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
            overflow=state.overflow + (~ok & full).astype(jnp.int32),
            conflicts=state.conflicts + (~ok & ~full).astype(jnp.int32),
        ),
        j,
    )


def best_category(state: ARTState, i: Array) -> Array:
    """Inference without learning: ``argmax_j T_j`` over committed categories (−1 if none)."""
    t = jnp.where(state.committed, choice(i[..., None, :], state.weights, state.alpha), -jnp.inf)
    return jnp.where(jnp.any(state.committed), jnp.argmax(t, axis=-1), -1).astype(jnp.int32)


def _hyperparams(rho: Any, alpha: Any, beta: Any, epsilon: Any) -> tuple:
    check_real("rho", rho, low=0.0, high=1.0)
    check_real("alpha", alpha, low=0.0, low_open=True)
    check_real("beta", beta, low=0.0, high=1.0, low_open=True)
    check_real("epsilon", epsilon, low=0.0)
    return rho, alpha, beta, epsilon


def _identity(x: Array) -> Array:
    return x


@functools.cache
def _rules(encode: Callable, supervised: bool) -> tuple[Callable, Callable]:
    """``(update, predict)`` for a coding and a kind; the same function objects every time, so
    compiled training (keyed on ``update``) is reused by every learner of that kind."""

    def coded(state: ARTState, x: Array) -> Array:
        return encode(jnp.asarray(x).astype(state.weights.dtype))

    if supervised:

        def update(state: ARTState, x: Array, label: Array) -> tuple[ARTState, Array]:
            return resonate(state, coded(state, x), jnp.asarray(label, jnp.int32))

        def predict(state: ARTState, x: Array) -> Array:
            j = best_category(state, coded(state, x))
            return jnp.where(j >= 0, state.labels[jnp.maximum(j, 0)], -1)

    else:

        def update(state: ARTState, x: Array) -> tuple[ARTState, Array]:
            return resonate(state, coded(state, x), jnp.full((), -1, jnp.int32))

        def predict(state: ARTState, x: Array) -> Array:
            return best_category(state, coded(state, x))

    return update, predict


def _learner(
    hyper: tuple, capacity: int, encode: Callable, check: Callable, supervised: bool
) -> ART:
    capacity = check_positive_int("capacity", capacity)

    def init(num_features: int) -> ARTState:
        num_features = check_positive_int("num_features", num_features)
        width = encode(jnp.zeros((num_features,))).shape[0]
        dtype = jnp.result_type(float)
        rho, alpha, beta, epsilon = (jnp.asarray(v, dtype) for v in hyper)
        zero = jnp.zeros((), jnp.int32)
        return ARTState(
            jnp.ones((capacity, width), dtype),
            jnp.zeros(capacity, bool),
            jnp.full(capacity, -1, jnp.int32),
            rho, alpha, beta, epsilon, zero, zero,
        )  # fmt: skip

    return ART(init, *_rules(encode, supervised), check)


_UNIT_HINT = (
    "ART inputs must lie in [0, 1]: scale them with fnnet.competitive.scale_to_unit(x, low=..., "
    "high=...) using bounds known before training (the same for the test data)."
)


def _check_fuzzy(name: str, x: Any) -> Array:
    return check_samples(name, x, low=0.0, high=1.0, hint=_UNIT_HINT)


def _check_nonzero_rows(name: str, x: Array) -> Array:
    """Without complement coding ``|I|`` is the row sum, the match denominator: it must be > 0."""
    if is_concrete(x) and not np.asarray(x).any(axis=1).all():
        raise ValueError(
            f"`{name}` has all-zero rows; without complement coding the match |I ∧ w| / |I| "
            f"needs |I| > 0 in every input."
        )
    return x


def _check_uncoded(name: str, x: Any) -> Array:
    return _check_nonzero_rows(name, _check_fuzzy(name, x))


def _check_binary(name: str, x: Any) -> Array:
    x = check_samples(name, x)
    if is_concrete(x) and not np.isin(np.asarray(x), (0.0, 1.0)).all():
        raise ValueError(f"`{name}` must be binary (0 or 1) for ART 1; got other values.")
    return _check_nonzero_rows(name, x)


def fuzzy_art(
    *,
    rho: Any,
    alpha: Any = 1e-3,
    beta: Any = 1.0,
    capacity: int = 512,
    complement: bool = True,
) -> ART:
    """Unsupervised Fuzzy ART (see the module docstring for the equations).

    Args:
        rho: baseline vigilance ``ρ ∈ [0, 1]`` (higher: more, smaller categories).
        alpha: choice parameter ``α > 0``. beta: learning rate ``β ∈ (0, 1]`` (1: fast).
        capacity: the most categories (static); running out is reported, never silent.
        complement: complement-code the inputs (strongly recommended: it stops category
            proliferation; without it ``|I|`` varies with the input).

    Example:
        >>> art = fuzzy_art(rho=0.9, capacity=4)
        >>> state, j = art.update(art.init(2), jnp.array([0.25, 0.75]))
        >>> int(j), state.weights[0].tolist()
        (0, [0.25, 0.75, 0.75, 0.25])
    """
    encode, check = (complement_code, _check_fuzzy) if complement else (_identity, _check_uncoded)
    return _learner(_hyperparams(rho, alpha, beta, 0.0), capacity, encode, check, False)


def art1(*, rho: Any, L: Any = 2.0, capacity: int = 512) -> ART:
    """ART 1 for binary inputs, fast learning (``T_j = L|I ∩ w_j| / (L − 1 + |w_j|)``, ``L > 1``).

    Implemented as the Fuzzy ART search on uncoded binary inputs with ``α = L − 1`` and
    ``β = 1`` (for 0/1 vectors ``∧`` is ``∩``). Inputs must be 0/1 with at least one 1.
    """
    check_real("L", L, low=1.0, low_open=True)
    hyper = _hyperparams(rho, L - 1.0, 1.0, 0.0)
    return _learner(hyper, capacity, _identity, _check_binary, False)


def fuzzy_artmap(
    *,
    rho: Any = 0.0,
    alpha: Any = 1e-3,
    beta: Any = 1.0,
    epsilon: Any = 1e-3,
    capacity: int = 512,
) -> ART:
    """Simplified Fuzzy ARTMAP classifier with match tracking; ``update(state, x, label)``.

    Args:
        rho: baseline vigilance ``ρ̄ ∈ [0, 1]`` of the input module; ``0`` lets match tracking
            alone decide when to add categories.
        alpha: as in :func:`fuzzy_art`.
        beta: as in :func:`fuzzy_art`.
        epsilon: match-tracking step ``ε ≥ 0``
            (``ρ ← |I ∧ w_J|/|I| + ε`` after a wrong prediction; "MT+").
        capacity: the most categories (static).
    """
    hyper = _hyperparams(rho, alpha, beta, epsilon)
    return _learner(hyper, capacity, complement_code, _check_fuzzy, True)


__all__ = [
    "ART",
    "ARTState",
    "art1",
    "best_category",
    "choice",
    "fuzzy_art",
    "fuzzy_artmap",
    "learn",
    "match",
    "resonate",
]
