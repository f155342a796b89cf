"""``Regime``: what "dead" and "saturated" mean for an activation, and the fractions they give."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from fnnet import _checks
from fnnet._types import Array
from fnnet.activations import relu, sigmoid, tanh


class Regime(NamedTuple):
    """What "dead" and "saturated" mean for one activation, as tests on its output ``a``.

    ``dead(a)`` is true where an entry passes no gradient (``f'(z) = 0``), e.g. ``a <= 0`` for
    ReLU; a unit is dead when it is true on every entry of the batch. ``saturated(a, margin)``
    is true where an entry sits within ``margin`` of an asymptote, e.g. ``|a| > 1 − margin`` for
    tanh. Either may be ``None`` (NaN is reported). Both return boolean arrays shaped like ``a``.
    """

    dead: Callable[[Array], Array] | None = None
    saturated: Callable[[Array, Array], Array] | None = None


def _relu_off(a: Array) -> Array:
    return a <= 0  # relu(z) = 0 ⇔ z ≤ 0


def _sigmoid_tails(a: Array, margin: Array) -> Array:
    return (a < margin) | (a > 1.0 - margin)


def _tanh_tails(a: Array, margin: Array) -> Array:
    return jnp.abs(a) > 1.0 - margin


_RELU, _SIGMOID, _TANH = (
    Regime(dead=_relu_off),
    Regime(saturated=_sigmoid_tails),
    Regime(saturated=_tanh_tails),
)
_BUILT_IN = (
    (relu, _RELU),
    (jax.nn.relu, _RELU),
    (sigmoid, _SIGMOID),
    (jax.nn.sigmoid, _SIGMOID),
    (tanh, _TANH),
    (jnp.tanh, _TANH),
    (jax.nn.tanh, _TANH),
)


def check_regimes(regimes: Any) -> tuple:
    """The user's ``(function, Regime)`` pairs first, then the built-in ones."""
    if regimes is None:
        return _BUILT_IN
    if not isinstance(regimes, Mapping):
        raise TypeError(
            f"`regimes` must be a mapping {{activation function: Regime(...)}}; got "
            f"{type(regimes).__name__}."
        )
    for f, regime in regimes.items():
        _checks.check_callable("a key of `regimes`", f, example="my_activation")
        if not isinstance(regime, Regime) or not all(
            test is None or callable(test) for test in regime
        ):
            raise TypeError(
                f"`regimes[{name_of(f)}]` must be a Regime(dead=..., saturated=...) of functions "
                f"or None; got {regime!r}."
            )
    return tuple(regimes.items()) + _BUILT_IN


def regime_of(f: Any, regimes: tuple) -> Regime:
    return next((regime for known, regime in regimes if known is f), Regime())


def fractions(
    regime: Regime, a: Array, margin: Array, dtype: Any, valid: Array | None = None
) -> tuple[Array, Array]:
    """Dead units (true on every entry, per unit of the last axis) and saturated entries;
    ``valid`` (broadcastable to ``a``) leaves padded entries out of both."""
    nan, margin = jnp.full((), jnp.nan, dtype), margin.astype(a.dtype)
    units = tuple(range(a.ndim - 1))
    valid = jnp.ones((1,) * a.ndim, bool) if valid is None else valid
    dead = saturated = nan
    if regime.dead is not None:
        dead = jnp.mean(jnp.all(regime.dead(a) | ~valid, axis=units).astype(dtype))
    if regime.saturated is not None:
        count = jnp.sum(jnp.broadcast_to(valid, a.shape).astype(dtype))
        saturated = jnp.sum((regime.saturated(a, margin) & valid).astype(dtype)) / count
    return dead, saturated


def name_of(f: Any) -> str:
    """An activation's name (through ``functools.partial``), for messages and tables."""
    while isinstance(f, functools.partial):
        f = f.func
    return getattr(f, "__name__", type(f).__name__)
