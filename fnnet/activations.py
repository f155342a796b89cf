"""Activation functions ``a = f(z)``, each with a hand-written backward rule.

Every activation is elementwise (softmax and log-softmax act on the last axis) and is a
``jax.custom_vjp`` written as primal, ``_fwd``, ``_bwd``, ``defvjp`` side by side. The backward
rule turns the upstream gradient ``da = ∂L/∂a`` into ``dz = ∂L/∂z = da ⊙ f'(z)``, the
textbook's ``δ`` when ``L`` is the loss. Derivatives are computed from the saved *output*
where the textbook does (``σ' = a(1 − a)``, ``tanh' = 1 − a²``).

Kinks follow ``jax.nn``: ``relu'(0) = 0``; binary step has derivative 0 everywhere.
Activations are passed to layers as functions (``Dense(10, activation=fnnet.activations.tanh)``);
those with a hyperparameter take it as a keyword (``functools.partial(leaky_relu,
negative_slope=0.2)``), and the hyperparameter may be a traced array, so it can be swept.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from fnnet._types import Array
from fnnet.rules import hand_rule


@hand_rule
@jax.custom_vjp
def identity(z: Array) -> Array:
    """Identity ``a = z``. Backward: ``dz = da``."""
    return z


def _identity_fwd(z):
    return identity(z), None


def _identity_bwd(_, da):
    return (da,)


identity.defvjp(_identity_fwd, _identity_bwd)


@hand_rule
@jax.custom_vjp
def sigmoid(z: Array) -> Array:
    """Logistic sigmoid ``a = 1 / (1 + e^{−z})``. Backward: ``dz = da ⊙ a(1 − a)``.

    Computed as ``½(1 + tanh(z/2))``, which is finite and exact in the tails: no ``e^{−z}``
    overflow for ``z = −1e4`` in float32.
    """
    return 0.5 * (1.0 + jnp.tanh(0.5 * z))


def _sigmoid_fwd(z):
    a = sigmoid(z)
    return a, a  # σ'(z) = a(1 − a): the output is all the backward pass needs


def _sigmoid_bwd(a, da):
    return (da * a * (1.0 - a),)


sigmoid.defvjp(_sigmoid_fwd, _sigmoid_bwd)


@hand_rule
@jax.custom_vjp
def relu(z: Array) -> Array:
    """Rectified linear unit ``a = max(z, 0)``. Backward: ``dz = da ⊙ [z > 0]`` (relu'(0) = 0)."""
    return jnp.maximum(z, 0)


def _relu_fwd(z):
    a = relu(z)
    return a, a


def _relu_bwd(a, da):
    return (jnp.where(a > 0, da, jnp.zeros_like(da)),)  # a > 0 exactly where z > 0


relu.defvjp(_relu_fwd, _relu_bwd)
