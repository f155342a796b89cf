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
from fnnet.competitive._art_search import ARTState, best_category, resonate
from fnnet.competitive._scaling import complement_code


class ARTLearner(NamedTuple):
    """What :func:`fuzzy_art`, :func:`art1` and :func:`fuzzy_artmap` return.

    * ``init(num_features, *, dtype=None) -> state`` (``dtype``: the state's float dtype,
      default JAX's default float);
    * ``update(state, x, label=None) -> (state, category)`` for one sample ``(features,)``
      (``label``: the class, for ARTMAP only);
    * ``predict(state, x)`` for ``(n, features)``: categories, or classes for ARTMAP; −1 where
      nothing is committed or the row has a NaN;
    * ``check(state, x, labels=None) -> (x, labels)``: the data checks every function above
      runs (width from ``state``, or any width when ``state`` is ``None``), as ``train_art``
      does.
    """

    init: Callable[..., ARTState]
    update: Callable[..., tuple[ARTState, Array]]
    predict: Callable[[ARTState, Array], Array]
    check: Callable[..., tuple[Array, Array | None]]


def _hyperparams(rho: Any, alpha: Any, beta: Any, epsilon: Any) -> tuple:
    check_real("rho", rho, low=0.0, high=1.0)
    check_real("alpha", alpha, low=0.0, low_open=True)
    check_real("beta", beta, low=0.0, high=1.0, low_open=True)
    check_real("epsilon", epsilon, low=0.0)
    return rho, alpha, beta, epsilon


class _Kind(NamedTuple):
    """What distinguishes the learners' data: coding, ART 1's binary inputs, supervision."""

    name: str
    complement: bool
    binary: bool
    supervised: bool


FUZZY = _Kind("fuzzy_art", complement=True, binary=False, supervised=False)
FUZZY_UNCODED = _Kind("fuzzy_art(complement=False)", complement=False, binary=False,
                      supervised=False)  # fmt: skip
ART1 = _Kind("art1", complement=False, binary=True, supervised=False)
ARTMAP = _Kind("fuzzy_artmap", complement=True, binary=False, supervised=True)

_UNIT_HINT = (
    "ART inputs must lie in [0, 1]: scale them with fnnet.competitive.scale_to_unit(x, low=..., "
    "high=...) using bounds known before training (the same for the test data)."
)


def _check_state(state: Any) -> ARTState:
    if not isinstance(state, ARTState):
        raise TypeError(
            f"`state` must be an ARTState from learner.init(num_features); got {state!r}."
        )
    return state


def _check_x(kind: _Kind, state: ARTState | None, x: Any, name: str) -> Array:
    """``x (n, features)``: width from the state, values in [0, 1] (binary for ART 1), no
    all-zero row without complement coding, no float wider than the state's."""
    features, source = None, ""
    if state is not None:
        shape = tuple(_check_state(state).weights.shape)
        features = shape[1] // 2 if kind.complement else shape[1]
        coded = " (complement coded: 2 × features)" if kind.complement else ""
        source = f"the state, weights.shape = {shape}{coded}"
    floating = hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.floating)
    if kind.binary:
        x = check_samples(name, x, features=features, source=source)
        if is_concrete(x) and not np.isin(np.asarray(x), (0.0, 1.0)).all():
            raise ValueError(f"`{name}` must be binary (0 or 1) for ART 1; got other values.")
    else:
        x = check_samples(name, x, features=features, source=source, low=0.0, high=1.0,
                          hint=_UNIT_HINT)  # fmt: skip
    if not kind.complement and is_concrete(x) and not np.asarray(x).any(axis=1).all():
        raise ValueError(
            f"`{name}` has all-zero rows; without complement coding the match |I ∧ w| / |I| "
            f"needs |I| > 0 in every input."
        )
    if state is None:
        return x
    dtype = state.weights.dtype
    if floating and x.dtype.itemsize > dtype.itemsize:
        raise TypeError(
            f"`{name}` is {x.dtype} but the ART state is {dtype}: it would be rounded silently. "
            f"Build the state with learner.init(num_features, dtype=jnp.{x.dtype}), or cast "
            f"`{name}` to {dtype} yourself."
        )
    return x.astype(dtype)


