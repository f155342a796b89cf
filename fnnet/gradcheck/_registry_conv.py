"""Gradcheck registry entries for the convolution and pooling layers (fnnet.layers).

``SPECS`` is a tuple of :class:`fnnet.gradcheck.RuleSpec`, concatenated into
``fnnet.gradcheck.registry.REGISTRY``; samplers and independent references live beside them.
The references are ``lax.conv_general_dilated`` and ``lax.reduce_window`` (XLA's own
convolution and windowed reductions, differentiated by JAX), never fnnet's patch extraction.
The geometries cover strides 1–3, every padding form (``"VALID"``, ``"SAME"``, symmetric and
asymmetric pairs), dilation, odd and even lengths (``dims``), unbatched input, 1-d and 2-d.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from fnnet.gradcheck._check import RuleSpec
from fnnet.gradcheck._sampling import normals
from fnnet.layers import ConvParams, Window, avg_pool, conv, max_pool


def _lax_padding(window: Window) -> Any:
    return window.padding if isinstance(window.padding, str) else list(window.padding)


def _batched(fn: Callable, rank: int) -> Callable:
    """Call ``fn`` on a batch; a single example gets a batch axis of one and loses it again."""

    def call(x: jax.Array, *args: Any) -> jax.Array:
        if x.ndim == rank + 1:
            return fn(x[None], *args)[0]
        return fn(x, *args)

    return call


def _conv_reference(window: Window) -> Callable:
    n = len(window.size)
    spec = (
        0,
        n + 1,
        *range(1, n + 1),
    )  # (batch, channels, *spatial) positions of NWC / NHWC
    numbers = lax.ConvDimensionNumbers(spec, (n + 1, n, *range(n)), spec)

    def forward(x: jax.Array, params: ConvParams) -> jax.Array:
        y = lax.conv_general_dilated(
            x,
            params.w,
            window.strides,
            _lax_padding(window),
            rhs_dilation=window.dilation,
            dimension_numbers=numbers,
            precision=lax.Precision.HIGHEST,
        )
        return y + params.b

    batched = _batched(forward, n)
    return lambda params, x: batched(x, params)


def _pool_reference(window: Window, *, average: bool) -> Callable:
    def forward(x: jax.Array) -> jax.Array:
        dims, strides = (1, *window.size, 1), (1, *window.strides, 1)
        if isinstance(window.padding, str):
            padding = window.padding
        else:
            padding = ((0, 0), *window.padding, (0, 0))
        if average:
            total = lax.reduce_window(x, 0.0, lax.add, dims, strides, padding)
            return total / math.prod(window.size)
        return lax.reduce_window(x, -jnp.inf, lax.max, dims, strides, padding)

    return _batched(forward, len(window.size))


def _input_shape(dims: tuple, base: tuple[int, ...], *, batched: bool) -> tuple[int, ...]:
    """``(batch, *spatial, channels)`` with ``spatial = base + dims`` (lengths vary per draw)."""
    spatial = tuple(b + d for b, d in zip(base, dims[3:]))
    return ((dims[0],) if batched else ()) + spatial + (dims[1],)


def _conv_args(window: Window, base: tuple[int, ...], *, batched: bool = True) -> Callable:
    """``(ConvParams(w, b), x)``; ``w`` scaled by ``1/√fan_in`` as an initializer would."""

    def sampler(key: jax.Array, dtype: Any, dims: tuple) -> tuple:
        shape = _input_shape(dims, base, batched=batched)
        w_shape = (*window.size, dims[1], dims[2])
        w, b, x = normals(key, dtype, w_shape, (dims[2],), shape)
        w = w / math.sqrt(math.prod(w_shape[:-1]))
        return ConvParams(w, b), x

    return sampler


def _distinct(base: tuple[int, ...], *, batched: bool = True) -> Callable:
    """``(x,)`` whose entries are a random permutation of an even grid on [−2, 2]: no ties
    anywhere, so no max-pooling window sits on a kink."""

    def sampler(key: jax.Array, dtype: Any, dims: tuple) -> tuple:
        shape = _input_shape(dims, base, batched=batched)
        (u,) = normals(key, jnp.float32, shape)
        ranks = jnp.argsort(jnp.argsort(u.ravel())).astype(jnp.float32)
        return ((4.0 * ranks / u.size - 2.0).reshape(shape).astype(dtype),)

    return sampler


def _conv_spec(
    label: str, window: Window, base: tuple[int, ...], *, batched: bool = True
) -> RuleSpec:
    return RuleSpec(
        f"layers.conv[{label}]",
        conv,
        _conv_reference(window),
        _conv_args(window, base, batched=batched),
        static_args=(window,),
    )


def _pool_spec(
    label: str, window: Window, base: tuple[int, ...], *, batched: bool = True
) -> RuleSpec:
    average = label.startswith("avg")
    return RuleSpec(
        f"layers.{'avg' if average else 'max'}_pool[{label.split(' ', 1)[1]}]",
        avg_pool if average else max_pool,
        _pool_reference(window, average=average),
        _distinct(base, batched=batched),
        static_args=(window,),
    )


SPECS: tuple[RuleSpec, ...] = (
    # The MNIST-1D authors' first layer (k 5, s 2, pad 1: 40 -> 19 drops the last input row).
    _conv_spec("1d k5 s2 pad1", Window((5,), (2,), ((1, 1),), (1,)), (36,)),
    _conv_spec("1d k3 s3 SAME dil2", Window((3,), (3,), "SAME", (2,)), (5,)),
    _conv_spec("1d k3 VALID unbatched", Window((3,), (1,), "VALID", (1,)), (2,), batched=False),
    _conv_spec("1d k2 s2 pad(2,1) dil3", Window((2,), (2,), ((2, 1),), (3,)), (3,)),
    _conv_spec("2d k3x3 SAME", Window((3, 3), (1, 1), "SAME", (1, 1)), (4, 4)),
    _conv_spec("2d k3x3 s2 pad1", Window((3, 3), (2, 2), ((1, 1), (1, 1)), (1, 1)), (5, 4)),
    _conv_spec(
        "2d k3x2 s(2,3) pad((1,0),(0,2)) dil(1,2) unbatched",
        Window((3, 2), (2, 3), ((1, 0), (0, 2)), (1, 2)),
        (3, 4),
        batched=False,
    ),
    _pool_spec("max 1d w2", Window((2,), (2,), "VALID", (1,)), (4,)),
    _pool_spec("max 1d w3 s1 SAME", Window((3,), (1,), "SAME", (1,)), (3,)),
    _pool_spec(
        "max 1d w3 s2 pad(1,2) unbatched",
        Window((3,), (2,), ((1, 2),), (1,)),
        (4,),
        batched=False,
    ),
    _pool_spec("max 2d w2x2", Window((2, 2), (2, 2), "VALID", (1, 1)), (3, 3)),
    _pool_spec("max 2d w3 s2 SAME", Window((3, 3), (2, 2), "SAME", (1, 1)), (2, 3)),
    _pool_spec("avg 1d w2", Window((2,), (2,), "VALID", (1,)), (4,)),
    _pool_spec(
        "avg 1d w3 s3 pad1 unbatched",
        Window((3,), (3,), ((1, 1),), (1,)),
        (4,),
        batched=False,
    ),
    _pool_spec("avg 2d w2x3 s(1,2) SAME", Window((2, 3), (1, 2), "SAME", (1, 1)), (3, 4)),
)
