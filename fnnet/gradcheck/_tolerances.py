"""The one tolerance table of the gradient checker, per dtype and per comparison.

A comparison of a computed array ``a`` against a desired array ``b`` passes when, for every
entry, ``|a − b| ≤ atol · s + rtol · |b|``, where ``s = max(1, max magnitude)`` is the scale of
the compared quantity (the largest ``|b|``, or for a projection ``vᵀJu`` the largest sum of
absolute terms ``Σ|cⱼ uⱼ|``): ``atol`` is relative to the size of the numbers once they exceed
1, so a gradient of size 1e4 is not held to an absolute 1e-6.

Which row applies: the less precise dtype of the two sides. A float32 check compares the rule's
float32 VJP with the reference's float32 VJP (``autodiff`` row of float32) and with finite
differences taken in float64 (``finite_differences`` row of float32, since one side is float32).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

import jax.numpy as jnp


class Tolerance(NamedTuple):
    """Relative and absolute tolerance of one comparison: ``|a − b| ≤ atol · s + rtol · |b|``."""

    rtol: float
    atol: float


class DtypeTolerances(NamedTuple):
    """The tolerances of one dtype, one per kind of comparison.

    * ``autodiff``: the hand rule against plain autodiff of the reference forward (same
      math, different code, same dtype); also forward values and forward mode.
    * ``finite_differences``: either VJP against central finite differences.
    """

    autodiff: Tolerance
    finite_differences: Tolerance


# Calibrated on the whole registry (16 points x 2 shapes per rule and dtype, orders 1 and 2):
# a correct rule used at most 0.1 of the float32 ``autodiff`` tolerance and below 0.03 of the
# others; the wrong rules of the tests miss by factors of 1e3 to 1e6. (atol = 1e-6 failed
# correct float32 rules: rounding of a(1 − a) in saturated sigmoids is tens of ulps.) Finite differences are taken in float64, except for a function that
# ignores float64 inputs (then in float32, step eps^(1/3) ≈ 5e-3), hence the looser float32 row.
TOLERANCES: Mapping[str, DtypeTolerances] = MappingProxyType(
    {
        "float32": DtypeTolerances(
            autodiff=Tolerance(rtol=1e-5, atol=5e-6),
            finite_differences=Tolerance(rtol=1e-3, atol=1e-4),
        ),
        "float64": DtypeTolerances(
            autodiff=Tolerance(rtol=1e-10, atol=1e-12),
            finite_differences=Tolerance(rtol=1e-6, atol=1e-8),
        ),
    }
)

KINDS = DtypeTolerances._fields


def dtype_name(dtype: Any) -> str:
    """``jnp.float32``, ``"float32"`` or ``np.dtype("float32")`` -> ``"float32"``."""
    try:
        return jnp.dtype(dtype).name
    except TypeError:
        raise TypeError(
            f"`dtype` must be a floating dtype such as jnp.float32; got {dtype!r}."
        ) from None


def lookup(table: Mapping[str, DtypeTolerances], dtype: Any, kind: str) -> Tolerance:
    """The tolerance for comparison ``kind`` at ``dtype`` in ``table``, with a clear error."""
    name = dtype_name(dtype)
    if name not in table:
        raise ValueError(
            f"`dtype` must be one of the dtypes of the tolerance table ({', '.join(table)}); "
            f"got {name}. Pass `tolerances=` with a row for it to check other dtypes."
        )
    return getattr(table[name], kind)


def less_precise(a: Any, b: Any) -> str:
    """Name of the dtype with the larger machine epsilon (the one that limits a comparison)."""
    a, b = jnp.dtype(a), jnp.dtype(b)
    return (a if jnp.finfo(a).eps >= jnp.finfo(b).eps else b).name


def check_table(tolerances: Any) -> Mapping[str, DtypeTolerances]:
    """Validate a user tolerance table: ``{dtype name: DtypeTolerances}``."""
    if not isinstance(tolerances, Mapping):
        raise TypeError(
            f"`tolerances` must be a mapping {{dtype name: DtypeTolerances}} like "
            f"fnnet.gradcheck.TOLERANCES; got {type(tolerances).__name__}."
        )
    for name, row in tolerances.items():
        if not isinstance(row, DtypeTolerances):
            raise TypeError(
                f"`tolerances[{name!r}]` must be a DtypeTolerances(autodiff=..., "
                f"finite_differences=...); got {row!r}."
            )
    return tolerances


__all__ = ["Tolerance", "DtypeTolerances", "TOLERANCES"]
