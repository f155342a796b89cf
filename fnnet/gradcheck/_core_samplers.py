"""Input samplers of the core registry: arguments for activations, dense layers, losses,
networks and penalties, every kind of target each loss accepts, and the tail points.

A sampler is ``(key, dtype, dims) -> args`` (see :mod:`fnnet.gradcheck._sampling`). Used by
:mod:`fnnet.gradcheck.registry`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from fnnet._types import Array, PRNGKey
from fnnet.gradcheck._sampling import integers, normals, shift_away
from fnnet.layers import DenseParams


def matrix(key: PRNGKey, dtype: Any, dims: tuple) -> tuple:
    """``(z,)`` of shape ``(batch, k)``, for functions along the last axis."""
    return normals(key, dtype, (dims[0], dims[1]))


def prelu_args(key: PRNGKey, dtype: Any, dims: tuple) -> tuple:
    """``(z, alpha)``: a batch and a learnable per-channel slope."""
    z, alpha = normals(key, dtype, (dims[0], dims[1]), (dims[1],))
    return shift_away(z), 0.25 + 0.1 * alpha


def maxout_args(pieces: int) -> Callable:
    """``(z,)`` of shape ``(batch, units · pieces)`` whose pieces differ by at least 0.1 per group:
    ranks ``0..p−1`` in random order times 0.5, plus noise in (−0.2, 0.2), so no ties (no kink)."""

    def sampler(key: PRNGKey, dtype: Any, dims: tuple) -> tuple:
        shape = (dims[0], dims[1], pieces)
        order, noise, level = normals(key, jnp.float32, shape, shape, shape[:2] + (1,))
        ranks = jnp.argsort(jnp.argsort(order, axis=-1), axis=-1).astype(jnp.float32)
        z = 0.5 * ranks + 0.2 * jnp.tanh(noise) + level
        return (z.reshape(dims[0], dims[1] * pieces).astype(dtype),)

    return sampler


def dense_params(w: Array, b: Array, x: Array, *, away_from_zero: bool) -> DenseParams:
    """With ``away_from_zero``, set each bias so that its unit's ``z = x @ w + b`` has one sign
    over the whole batch and ``|z| ≥ 0.1``: the kink of relu at 0 is never approached."""
    if away_from_zero:
        reach = jnp.max(jnp.abs(x) @ jnp.abs(w), axis=0)  # ≥ |x @ w| for every row
        b = jnp.where(b >= 0, 1.0, -1.0).astype(b.dtype) * (reach + 0.1 + jnp.abs(b))
    return DenseParams(w, b)


def dense_args(*, away_from_zero: bool = False) -> Callable:
    """``(params, x)`` for a dense layer ``(batch, fan_in) -> (batch, fan_out)``."""

    def sampler(key: PRNGKey, dtype: Any, dims: tuple) -> tuple:
        batch, fan_in, fan_out = dims[:3]
        w, b, x = normals(key, dtype, (fan_in, fan_out), (fan_out,), (batch, fan_in))
        return dense_params(w, b, x, away_from_zero=away_from_zero), x

    return sampler


# Targets from a normal draw ``y`` of the output's shape (batch, k), one kind per builder.
def real_targets(key: PRNGKey, y: Array) -> Array:
    return y


def one_hot_targets(key: PRNGKey, y: Array) -> Array:  # one 1 per row
    return jax.nn.one_hot(jnp.argmax(y, axis=-1), y.shape[-1], dtype=y.dtype)


def unit_targets(key: PRNGKey, y: Array) -> Array:  # soft binary targets in (0, 1)
    return jax.nn.sigmoid(y)


def probability_targets(key: PRNGKey, y: Array) -> Array:  # soft rows summing to 1
    return jax.nn.softmax(y)


def half_targets(key: PRNGKey, y: Array) -> Array:  # rows summing to 0.5
    return 0.5 * jax.nn.softmax(y)


def unnormalised_targets(key: PRNGKey, y: Array) -> Array:  # positive rows, sums ≠ 1
    return jnp.exp(0.5 * y)


def multi_label_targets(key: PRNGKey, y: Array) -> Array:  # 0/1 rows, any number of ones
    return (y > 0).astype(y.dtype)


def class_targets(key: PRNGKey, y: Array) -> Array:  # int32 class indices, not differentiated
    return integers(key, y.shape[:-1], y.shape[-1])


def mixed(*kinds: Callable) -> Callable:
    """Targets whose row ``n`` is of kind ``kinds[n % len(kinds)]``: every kind in one batch."""

    def targets(key: PRNGKey, y: Array) -> Array:
        rows = jnp.arange(y.shape[0]) % len(kinds)
        out = jnp.zeros_like(y)
        for i, kind in enumerate(kinds):
            out = jnp.where((rows == i)[:, None], kind(key, y), out)
        return out

    targets.kinds = len(kinds)
    return targets


# Every kind of float target each loss accepts (integer labels have entries of their own).
SQUARED_ERROR_TARGETS = mixed(
    real_targets, one_hot_targets, probability_targets, multi_label_targets
)
CROSS_ENTROPY_TARGETS = mixed(
    one_hot_targets,
    probability_targets,
    unnormalised_targets,
    multi_label_targets,
    half_targets,
)
BINARY_TARGETS = mixed(unit_targets, multi_label_targets, one_hot_targets)


def batch_size(dims: tuple, targets: Callable | None) -> int:
    """``dims[0]`` examples, and at least one row of each kind of ``targets``."""
    return dims[0] + getattr(targets, "kinds", 1) - 1


def mlp_args(*, away_from_zero: bool = False, targets: Callable | None = None) -> Callable:
    """``(params, x)``, or ``(params, x, y)`` with ``targets``, for a two-layer MLP; the hidden
    pre-activations are kept away from zero if asked (for relu)."""

    def sampler(key: PRNGKey, dtype: Any, dims: tuple) -> tuple:
        batch, n_in, n_hidden, n_out = batch_size(dims, targets), dims[1], dims[2], 1 + dims[3]
        w1, b1, w2, b2, x, y = normals(
            key,
            dtype,
            (n_in, n_hidden),
            (n_hidden,),
            (n_hidden, n_out),
            (n_out,),
            (batch, n_in),
            (batch, n_out),
        )
        w1, w2 = (
            w1 / math.sqrt(n_in),
            w2 / math.sqrt(n_hidden),
        )  # as an initializer would: no saturation
        p1 = dense_params(
            w1, b1, x, away_from_zero=away_from_zero
        )  # only the hidden layer has the kink
        args = ((p1, DenseParams(w2, b2)), x)
        return args if targets is None else args + (targets(key, y),)

    return sampler


def loss_args(targets: Callable) -> Callable:
    """``(prediction or logits, targets)``, the prediction of shape ``(batch, k)``, ``k ≥ 2``."""

    def sampler(key: PRNGKey, dtype: Any, dims: tuple) -> tuple:
        shape = (batch_size(dims, targets), 1 + dims[1])
        z, y = normals(key, dtype, shape, shape)
        return z, targets(key, y)

    return sampler


# Tail points: where a sigmoid written as ½(1 + tanh(z/2)) loses its digits (−30, −38) and the
# ends of float64's exponent range (±700), with a little noise. No point near 0: the finite
# difference step scales with max|z| (≈ 4e-3 here), too coarse for the curvature near 0.
TAILS = (-700.0, -38.0, -30.0, 30.0, 38.0, 700.0)


def tails(key: PRNGKey, dtype: Any, dims: tuple) -> tuple:
    """``(z,)``: the tail points, each repeated ``dims[0]`` times, plus noise in ±0.1."""
    (noise,) = normals(key, dtype, (dims[0], len(TAILS)))
    return (jnp.asarray(TAILS, dtype) + 0.1 * jnp.tanh(noise),)


def tail_logits(key: PRNGKey, dtype: Any, dims: tuple) -> tuple:
    """``(logits, targets)``: tail logits with hard 0/1 and soft targets."""
    (z,) = tails(key, dtype, dims)
    (y,) = normals(jax.random.fold_in(key, 1), dtype, z.shape)
    return z, BINARY_TARGETS(key, y)


def penalty_args(num_strengths: int, *, kinks: Sequence[float] = ()) -> Callable:
    """``(params, *strengths)``: a two-layer params tuple (weights away from ``kinks``) and scalars."""

    def sampler(key: PRNGKey, dtype: Any, dims: tuple) -> tuple:
        a, b, c = dims[:3]
        w1, b1, w2, b2, s = normals(key, dtype, (a, b), (b,), (b, c), (c,), (num_strengths,))
        params = (DenseParams(shift_away(w1, kinks), b1), DenseParams(shift_away(w2, kinks), b2))
        return (params, *(0.5 + 0.1 * s[i] for i in range(num_strengths)))

    return sampler


def dropout_args(key: PRNGKey, dtype: Any, dims: tuple) -> tuple:
    """``(x, keep, rate)``: a fixed boolean mask and the rate as a (non-differentiated) array."""
    x, u = normals(key, dtype, (dims[0], dims[1]), (dims[0], dims[1]))
    return x, u > 0, jnp.asarray(0.3, dtype)
