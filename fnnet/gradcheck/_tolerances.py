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

import jax
import jax.numpy as jnp
import numpy as np


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


def ratios(computed: Any, desired: Any, tol: Tolerance, magnitude: Any = None, noise: Any = 0.0):
    """``|a − b| / (atol · s + rtol · |b| + noise)`` per entry, flattened (≤ 1 passes; a NaN
    difference is ``inf``); ``s = max(1, max |magnitude|)``, ``magnitude`` defaulting to ``b``."""
    a, b = np.asarray(computed, np.float64).ravel(), np.asarray(desired, np.float64).ravel()
    err = np.abs(a - b)
    size = np.abs(b if magnitude is None else np.asarray(magnitude, np.float64))
    scale = max(1.0, float(np.max(size))) if size.size else 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = err / (tol.atol * scale + tol.rtol * np.abs(b) + np.ravel(noise))
    return np.where(np.isnan(err), np.inf, ratio)


def _floating(x: Any) -> Any:
    dtype = np.result_type(x)
    return dtype if np.issubdtype(dtype, np.floating) else np.dtype("float64")


def assert_close(actual: Any, desired: Any, *, kind: str = "autodiff", err_msg: str = "") -> None:
    """Assert that ``actual`` equals ``desired`` to the tolerance gradcheck uses for ``kind``.

    The one table (:data:`TOLERANCES`) and the one criterion of the gradient checker, for tests
    that compare a rule against an independent reference: per leaf of matching pytrees,
    ``|a − b| ≤ atol · max(1, max|b|) + rtol · |b|`` with the row of the less precise of the
    two dtypes. NaN matches NaN at the same place (NaN in, NaN out); anywhere else it fails.

    Args:
        actual: the rule's result (an array or a pytree of arrays).
        desired: the reference's result, same structure and shapes.
        kind: ``"autodiff"`` (rule against autodiff of a reference, or forward values) or
            ``"finite_differences"``.
        err_msg: added to the failure message.

    Example:
        >>> import jax.numpy as jnp
        >>> from fnnet.gradcheck import assert_close
        >>> assert_close(jnp.float32(1.0) + 1e-6, jnp.float32(1.0))
    """
    if kind not in KINDS:
        raise ValueError(f"`kind` must be one of {KINDS}; got {kind!r}.")
    got, want = jax.tree_util.tree_leaves(actual), jax.tree_util.tree_leaves(desired)
    if jax.tree_util.tree_structure(actual) != jax.tree_util.tree_structure(desired):
        raise AssertionError(
            f"different pytrees: {jax.tree_util.tree_structure(actual)} vs "
            f"{jax.tree_util.tree_structure(desired)}. {err_msg}"
        )
    for i, (a, b) in enumerate(zip(got, want)):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape:
            raise AssertionError(f"leaf {i}: shapes differ, {a.shape} vs {b.shape}. {err_msg}")
        tol = lookup(TOLERANCES, less_precise(_floating(a), _floating(b)), kind)
        both_nan = np.isnan(a.astype(np.float64)) & np.isnan(b.astype(np.float64))
        ratio = np.where(both_nan.ravel(), 0.0, ratios(a, np.where(both_nan, 0, b), tol))
        if ratio.size and not np.max(ratio) <= 1:
            at = int(np.argmax(ratio))
            raise AssertionError(
                f"leaf {i}: not close at flat index {at} ({a.ravel()[at]!r} vs "
                f"{b.ravel()[at]!r}), {ratio[at]:.3g}x the tolerance {tol} "
                f"({int(np.sum(ratio > 1))} of {ratio.size} entries off). {err_msg}"
            )
