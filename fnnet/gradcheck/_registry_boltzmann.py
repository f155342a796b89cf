"""Gradcheck registry entries for restricted Boltzmann machines (fnnet.boltzmann).

``SPECS`` is a tuple of :class:`fnnet.gradcheck.RuleSpec`, concatenated into
``fnnet.gradcheck.registry.REGISTRY``; samplers and independent references live beside them.
The contrastive-divergence rule is checked against autodiff of the free energy written with
``jax.nn.softplus`` (the samples are constants: only the parameters are differentiated).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from fnnet import boltzmann
from fnnet._types import Array, PRNGKey
from fnnet.gradcheck._check import RuleSpec
from fnnet.gradcheck._sampling import normals


def _gap_args(key: PRNGKey, dtype: Any, dims: tuple) -> tuple:
    """``(params, v_data, v_model)``: visible ``dims[1]``, hidden ``dims[2]``, batches
    ``dims[0]`` and ``dims[3]``; visible values in (0, 1)."""
    v, h, b1, b2 = dims[1], dims[2], dims[0], dims[3]
    w, b, c, x1, x2 = normals(key, dtype, (v, h), (v,), (h,), (b1, v), (b2, v))
    params = boltzmann.RBMParams(w, 0.5 * b, 0.5 * c)
    return params, jax.nn.sigmoid(2.0 * x1), jax.nn.sigmoid(2.0 * x2)


def _free_energy(params: boltzmann.RBMParams, v: Array, gaussian: bool) -> Array:
    w, b, c = params
    hidden = jnp.sum(jax.nn.softplus(v @ w + c), axis=-1)
    visible = jnp.sum(0.5 * (v - b) ** 2, axis=-1) if gaussian else v @ b * -1.0
    return visible - hidden


def _gap_reference(gaussian: bool):
    def reference(params, v_data, v_model):
        data = jnp.mean(_free_energy(params, v_data, gaussian))
        return data - jnp.mean(_free_energy(params, jax.lax.stop_gradient(v_model), gaussian))

    return reference


SPECS: tuple[RuleSpec, ...] = (
    RuleSpec(
        "boltzmann.free_energy_gap[bernoulli]",
        boltzmann.free_energy_gap,
        _gap_reference(False),
        _gap_args,
        static_args=(False,),
        wrt=(0,),
    ),
    RuleSpec(
        "boltzmann.free_energy_gap[gaussian]",
        boltzmann.free_energy_gap,
        _gap_reference(True),
        _gap_args,
        static_args=(True,),
        wrt=(0,),
    ),
)
