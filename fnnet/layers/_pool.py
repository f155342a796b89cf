"""Max and average pooling (the textbook's subsampling) with hand-written δ rules, channels-last.

Both reuse the convolution's patch extraction and its adjoint ``col2im`` (``_conv.py``): a
window's entries are ``cols[b, t, κ, c] = x_pad[b, s·t + κ, c]``, ``K`` offsets ``κ`` per window.
Pooling acts on each channel separately; the shape arithmetic is the convolution's.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp

from fnnet._checks import check_key
from fnnet.layers._contract import Layer
from fnnet.layers._conv import (
    Window,
    check_spatial_shape,
    col2im,
    make_window,
    patches,
    spatial_input,
    spatial_shape,
)
from fnnet.rules import hand_rule


@hand_rule
@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def max_pool(window: Window, x: jax.Array) -> jax.Array:
    """Max pooling ``y[b, t, c] = max_κ cols[b, t, κ, c]``, padding with −∞.

    Backward: δ goes to the winning entry of each window, ``∂cols[b, t, κ, c] = δ[b, t, c]`` if
    ``κ = κ*(b, t, c)`` else 0, then ``∂x = col2im(∂cols)`` (overlapping windows add up).
    Tie rule: the winner is the *first* maximum in the window, offsets in row-major order
    (lowest index along each axis first), as ``jnp.argmax``; a NaN in a window wins (NaN out,
    and its δ flows to the NaN). ``_max_pool_fwd`` computes the arg-max (the primal's max is
    that entry) and saves it with ``x``.
    """
    return jnp.max(patches(x, window, -jnp.inf), axis=-2)


def _max_pool_fwd(window, x):
    cols = patches(x, window, -jnp.inf)
    winner = jnp.argmax(cols, axis=-2)  # first maximum in row-major window order
    y = jnp.take_along_axis(cols, winner[..., None, :], axis=-2)[..., 0, :]
    return y, (x, winner)


def _max_pool_bwd(window, res, dy):
    x, winner = res
    routed = jax.nn.one_hot(winner, math.prod(window.size), dtype=dy.dtype, axis=-2)
    return (col2im(routed * dy[..., None, :], window, spatial_shape(x, window)),)


max_pool.defvjp(_max_pool_fwd, _max_pool_bwd)


@hand_rule
@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def avg_pool(window: Window, x: jax.Array) -> jax.Array:
    """Average pooling ``y[b, t, c] = (1/K) Σ_κ cols[b, t, κ, c]``, zero padding counted
    (PyTorch's ``count_include_pad=True``; ``K`` = window volume).

    Backward: each window spreads ``δ/K`` evenly, ``∂cols[b, t, κ, c] = δ[b, t, c] / K``, then
    ``∂x = col2im(∂cols)``. Saves ``x`` (for its shape; it is alive anyway).
    """
    return jnp.mean(patches(x, window), axis=-2)


def _avg_pool_fwd(window, x):
    return avg_pool(window, x), x


def _avg_pool_bwd(window, x, dy):
    k = math.prod(window.size)
    spread = jnp.broadcast_to((dy / k)[..., None, :], (*dy.shape[:-1], k, dy.shape[-1]))
    return (col2im(spread, window, spatial_shape(x, window)),)


avg_pool.defvjp(_avg_pool_fwd, _avg_pool_bwd)


def _pool_layer(rule: Any, window: Any, strides: Any, padding: Any) -> Layer:
    geometry = make_window(
        window, window if strides is None else strides, padding, size_name="window"
    )

    def init(key: Any, input_shape: Any) -> tuple:
        check_key("key", key)
        check_spatial_shape("input_shape", input_shape, geometry)
        return ()

    def apply(params: tuple, x: Any, *, key: Any = None, training: bool = False) -> jax.Array:
        del params, key, training
        return rule(geometry, spatial_input(x, geometry))

    return Layer(init, apply)


def MaxPool(window: Any, *, strides: Any = None, padding: Any = "VALID") -> Layer:
    """Max-pooling layer over ``window`` (an int for 1-d, a tuple for N-d), per channel.

    Args:
        window: window size per spatial axis.
        strides: step per axis; default the window (non-overlapping windows).
        padding: ``"VALID"``, ``"SAME"``, an int or per-axis ``(low, high)`` pairs, padded
            with −∞ (a padded entry never wins).

    The δ of each window goes to its first maximum (see :func:`max_pool`). No parameters.
    Batched input only, ``(batch, *spatial, channels)``, as :func:`fnnet.layers.Conv`.
    """
    return _pool_layer(max_pool, window, strides, padding)


def AvgPool(window: Any, *, strides: Any = None, padding: Any = "VALID") -> Layer:
    """Average-pooling layer (``count_include_pad=True``: padded zeros count in the mean).

    Arguments as :func:`MaxPool`; the δ of each window is spread as ``δ/K`` over its ``K``
    entries (see :func:`avg_pool`). No parameters.
    """
    return _pool_layer(avg_pool, window, strides, padding)
