"""Interval arithmetic: one rule per primitive, sound in floating point.

An :class:`Interval` ``[lo, hi]`` says every element of an array lies in it. Each rule maps
the operands' intervals to the result's, evaluating the endpoints with the same operation in
the same dtype as the real computation: round-to-nearest is monotone (``u ≤ w ⇒ fl(u) ≤
fl(w)``), so the computed value lies inside the computed endpoints. What monotone rounding does
not cover (a contracted multiply-add, a subnormal flushed to zero, a transcendental function a
few ulps off) is covered by :func:`widen`, applied to every computed result. Domain edges
(a divisor interval that may hold 0, ``sqrt`` or ``log`` below their domain) are reported to the
caller, which then certifies nothing. Used by :mod:`fnnet.training._bounds`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from fnnet._types import Array


class Interval(NamedTuple):
    """Every element of an array lies in ``[lo, hi]`` (0-d arrays of the array's dtype)."""

    lo: Array
    hi: Array


def leaf_interval(x: Array) -> Interval:
    """The exact ``[min, max]`` of ``x`` (NaN endpoints when ``x`` holds a NaN)."""
    x = jnp.asarray(x)
    return Interval(jnp.min(x), jnp.max(x))  # XLA's min and max propagate NaN


def symmetric_interval(x: Array) -> Interval:
    """``[−Σ|x|, Σ|x|]``: every element lies in it, from one float sum.

    ``Σ|x| ≥ max|x|`` holds in floating point too (a rounded sum of non-negative terms is at
    least each term), and a sum vectorises where ``max`` does not (``max|x|`` costs 1.7× on CPU).
    Not finite when ``x`` holds a NaN or inf, or when the sum overflows.
    """
    bound = jnp.sum(jnp.abs(x))
    return Interval(-bound, bound)


def point(v: Any) -> Interval:
    return Interval(v, v)


def hull(*parts: Array) -> Interval:  # elementwise chains: XLA fuses them into one loop
    return Interval(functools.reduce(jnp.minimum, parts), functools.reduce(jnp.maximum, parts))


def _mul(a: Interval, b: Interval) -> Interval:
    return hull(a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi)


def square(a: Interval, power: int) -> Interval:
    lo_p, hi_p = a.lo**power, a.hi**power
    if power % 2:
        return Interval(lo_p, hi_p)
    zero = jnp.zeros_like(a.lo)
    inner = jnp.where(a.lo >= 0, lo_p, jnp.where(a.hi <= 0, hi_p, zero))
    return Interval(inner, jnp.maximum(lo_p, hi_p))


def smallest_normal(x: Array) -> Array:  # XLA:CPU flushes what lies below it to zero
    return jnp.asarray(float(jnp.finfo(x.dtype).tiny), x.dtype)


def _monotone(fn: Callable[[Array], Array], *, low: float | None = None, strict: bool = False):
    """Rule of an increasing function, defined on ``x ≥ low`` (``x > low`` when strict).

    The domain is checked a normal number clear of a strict edge (a subnormal ``x`` may be
    flushed to 0, ``log(0) = −inf``), and the function is evaluated just outside the interval
    (for ``sign``: a subnormal may read as 0)."""

    def rule(eqn, ins, domain):
        (a,) = ins
        tiny = smallest_normal(a.lo)
        below = a.lo - tiny
        if low is not None:
            edge = jnp.asarray(low, a.lo.dtype)
            domain.append(a.lo > edge + tiny if strict else a.lo >= edge)
            below = jnp.maximum(below, edge)
        return Interval(fn(below), fn(a.hi + tiny))

    return rule


def _binary(fn: Callable[[Interval, Interval], Interval]):
    def rule(eqn, ins, domain):
        return fn(*ins)

    return rule


def _div(eqn, ins, domain):
    """Two quotients, not four: with the divisor made positive (``a/b = (−a)/(−b)``, exact),
    ``x/y`` rises with ``x`` and, for ``y > 0``, falls with ``y`` when ``x ≥ 0`` and rises when
    ``x < 0``, so each endpoint's divisor is chosen by its sign (XLA keeps every division
    result as its own kernel, so the count matters)."""
    a, b = ins
    tiny = smallest_normal(b.lo)  # a divisor that may be 0 (or flushed to 0) proves nothing
    negative = b.hi < -tiny
    domain.append((b.lo > tiny) | negative)
    a_lo, a_hi = jnp.where(negative, -a.hi, a.lo), jnp.where(negative, -a.lo, a.hi)
    b_lo, b_hi = jnp.where(negative, -b.hi, b.lo), jnp.where(negative, -b.lo, b.hi)
    return Interval(
        a_lo / jnp.where(a_lo >= 0, b_hi, b_lo), a_hi / jnp.where(a_hi >= 0, b_lo, b_hi)
    )


def _rsqrt(eqn, ins, domain):
    (a,) = ins
    domain.append(a.lo > smallest_normal(a.lo))
    return Interval(lax.rsqrt(a.hi), lax.rsqrt(a.lo))


def _integer_pow(eqn, ins, domain):
    (a,) = ins
    y = eqn.params["y"]
    if y >= 0:
        return square(a, y)
    positive = square(a, -y)
    one = jnp.ones_like(a.lo)
    return _div(eqn, [point(one), positive], domain)


def _pow(eqn, ins, domain):
    base, exponent = ins
    domain.append(base.lo > smallest_normal(base.lo))  # real y needs x > 0: then monotone
    return hull(*(lax.pow(b, e) for b in (base.lo, base.hi) for e in (exponent.lo, exponent.hi)))


def _abs(eqn, ins, domain):
    (a,) = ins
    zero = jnp.zeros_like(a.lo)
    lo = jnp.where(a.lo >= 0, a.lo, jnp.where(a.hi <= 0, -a.hi, zero))
    return Interval(lo, jnp.maximum(-a.lo, a.hi))


def _bounded(low: float, high: float):  # sin, cos: a fixed range for finite input
    def rule(eqn, ins, domain):
        dtype = ins[0].lo.dtype
        return Interval(jnp.asarray(low, dtype), jnp.asarray(high, dtype))

    return rule


def same(eqn, ins, domain):  # shape-only primitives: the elements do not change
    return ins[0]


def _union(eqn, ins, domain):
    return hull(*(i.lo for i in ins), *(i.hi for i in ins))


def _reduce_sum(eqn, ins, domain):
    (a,) = ins
    shape = eqn.invars[0].aval.shape
    count = int(np.prod([shape[axis] for axis in eqn.params["axes"]], dtype=np.int64))
    n = jnp.asarray(count, a.lo.dtype)
    return hull(n * a.lo, n * a.hi) if count else point(jnp.zeros_like(a.lo))


def _dot(eqn, ins, domain):
    a, b = ins
    (contract_a, _), _ = eqn.params["dimension_numbers"]
    shape = eqn.invars[0].aval.shape
    count = int(np.prod([shape[axis] for axis in contract_a], dtype=np.int64))
    product = _mul(a, b)
    n = jnp.asarray(count, product.lo.dtype)
    return hull(n * product.lo, n * product.hi, jnp.zeros_like(product.lo))


def _clamp(eqn, ins, domain):
    low, x, high = ins
    return Interval(jnp.minimum(jnp.maximum(low.lo, x.lo), high.lo),
                    jnp.minimum(jnp.maximum(low.hi, x.hi), high.hi))  # fmt: skip


def _cast(eqn, ins, domain):
    (a,) = ins
    dtype = eqn.params["new_dtype"]
    if not jnp.issubdtype(dtype, jnp.inexact) and jnp.issubdtype(a.lo.dtype, jnp.inexact):
        return None  # float → int: no rule (overflow is undefined)
    return Interval(a.lo.astype(dtype), a.hi.astype(dtype))


RULES: dict[str, Callable[..., Any]] = {
    "add": _binary(lambda a, b: Interval(a.lo + b.lo, a.hi + b.hi)),
    "sub": _binary(lambda a, b: Interval(a.lo - b.hi, a.hi - b.lo)),
    "mul": _binary(_mul),  # x·x (one operand twice) is squared in _run
    "max": _binary(lambda a, b: Interval(jnp.maximum(a.lo, b.lo), jnp.maximum(a.hi, b.hi))),
    "min": _binary(lambda a, b: Interval(jnp.minimum(a.lo, b.lo), jnp.minimum(a.hi, b.hi))),
    "neg": _binary(lambda a: Interval(-a.hi, -a.lo)),
    "div": _div,
    "abs": _abs,
    "sqrt": _monotone(jnp.sqrt, low=0.0),
    "rsqrt": _rsqrt,
    "integer_pow": _integer_pow,
    "square": lambda eqn, ins, domain: square(ins[0], 2),
    "pow": _pow,
    "exp": _monotone(jnp.exp),
    "exp2": _monotone(jnp.exp2),
    "expm1": _monotone(jnp.expm1),
    "log": _monotone(jnp.log, low=0.0, strict=True),
    "log1p": _monotone(jnp.log1p, low=-1.0, strict=True),
    "tanh": _monotone(jnp.tanh),
    "logistic": _monotone(jax.nn.sigmoid),
    "erf": _monotone(lax.erf),
    "sign": _monotone(jnp.sign),
    "floor": _monotone(jnp.floor),
    "ceil": _monotone(jnp.ceil),
    "round": _monotone(jnp.round),
    "sin": _bounded(-1.0, 1.0),
    "cos": _bounded(-1.0, 1.0),
    "clamp": _clamp,
    "convert_element_type": _cast,
    "select_n": _union,  # an exact predicate is handled before the rules
    "concatenate": _union,
    "pad": _union,  # the operand and the padding value
    "reduce_sum": _reduce_sum,
    "dot_general": _dot,
    **dict.fromkeys(
        [
            "broadcast_in_dim",
            "reshape",
            "squeeze",
            "expand_dims",
            "transpose",
            "rev",
            "copy",
            "copy_p",
            "slice",
            "dynamic_slice",
            "reduce_max",
            "reduce_min",
        ],
        same,
    ),  # fmt: skip
}


NONNEGATIVE = {"sqrt", "rsqrt", "square", "exp", "exp2", "logistic"}  # never below zero
_ULPS = 16  # the widening, in units of the dtype's epsilon (relative)


def _bits(x: Array) -> Array:  # the bit pattern: immune to subnormals being read as zero
    return lax.bitcast_convert_type(x, jnp.dtype(f"uint{8 * jnp.dtype(x.dtype).itemsize}"))


def without_subnormals(a: Interval) -> Interval:
    """``a`` widened so that no endpoint is subnormal: ``lo`` to 0 (or to minus the smallest
    normal when negative), ``hi`` to the smallest normal (or to 0 when not positive).

    XLA:CPU reads subnormal operands as zero in some kernels and not in others, so a subnormal
    endpoint may sit on the wrong side of zero in a comparison (``lo >= 0``) or of the real
    value. The sign is read from the bit pattern, which no flushing changes."""
    if not jnp.issubdtype(a.lo.dtype, jnp.floating):
        return a
    tiny = smallest_normal(a.lo)
    zero = jnp.zeros_like(a.lo)
    sign = jnp.asarray(1, _bits(a.lo).dtype) << (8 * jnp.dtype(a.lo.dtype).itemsize - 1)
    lo_negative = (_bits(a.lo) & sign) != 0
    lo_below = lo_negative & (_bits(a.lo) != sign)  # negative, and not −0
    hi_positive = ((_bits(a.hi) & sign) == 0) & (_bits(a.hi) != 0)
    lo = jnp.where(jnp.abs(a.lo) < tiny, jnp.where(lo_below, -tiny, zero), a.lo)
    hi = jnp.where(jnp.abs(a.hi) < tiny, jnp.where(hi_positive, tiny, zero), a.hi)
    return Interval(lo, hi)


def widen(out: Interval, nonnegative: bool, operands: list[Interval]) -> Interval:
    """Move the endpoints outwards by ``16 ε |x|`` plus the smallest normal number.

    Covers what the monotone-rounding argument does not: a contracted multiply-add, a subnormal
    flushed to zero (XLA:CPU flushes them in any arithmetic, ``max`` included), a transcendental function a few ulps off, a scalar computed by a different code
    path than the same scalar inside the update loop. A lower endpoint at or above zero stays
    there when the result cannot be negative (a square root, or a sum, product, quotient of
    non-negative operands), so ``sqrt(v)`` of a second moment still certifies.
    """
    dtype = out.lo.dtype
    if not jnp.issubdtype(dtype, jnp.floating):
        return out
    info = jnp.finfo(dtype)
    k = jnp.asarray(_ULPS * float(info.eps), dtype)
    tiny = smallest_normal(out.lo)
    lo = out.lo - (jnp.abs(out.lo) * k + tiny)
    hi = out.hi + (jnp.abs(out.hi) * k + tiny)
    keep = jnp.asarray(nonnegative)
    if not nonnegative and operands:
        keep = functools.reduce(jnp.logical_and, [o.lo >= 0 for o in operands])
    return Interval(
        jnp.where(keep & (out.lo >= 0), jnp.maximum(lo, 0), lo), hi
    )  # rules that read their operands' shapes
