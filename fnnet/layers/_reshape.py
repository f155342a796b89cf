"""``Flatten``: a reshape, so no hand-written rule (JAX's transpose of a reshape is a reshape)."""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from fnnet._checks import check_positive_int
from fnnet.layers._contract import Layer, no_params


def Flatten(num_axes: int | None = None) -> Layer:
    """Flatten trailing axes into one: ``(batch, d1, …, dn) -> (batch, d1·…·dn)``.

    Args:
        num_axes: how many trailing axes to merge. ``None`` (default) merges every axis after
            the first, which is then the batch axis: ``(batch, 5, 25) -> (batch, 125)``. A layer
            cannot tell one example from a batch by its shape alone, so for unbatched input
            (or ``serial.init`` with one example's shape) give ``num_axes`` (2 after a 1-d
            convolution, 3 after a 2-d one): ``(5, 25) -> (125,)`` and
            ``(batch, 5, 25) -> (batch, 125)`` alike.

    Returns:
        A parameter-free ``Layer``. The merge is row-major (the last axis varies fastest), as
        ``jnp.reshape`` and PyTorch's ``flatten`` on channels-last data.
    """
    if num_axes is not None:
        num_axes = check_positive_int("num_axes", num_axes)

    def apply(params: tuple, x: Any, *, key: Any = None, training: bool = False) -> jax.Array:
        del params, key, training
        x = jnp.asarray(x)
        keep = min(x.ndim, 1) if num_axes is None else x.ndim - num_axes
        if keep < 0 or x.ndim < 1:
            raise ValueError(
                f"`x` must have at least {num_axes or 1} axes to flatten (num_axes={num_axes}); "
                f"got shape {x.shape}."
            )
        return x.reshape(*x.shape[:keep], math.prod(x.shape[keep:]))

    return Layer(no_params, apply)


__all__ = ["Flatten"]
