"""Layers of the parametric activations: ``PReLU`` (a learned slope) and ``RReLU`` (random).

The rules are :func:`fnnet.activations.prelu` and :func:`fnnet.activations.rrelu`; these are
their ``Layer`` wrappers.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from fnnet import activations
from fnnet._checks import check_key
from fnnet._layer_checks import check_shape
from fnnet._types import Array, PRNGKey
from fnnet.layers._contract import Layer, no_params


def PReLU(init_slope: float = 0.25, *, per_feature: bool = True, dtype: Any = jnp.float32) -> Layer:
    """PReLU layer ``a = z if z > 0 else α·z`` whose slope ``α`` is a learned parameter.

    Args:
        init_slope: initial value of ``α`` (He et al. use 0.25).
        per_feature: one slope per feature (params shape ``(features,)``) or one shared
            scalar (shape ``()``).
        dtype: dtype of ``α``.

    Returns:
        A ``Layer`` whose params are the slope array; its gradient comes from
        ``fnnet.activations.prelu``'s hand-written rule (``dα = Σ da ⊙ min(z, 0)``).
    """

    def init(key: PRNGKey, input_shape: Any) -> Array:
        check_key("key", key)
        shape = (check_shape("input_shape", input_shape)[-1],) if per_feature else ()
        return jnp.full(shape, init_slope, dtype)

    def apply(
        params: Array, x: Array, *, key: PRNGKey | None = None, training: bool = False
    ) -> Array:
        del key, training
        return activations.prelu(jnp.asarray(x), params)

    return Layer(init, apply)


def RReLU(lower: Any = 1.0 / 8.0, upper: Any = 1.0 / 3.0) -> Layer:
    """Randomized leaky ReLU layer: slopes ``U(lower, upper)`` per element when training.

    With ``training=True`` the layer needs a ``key`` (``serial`` derives one per layer from the
    step key); otherwise it uses the mean slope ``(lower + upper) / 2``. No parameters.
    """

    def apply(
        params: tuple, x: Array, *, key: PRNGKey | None = None, training: bool = False
    ) -> Array:
        del params
        return activations.rrelu(
            jnp.asarray(x), key=key, lower=lower, upper=upper, training=training
        )

    return Layer(no_params, apply)
