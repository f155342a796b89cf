"""Gradcheck registry entries for the perceptron, the maxout layer and RBF networks (fnnet.classic, fnnet.layers.Maxout).

``SPECS`` is a tuple of :class:`fnnet.gradcheck.RuleSpec`, concatenated into
``fnnet.gradcheck.registry.REGISTRY``; samplers and independent references live beside them.
"""

from __future__ import annotations

import functools
from typing import Any

import jax.numpy as jnp

from fnnet import activations, classic, layers
from fnnet._types import Array, PRNGKey
from fnnet.gradcheck._check import RuleSpec
from fnnet.gradcheck._sampling import normals, shift_away
from fnnet.layers import DenseParams

# --- perceptron criterion ------------------------------------------------------------------


def _perceptron_args(key: PRNGKey, dtype: Any, dims: tuple) -> tuple:
    """``(scores, targets)``: scores ``(batch, k)`` at least 0.1 from the kink ``s = 0``, and
    ``±1`` targets, so both mistakes and correct examples occur."""
    s, t = normals(key, dtype, (dims[0], dims[1]), (dims[0], dims[1]))
    return shift_away(s), jnp.where(t >= 0, 1.0, -1.0).astype(dtype)


def _perceptron_reference(scores: Array, targets: Array) -> Array:
    return jnp.mean(jnp.sum(jnp.maximum(0.0, -targets * scores), axis=-1))


SPECS: tuple[RuleSpec, ...] = (
    RuleSpec(
        "classic.perceptron_criterion",
        classic.perceptron_criterion,
        _perceptron_reference,
        _perceptron_args,
        wrt=(0,),
    ),
)


# --- maxout layer: the fused dense rule with maxout inside -----------------------------------


def _maxout_dense_args(pieces: int):
    """``(params, x)`` whose pre-activations ``z = x @ w + b`` differ by at least 0.1 between
    the pieces of a group: each bias is a random rank times ``2·reach + 0.2`` (``reach`` bounds
    ``|x @ w|``), so the winner changes from unit to unit but never ties."""

    def sampler(key: PRNGKey, dtype: Any, dims: tuple) -> tuple:
        batch, fan_in, units = dims[0], dims[1], dims[2]
        w, x, order = normals(
            key, dtype, (fan_in, units * pieces), (batch, fan_in), (units, pieces)
        )
        ranks = jnp.argsort(jnp.argsort(order, axis=-1), axis=-1).astype(dtype).reshape(-1)
        reach = jnp.max(jnp.abs(x) @ jnp.abs(w))
        return DenseParams(w, ranks * (2.0 * reach + 0.2)), x

    return sampler


def _maxout_dense_reference(pieces: int):
    def reference(params: DenseParams, x: Array) -> Array:
        z = x @ params.w + params.b
        return jnp.max(z.reshape(z.shape[0], -1, pieces), axis=-1)

    return reference


SPECS += (
    RuleSpec(
        "layers.dense[maxout]",
        layers.dense,
        _maxout_dense_reference(3),
        _maxout_dense_args(3),
        static_args=(functools.partial(activations.maxout, num_pieces=3),),
    ),
)


# --- Gaussian RBF layer ----------------------------------------------------------------------


def _rbf_args(key: PRNGKey, dtype: Any, dims: tuple) -> tuple:
    """``(RBFParams(centres, log_sigma), x)``: ``k = dims[1]`` centres in ``d = dims[2]``
    dimensions, widths ``e^{0.3·N(0,1)}`` around 1, inputs near the centres."""
    k, d, batch = dims[1], dims[2], dims[0]
    c, s, x = normals(key, dtype, (k, d), (k, d), (batch, d))
    return classic.RBFParams(0.5 * c, 0.3 * s), 0.5 * x


def _rbf_reference(params: classic.RBFParams, x: Array) -> Array:
    r = (x[:, None, :] - params.centres[None]) / jnp.exp(params.log_sigma)[None]
    return jnp.exp(-0.5 * jnp.sum(r * r, axis=-1))


SPECS += (RuleSpec("classic.gaussian_rbf", classic.gaussian_rbf, _rbf_reference, _rbf_args),)
