"""The dense layer: ``DenseParams``, the fused dense rule ``dense``, and ``Dense``.

The affine map and its backward pass are written once here (:func:`affine`,
:func:`affine_backward`); the ``dense`` rule and the whole-network rules of
:mod:`fnnet.networks` both use them.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from fnnet import activations, initializers
from fnnet._checks import (
    check_activation,
    check_callable,
    check_key,
    check_positive_int,
)
from fnnet._layer_checks import check_affine_params, check_features, check_shape
from fnnet._types import ActivationFn, Array, Initializer, PRNGKey
from fnnet.layers._contract import Layer
from fnnet.rules import hand_rule


class DenseParams(NamedTuple):
    """Parameters of a dense layer: ``w`` of shape ``(fan_in, fan_out)``, ``b`` of shape ``(fan_out,)``."""

    w: Array
    b: Array


def affine(params: DenseParams, x: Array) -> Array:
    """The pre-activation ``z = x @ w + b`` (plain JAX: differentiated by whoever calls it)."""
    return x @ params.w + params.b


def affine_backward(params: DenseParams, x: Array, dz: Array) -> tuple[DenseParams, Array]:
    """The affine map's backward pass from ``δ = dz = ∂L/∂z`` (sums over the batch)::

        ∂L/∂w = xᵀ δ,   ∂L/∂b = Σ_batch δ,   ∂L/∂x = δ wᵀ

    Returns ``(DenseParams(∂L/∂w, ∂L/∂b), ∂L/∂x)``; ``∂L/∂x`` is what the layer below receives.
    """
    return DenseParams(x.T @ dz, dz.sum(axis=0)), dz @ params.w.T


@hand_rule
@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def dense(activation: ActivationFn, params: DenseParams, x: Array) -> Array:
    """Affine map plus activation, ``z = x @ w + b``, ``a = f(z)``, with one fused rule.

    Backward (``δ = ∂L/∂z``, ``g = ∂L/∂a``, sums over the batch)::

        δ = g ⊙ f'(z)        (the activation's own rule, from what its forward saved)
        ∂L/∂w = xᵀ δ,   ∂L/∂b = Σ_batch δ,   ∂L/∂x = δ wᵀ

    The forward saves ``w``, ``x`` and the activation's residuals (``a`` for sigmoid/tanh), not
    ``z``. ``activation`` is static (a function); ``x`` is ``(batch, fan_in)``. ``_dense_fwd``
    does not call this primal (it needs ``z`` on the way): under higher-order differentiation
    fnnet's rules are first-order, so use :func:`fnnet.autodiff` for Hessians.
    """
    return activation(affine(params, x))


def _dense_fwd(activation, params, x):
    a, activation_vjp = jax.vjp(activation, affine(params, x))  # f's own rule's residuals
    return a, (params, x, activation_vjp)


def _dense_bwd(activation, res, da):
    params, x, activation_vjp = res
    (dz,) = activation_vjp(da)  # δ = g ⊙ f'(z)
    return affine_backward(params, x, dz)  # (∂L/∂w = xᵀ δ, ∂L/∂b = Σ δ), ∂L/∂x = δ wᵀ


dense.defvjp(_dense_fwd, _dense_bwd)


def Dense(
    out_dim: int,
    activation: ActivationFn = activations.identity,
    w_init: Initializer | None = None,
    b_init: Initializer = initializers.zeros,
    *,
    dtype: Any = jnp.float32,
) -> Layer:
    """Dense (fully connected) layer ``a = f(x @ w + b)`` with the fused hand-written rule.

    Args:
        out_dim: number of units (``fan_out``).
        activation: a function ``z -> a`` such as ``fnnet.activations.sigmoid`` (default identity).
        w_init: weight initializer ``(key, shape, dtype) -> array``; default Glorot normal,
            which breaks symmetry (never all-equal weights).
        b_init: bias initializer; default zeros.
        dtype: parameter dtype (default float32).

    Returns:
        A ``Layer``; ``init(key, input_shape)`` (``(batch, fan_in)``, or the feature count
        ``fan_in``) returns ``DenseParams(w, b)`` (flattening to ``[w, b]``),
        ``apply(params, x)`` maps ``(batch, fan_in)`` to ``(batch, out_dim)`` (and one vector
        ``(fan_in,)`` to ``(out_dim,)``).

    Example:
        >>> import jax, jax.numpy as jnp, fnnet
        >>> layer = fnnet.Dense(3, activation=fnnet.activations.sigmoid)
        >>> params = layer.init(jax.random.key(0), 2)
        >>> layer.apply(params, jnp.ones((5, 2))).shape
        (5, 3)
    """
    check_positive_int("out_dim", out_dim)
    activation = check_activation("activation", activation)
    w_init = initializers.glorot_normal() if w_init is None else w_init
    check_callable("w_init", w_init, example="fnnet.initializers.glorot_normal()")
    check_callable("b_init", b_init, example="fnnet.initializers.zeros")

    def init(key: PRNGKey, input_shape: Any) -> DenseParams:
        check_key("key", key)
        shape = check_shape("input_shape", input_shape)
        if len(shape) not in (1, 2):
            raise ValueError(
                f"`input_shape` must be (batch, features), (features,) or a feature count; got "
                f"{shape}. Flatten the other axes first (fnnet.layers.Flatten())."
            )
        fan_in = shape[-1]
        w_key, b_key = jax.random.split(key)
        return DenseParams(
            w_init(w_key, (fan_in, out_dim), dtype), b_init(b_key, (out_dim,), dtype)
        )

    def apply(
        params: DenseParams, x: Array, *, key: PRNGKey | None = None, training: bool = False
    ) -> Array:
        del key, training  # deterministic layer
        params = DenseParams(*check_affine_params("params", params))
        x = check_features("x", x, params.w.shape[0], params.w.dtype)
        if x.ndim == 1:
            return dense(activation, params, x[None, :])[0]
        return dense(activation, params, x)

    return Layer(init, apply)