def _check_labels(kind: _Kind, labels: Any, n: int, name: str) -> Array | None:
    if not kind.supervised:
        if labels is not None:
            raise ValueError(
                f"{kind.name} is unsupervised: `{name}` would be ignored; for classification "
                f"use fuzzy_artmap."
            )
        return None
    if labels is None:
        raise ValueError(
            f"fuzzy_artmap needs `{name}`: it learns the class of each category (one int class "
            f"id per input)."
        )
    labels = jnp.asarray(labels)
    if labels.shape != (n,) or not jnp.issubdtype(labels.dtype, jnp.integer):
        raise ValueError(
            f"`{name}` must be integer class ids of shape ({n},); got {labels.dtype} "
            f"{labels.shape}."
        )
    if is_concrete(labels) and n and int(np.min(np.asarray(labels))) < 0:
        raise ValueError(f"`{name}` must be >= 0; got a minimum of {int(np.min(labels))}.")
    return labels.astype(jnp.int32)


@functools.cache
def _rules(kind: _Kind) -> tuple[Callable, Callable, Callable]:
    """``(update, predict, check)`` of a kind of learner; the same function objects every time,
    so compiled training (keyed on ``update``) is reused by every learner of that kind."""
    encode = complement_code if kind.complement else (lambda x: x)

    def check(state: ARTState | None, x: Any, labels: Any = None) -> tuple[Array, Array | None]:
        x = _check_x(kind, state, x, "x")
        return x, _check_labels(kind, labels, x.shape[0], "labels")

    def update(state: ARTState, x: Any, label: Any = None) -> tuple[ARTState, Array]:
        x = np.asarray(x) if isinstance(x, (list, tuple)) else x
        if jnp.ndim(x) != 1:
            raise ValueError(
                f"`x` must be one sample (features,); got shape {jnp.shape(x)}. For many "
                f"samples use train_art."
            )
        x = _check_x(kind, state, x[None], "x")[0]
        if label is not None and jnp.ndim(label) != 0:
            raise ValueError(f"`label` must be one int class id; got shape {jnp.shape(label)}.")
        label = _check_labels(kind, None if label is None else jnp.reshape(label, (1,)), 1, "label")
        return learn(state, x, jnp.full((), -1, jnp.int32) if label is None else label[0])

    def predict(state: ARTState, x: Any) -> Array:
        return infer(state, _check_x(kind, state, x, "x"))

    @jax.jit  # one program per kind and shape: op by op, a new shape took ~2 s of dispatch
    def learn(state: ARTState, x: Array, label: Array) -> tuple[ARTState, Array]:
        return resonate(state, encode(x), label)

    @jax.jit
    def infer(state: ARTState, x: Array) -> Array:
        j = best_category(state, encode(x))
        if not kind.supervised:
            return j
        return jnp.where(j >= 0, state.labels[jnp.maximum(j, 0)], -1)

    return update, predict, check


def _learner(hyper: tuple, capacity: int, kind: _Kind) -> ARTLearner:
    capacity = check_positive_int("capacity", capacity)

    def init(num_features: int, *, dtype: Any = None) -> ARTState:
        num_features = check_positive_int("num_features", num_features)
        dtype = jnp.result_type(float) if dtype is None else jnp.dtype(dtype)
        if not jnp.issubdtype(dtype, jnp.floating) or jnp.zeros((), dtype).dtype != dtype:
            raise TypeError(
                f"`dtype` must be a floating dtype JAX can use here (float64 needs "
                f"jax_enable_x64); got {dtype}."
            )
        width = 2 * num_features if kind.complement else num_features
        rho, alpha, beta, epsilon = (jnp.asarray(v, dtype) for v in hyper)
        zero = jnp.zeros((), jnp.int32)
        return ARTState(
            jnp.ones((capacity, width), dtype),
            jnp.zeros(capacity, bool),
            jnp.full(capacity, -1, jnp.int32),
            rho, alpha, beta, epsilon, zero, zero,
        )  # fmt: skip

    return ARTLearner(init, *_rules(kind))


