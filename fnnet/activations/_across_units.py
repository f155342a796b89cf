"""Activations that mix units: softmax and log-softmax along an axis, maxout over groups.

Re-exported by :mod:`fnnet.activations` (use them from there). Each is a hand-written rule in the
usual layout; the axis and the number of pieces are static Python ints.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from fnnet._checks import check_int, check_positive_int
from fnnet._types import Array
from fnnet.rules import hand_rule


def _check_axis(z, axis) -> None:
    check_int("axis", axis)
    if not -z.ndim <= axis < z.ndim:
        raise ValueError(f"`axis` must index one of `z`'s axes, shape {z.shape}; got axis={axis}.")


@hand_rule
@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def softmax(z: Array, axis: int = -1) -> Array:
    """Softmax ``a_i = e^{z_i} / Σ_j e^{z_j}`` along ``axis`` (static int), stable (``z − max z``).

    Backward, with ``g = da``: ``dz = a ⊙ (g − ⟨g, a⟩)``, the inner product taken along ``axis``
    (the Jacobian ``diag(a) − a aᵀ`` applied without forming it).
    """
    _check_axis(z, axis)
    shifted = z - jax.lax.stop_gradient(jnp.max(z, axis=axis, keepdims=True))
    e = jnp.exp(shifted)
    return e / jnp.sum(e, axis=axis, keepdims=True)


def _softmax_fwd(z, axis):
    a = softmax(z, axis)
    return a, a


def _softmax_bwd(axis, a, g):
    return (a * (g - jnp.sum(g * a, axis=axis, keepdims=True)),)


softmax.defvjp(_softmax_fwd, _softmax_bwd)


@hand_rule
@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def log_softmax(z: Array, axis: int = -1) -> Array:
    """Log-softmax ``a_i = z_i − log Σ_j e^{z_j}`` along ``axis`` (static int), stable.

    Backward, with ``g = da``: ``dz = g − softmax(z) · Σ g`` (sum along ``axis``), with
    ``softmax(z) = e^a`` read from the output.
    """
    _check_axis(z, axis)
    shifted = z - jax.lax.stop_gradient(jnp.max(z, axis=axis, keepdims=True))
    return shifted - jnp.log(jnp.sum(jnp.exp(shifted), axis=axis, keepdims=True))


def _log_softmax_fwd(z, axis):
    a = log_softmax(z, axis)
    return a, a


def _log_softmax_bwd(axis, a, g):
    return (g - jnp.exp(a) * jnp.sum(g, axis=axis, keepdims=True),)


log_softmax.defvjp(_log_softmax_fwd, _log_softmax_bwd)


def _maxout_groups(z: Array, num_pieces: int) -> Array:
    """View ``(..., k·p)`` as ``(..., k, p)``: unit ``j`` owns inputs ``j·p, …, j·p + p − 1``."""
    check_positive_int("num_pieces", num_pieces)
    if z.ndim == 0 or z.shape[-1] % num_pieces:
        raise ValueError(
            f"`z`'s last axis must be a multiple of `num_pieces` = {num_pieces} (k units × "
            f"{num_pieces} pieces); got `z`.shape = {z.shape}."
        )
    return z.reshape(z.shape[:-1] + (z.shape[-1] // num_pieces, num_pieces))


@hand_rule
@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def maxout(z: Array, num_pieces: int) -> Array:
    """Maxout ``a_j = max(z_{j·p}, …, z_{j·p + p − 1})`` over groups of ``p = num_pieces``.

    ``z`` of shape ``(..., k·p)`` maps to ``(..., k)``; each group is ``p`` *consecutive*
    units on the last axis (so a ``Dense(k·p)`` before it gives ``k`` maxout units).
    ``num_pieces`` is a static int. Backward: ``dz`` is ``da_j`` at the group's argmax and 0 at
    its other pieces; on ties the first (lowest-index) maximum gets it all.
    """
    groups = _maxout_groups(z, num_pieces)
    winner = jnp.argmax(groups, axis=-1)  # first maximum on ties
    return jnp.take_along_axis(groups, winner[..., None], axis=-1)[..., 0]


def _maxout_fwd(z, num_pieces):
    return maxout(z, num_pieces), jnp.argmax(_maxout_groups(z, num_pieces), axis=-1)


def _maxout_bwd(num_pieces, winner, da):
    routed = jax.nn.one_hot(winner, num_pieces, dtype=da.dtype) * da[..., None]
    return (routed.reshape(da.shape[:-1] + (da.shape[-1] * num_pieces,)),)


maxout.defvjp(_maxout_fwd, _maxout_bwd)
