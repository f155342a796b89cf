"""The [0, 1] scaling and the complement coding ART needs.

ART's choice and match functions assume every feature lies in ``[0, 1]`` (complement coding
``(a, 1 − a)`` keeps ``|I|`` constant only then). :func:`scale_to_unit` maps data into ``[0, 1]``
with bounds you state, the same bounds for training and test data, and refuses values outside
them instead of silently clipping; the ART trainers refuse data outside ``[0, 1]``.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from fnnet._checks import check_samples, is_concrete
from fnnet._types import Array


def scale_to_unit(x: Any, *, low: Any, high: Any) -> Array:
    """Min–max scaling ``(x − low) / (high − low)`` into ``[0, 1]`` with stated bounds.

    Args:
        x: data ``(n, features)`` (one sample: ``x[None]``); checked by ``check_samples``
            (finite; integers are cast to the default float).
        low: the lower bound, a scalar or one per feature (e.g. ``0`` for 4-bit pixels).
        high: the upper bound, same shape rules; ``high > low`` everywhere.

    Returns:
        The scaled data, same shape and floating dtype as ``x``.

    Raises:
        ValueError: if ``high <= low`` somewhere, or ``x`` (when concrete) has values outside
            ``[low, high]``: pick bounds that cover the data you will see, don't clip silently.
    """
    x = check_samples("x", x)
    low, high = jnp.asarray(low, x.dtype), jnp.asarray(high, x.dtype)
    for arg, bound in (("low", low), ("high", high)):
        if bound.ndim > 1 or (bound.ndim == 1 and bound.shape[0] != x.shape[-1]):
            raise ValueError(
                f"`{arg}` must be a scalar or have one value per feature ({x.shape[-1]}); "
                f"got shape {bound.shape}."
            )
    if all(is_concrete(v) for v in (x, low, high)):
        xs, lo, hi = np.asarray(x), np.asarray(low), np.asarray(high)
        if not (hi > lo).all():
            raise ValueError(f"`high` must exceed `low` everywhere; got low={lo}, high={hi}.")
        outside = (xs < lo) | (xs > hi)
        if outside.any():
            raise ValueError(
                f"`x` has {int(outside.sum())} values outside the stated bounds [low, high] "
                f"(data range [{xs.min():g}, {xs.max():g}]); widen the bounds."
            )
    return (x - low) / (high - low)


def complement_code(x: Array) -> Array:
    """Complement coding ``I = (a, 1 − a)``: ``(..., m) -> (..., 2m)`` with ``|I| = m``."""
    return jnp.concatenate([x, 1.0 - x], axis=-1)