def fuzzy_art(
    *,
    rho: Any,
    alpha: Any = 1e-3,
    beta: Any = 1.0,
    capacity: int = 512,
    complement: bool = True,
) -> ARTLearner:
    """Unsupervised Fuzzy ART (see the module docstring for the equations).

    Args:
        rho: baseline vigilance ``ρ ∈ [0, 1]`` (higher: more, smaller categories).
        alpha: choice parameter ``α > 0``. beta: learning rate ``β ∈ (0, 1]`` (1: fast).
        capacity: the most categories (static); running out is reported, never silent.
        complement: complement-code the inputs (strongly recommended: it stops category
            proliferation; without it ``|I|`` varies with the input).

    Returns:
        An :class:`ARTLearner`; ``update(state, x)`` takes no label (one is refused).

    Example:
        >>> import jax.numpy as jnp
        >>> from fnnet import competitive
        >>> art = competitive.fuzzy_art(rho=0.9, capacity=4)
        >>> state, j = art.update(art.init(2), jnp.array([0.25, 0.75]))
        >>> int(j), state.weights[0].tolist()
        (0, [0.25, 0.75, 0.75, 0.25])
    """
    kind = FUZZY if complement else FUZZY_UNCODED
    return _learner(_hyperparams(rho, alpha, beta, 0.0), capacity, kind)


def art1(*, rho: Any, L: Any = 2.0, capacity: int = 512) -> ARTLearner:
    """ART 1 for binary inputs, fast learning (``T_j = L|I ∩ w_j| / (L − 1 + |w_j|)``, ``L > 1``).

    Implemented as the Fuzzy ART search on uncoded binary inputs with ``α = L − 1`` and
    ``β = 1`` (for 0/1 vectors ``∧`` is ``∩``). Inputs must be 0/1 (int, bool or float) with at
    least one 1.
    """
    check_real("L", L, low=1.0, low_open=True)
    return _learner(_hyperparams(rho, L - 1.0, 1.0, 0.0), capacity, ART1)


def fuzzy_artmap(
    *,
    rho: Any = 0.0,
    alpha: Any = 1e-3,
    beta: Any = 1.0,
    epsilon: Any = 1e-3,
    capacity: int = 512,
) -> ARTLearner:
    """Simplified Fuzzy ARTMAP classifier with match tracking; ``update(state, x, label)``.

    Args:
        rho: baseline vigilance ``ρ̄ ∈ [0, 1]`` of the input module; ``0`` lets match tracking
            alone decide when to add categories.
        alpha: as in :func:`fuzzy_art`.
        beta: as in :func:`fuzzy_art`.
        epsilon: match-tracking step ``ε ≥ 0``
            (``ρ ← |I ∧ w_J|/|I| + ε`` after a wrong prediction; "MT+"). The default 1e-3
            differs from artlib's 1e-10 on purpose: next to a match of order 1 a float32
            state resolves about 6e-8, so ``m + 1e-10`` would round back to ``m``. To follow
            artlib exactly, use ``epsilon=1e-10`` with ``init(..., dtype=jnp.float64)``; the
            benchmarks use 1e-6.
        capacity: the most categories (static).

    Returns:
        An :class:`ARTLearner` whose ``update`` and :func:`train_art` require labels and
        whose ``predict`` returns classes (−1: no committed category, or a NaN row).
    """
    return _learner(_hyperparams(rho, alpha, beta, epsilon), capacity, ARTMAP)
