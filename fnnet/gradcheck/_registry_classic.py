"""Gradcheck registry entries for the perceptron, the maxout layer and RBF networks (fnnet.classic, fnnet.layers.Maxout).

``SPECS`` is a tuple of :class:`fnnet.gradcheck.RuleSpec`, concatenated into
``fnnet.gradcheck.registry.REGISTRY``; samplers and independent references live beside them.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from fnnet import classic
from fnnet._types import Array, PRNGKey
from fnnet.gradcheck._check import RuleSpec
from fnnet.gradcheck._sampling import normals, shift_away

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
