"""``Flatten``: a reshape, so no hand-written rule (JAX's transpose of a reshape is a reshape)."""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from fnnet._checks import check_key, check_positive_int
from fnnet._layer_checks import check_shape
from fnnet.layers._contract import Layer


def Flatten(num_axes: int | None = None) -> Layer:
    """Merge the axes after the batch axis into one: ``(batch, d1, …, dn) -> (batch, d1·…·dn)``.

    Args:
        num_axes: how many trailing axes to merge; ``None`` (default): every axis after the
            first, the batch axis, ``(batch, 5, 25) -> (batch, 125)``. With ``num_axes=2``,
            ``(batch, time, 5, 25) -> (batch, time, 125)``. The batch axis is never merged.

    Returns:
        A parameter-free ``Layer``. The merge is row-major (the last axis varies fastest), as
        ``jnp.reshape`` and PyTorch's ``flatten`` on channels-last data. Batched input only: a
        shape without an axis to merge besides the batch axis (``(40,)``) is refused, as is
        ``num_axes`` reaching the batch axis; for one example, ``x[None]``.
    """
    if num_axes is not None:
        num_axes = check_positive_int("num_axes", num_axes)
    merged = 1 if num_axes is None else num_axes

    def check(name: str, shape: tuple[int, ...]) -> int:
        """The number of leading axes kept (at least the batch axis)."""
        if len(shape) < merged + 1:
            fix = f"{(1, *shape)}" if name == "input_shape" else f"`{name}[None]`"
            raise ValueError(
                f"`{name}` must have a batch axis and {merged} more to merge "
                f"(num_axes={num_axes}); got shape {shape}. Flatten takes batched input only: "
                f"for one example, add the batch axis, {fix}."
            )
        return 1 if num_axes is None else len(shape) - num_axes

    def init(key: Any, input_shape: Any) -> tuple:
        check_key("key", key)
        check("input_shape", check_shape("input_shape", input_shape))
        return ()

    def apply(params: tuple, x: Any, *, key: Any = None, training: bool = False) -> jax.Array:
        del params, key, training
        x = jnp.asarray(x)
        keep = check("x", x.shape)
        return x.reshape(*x.shape[:keep], math.prod(x.shape[keep:]))

    return Layer(init, apply)
