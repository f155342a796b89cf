"""Building blocks for input samplers: random sizes, and values kept away from kinks.

A sampler is a function ``(key, dtype, dims) -> args``: it draws one tuple of arguments for the
function under test. ``dims`` is a tuple of ``NUM_DIMS`` random sizes in 1..4, drawn by the
checker, to build shapes from; ``key`` gives the values. Shapes come from ``dims`` and not from
``key`` so that many points (seeds) at the same shapes run as one vmapped, compiled program:
the sampler is traced, so draw values with ``jax.random`` and keep them away from kinks (relu
at 0, a maxout tie) with :func:`shift_away`, because finite differences across a kink measure
the jump, not the derivative.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from fnnet._types import Array, PRNGKey

Sampler = Callable[[PRNGKey, Any, tuple], tuple]
NUM_DIMS = 6  # sizes handed to every sampler


def _bucket(size: int) -> int:
    """Round a draw up to a power of two (at least 16) so few distinct random programs compile."""
    return max(16, 1 << max(0, size - 1).bit_length())


def random_dims(key: PRNGKey, count: int, *, low: int = 1, high: int = 4) -> tuple[int, ...]:
    """``count`` concrete sizes drawn uniformly from ``low..high`` (inclusive), as Python ints."""
    if not (isinstance(count, int) and count >= 0):
        raise ValueError(f"`count` must be a non-negative int; got {count!r}.")
    if not (isinstance(low, int) and isinstance(high, int) and 0 <= low <= high):
        raise ValueError(
            f"`low` and `high` must be ints with 0 <= low <= high; got {low!r}, {high!r}."
        )
    bits = np.asarray(jax.random.bits(key, (_bucket(count),), jnp.uint32))[:count]
    return tuple(int(low + b % (high - low + 1)) for b in bits)


def shift_away(x: Array, kinks: Sequence[float] = (0.0,), *, margin: float = 0.1) -> Array:
    """Move every entry within ``margin`` of a kink ``p`` by ``margin`` away from it.

    An entry ``x ∈ [p, p + margin)`` becomes ``x + margin``, one in ``(p − margin, p)`` becomes
    ``x − margin``, so after the call no entry is closer than ``margin`` to ``p``. Kinks must be
    at least ``3 · margin`` apart so that a shifted entry does not land near the next kink.
    """
    for p in kinks:
        side = jnp.where(x >= p, margin, -margin).astype(x.dtype)
        x = jnp.where(jnp.abs(x - p) < margin, x + side, x)
    return x


def _key_words(key: PRNGKey) -> tuple[jax.Array, jax.Array]:
    data = key if key.dtype == jnp.uint32 else jax.random.key_data(key)
    return data[..., 0], data[..., 1]


def _mix(h: jax.Array) -> jax.Array:
    """An invertible avalanche of uint32 words (every input bit flips half the output bits)."""
    h = (h ^ (h >> 16)) * jnp.uint32(0x85EBCA6B)
    h = (h ^ (h >> 13)) * jnp.uint32(0xC2B2AE35)
    return h ^ (h >> 16)


def _bits(key: PRNGKey, count: int, stream: int) -> jax.Array:
    """``count`` pseudo-random uint32 words: a counter hashed with the key's two words.

    ``stream`` separates the generators (normals, integers) drawn from one key."""
    k0, k1 = _key_words(key)
    counter = jnp.arange(count, dtype=jnp.uint32) + jnp.uint32((stream * 0x9E3779B9) % 2**32)
    return _mix(_mix(counter ^ k0) + k1)


def normals(key: PRNGKey, dtype: Any, *shapes: Sequence[int]) -> tuple[Array, ...]:
    """Standard normal arrays of the given shapes, all drawn from one key (one call per key).

    A cheap counter-based generator keyed by ``key`` (Box-Muller on a hashed counter): inside
    a compiled check it costs a few elementwise ops, where ``jax.random.normal`` costs a
    threefry program per call, which dominates the compile time of a check. Statistically
    plain but ample for test inputs; for anything else use ``jax.random``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> w, b = normals(jax.random.key(0), jnp.float32, (3, 2), (2,))
        >>> w.shape, b.shape
        ((3, 2), (2,))
    """
    return _normals(key, jnp.dtype(dtype), tuple(tuple(int(d) for d in s) for s in shapes))


@functools.partial(jax.jit, static_argnums=(1, 2))  # eager calls compile once per signature
def _normals(key: PRNGKey, dtype: Any, shapes: tuple[tuple[int, ...], ...]) -> tuple[Array, ...]:
    sizes = [math.prod(s) for s in shapes]
    n = sum(sizes)
    u = (_bits(key, 2 * n, 0) >> 8).astype(jnp.float32) * (1.0 / (1 << 24))  # uniform on [0, 1)
    radius = jnp.sqrt(-2.0 * jnp.log(1.0 - u[:n]))  # 1 − u ∈ (0, 1]: the log is finite
    z = radius * jnp.cos((2.0 * math.pi) * u[n:])
    out, start = [], 0
    for shape, size in zip(shapes, sizes):
        out.append(z[start : start + size].reshape(shape).astype(dtype))
        start += size
    return tuple(out)


def integers(key: PRNGKey, shape: Sequence[int], high: int) -> Array:
    """Integers uniform on ``0..high-1`` (int32) of ``shape``, e.g. class labels.

    Independent of :func:`normals` drawn from the same key.
    """
    return _integers(key, tuple(int(d) for d in shape), int(high))


@functools.partial(jax.jit, static_argnums=(1, 2))
def _integers(key: PRNGKey, shape: tuple[int, ...], high: int) -> Array:
    return (_bits(key, math.prod(shape), 1) % jnp.uint32(high)).astype(jnp.int32).reshape(shape)


def normal(
    key: PRNGKey,
    shape: Sequence[int],
    dtype: Any,
    *,
    scale: float = 1.0,
    kinks: Sequence[float] = (),
    margin: float = 0.1,
) -> Array:
    """One normal array ``scale · N(0, 1)`` (see :func:`normals`), shifted away from ``kinks``."""
    (x,) = normals(key, dtype, shape)
    x = scale * x
    return shift_away(x, kinks, margin=margin) if kinks else x


def elementwise_sampler(
    *, kinks: Sequence[float] = (), scale: float = 1.5, margin: float = 0.1, max_rank: int = 2
) -> Sampler:
    """A sampler for an elementwise function ``f(z)``: one array of random rank and shape.

    Args:
        kinks: points where ``f`` is not differentiable (``(0.0,)`` for relu); samples stay
            ``margin`` away from them.
        scale: standard deviation of the samples.
        margin: distance kept from each kink.
        max_rank: shapes have rank ``0..max_rank`` (``dims[0] % (max_rank + 1)``), sizes
            from ``dims[1:]``; ``max_rank`` must be below ``NUM_DIMS``.

    Returns:
        ``sampler(key, dtype, dims) -> (z,)``.
    """
    kinks = tuple(kinks)

    def sampler(key: PRNGKey, dtype: Any, dims: tuple) -> tuple[Array]:
        rank = dims[0] % (max_rank + 1)
        return (normal(key, dims[1 : 1 + rank], dtype, scale=scale, kinks=kinks, margin=margin),)

    return sampler


def with_hyperparameter(
    value: float, *, kinks: Sequence[float] = (), scale: float = 1.5
) -> Sampler:
    """A sampler for ``f(z, h)``: an elementwise input and a fixed scalar hyperparameter.

    ``z`` is drawn as by :func:`elementwise_sampler`; ``h`` is ``value`` as a 0-d array of the
    check's dtype, the same at every point. Leave it out of the derivatives with ``wrt=(0,)``
    when the rule gives it no cotangent (a leaky ReLU's slope).

    Args:
        value: the hyperparameter.
        kinks: points where ``f`` is not differentiable in ``z``; samples stay away from them.
        scale: standard deviation of ``z``.

    Returns:
        ``sampler(key, dtype, dims) -> (z, h)``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from fnnet.gradcheck import with_hyperparameter
        >>> z, h = with_hyperparameter(0.2)(jax.random.key(0), jnp.float32, (2, 3, 1, 1, 1, 1))
        >>> z.shape, h
        ((3, 1), Array(0.2, dtype=float32))
    """
    base = elementwise_sampler(kinks=kinks, scale=scale)

    def sampler(key: PRNGKey, dtype: Any, dims: tuple) -> tuple[Array, Array]:
        (z,) = base(key, dtype, dims)
        return z, jnp.asarray(value, dtype)

    return sampler
