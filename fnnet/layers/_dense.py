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
from fnnet._checks import check_callable, check_key, check_positive_int
from fnnet._types import ActivationFn, Array, Initializer, PRNGKey
from fnnet.layers._contract import Layer, as_shape, check_activation
from fnnet.rules import hand_rule


class DenseParams(NamedTuple):
    """Parameters of a dense layer: ``w`` of shape ``(fan_in, fan_out)``, ``b`` of shape ``(fan_out,)``."""

    w: Array
    b: Array


def check_input(x: Any, in_dim: int, dtype: Any, *, name: str = "x") -> Array:
    """Validate a dense layer's input: float dtype, rank 1 or 2, ``in_dim`` features."""
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"`{name}` must have a floating dtype; got {x.dtype}.")
    if x.ndim not in (1, 2):
        raise ValueError(
            f"`{name}` must have shape (batch, {in_dim}) or ({in_dim},); got shape {x.shape}."
        )
    if x.shape[-1] != in_dim:
        raise ValueError(
            f"`{name}` has {x.shape[-1]} features but the layer expects {in_dim}: "
            f"`{name}`.shape = {x.shape}, w.shape = ({in_dim}, ...)."
        )
    if x.dtype != dtype:
        raise TypeError(
            f"`{name}` has dtype {x.dtype} but the layer's parameters are {dtype}; "
            f"cast one to the other."
        )
    return x


def check_dense_params(params: Any, *, name: str = "params") -> DenseParams:
    """Validate ``DenseParams``: a 2-d weight and a matching 1-d bias of the same float dtype."""
    if not (isinstance(params, tuple) and len(params) == 2):
        raise TypeError(
            f"`{name}` must be DenseParams(w, b); got {jax.tree_util.tree_structure(params)}."
        )
    w, b = params
    if getattr(w, "ndim", None) != 2 or getattr(b, "ndim", None) != 1 or b.shape[0] != w.shape[1]:
        raise ValueError(
            f"`{name}` must hold w of shape (fan_in, fan_out) and b of shape (fan_out,); got "
            f"w.shape = {getattr(w, 'shape', None)}, b.shape = {getattr(b, 'shape', None)}."
        )
    if w.dtype != b.dtype or not jnp.issubdtype(w.dtype, jnp.floating):
        raise TypeError(
            f"`{name}` must be floating and of one dtype; got w {w.dtype}, b {b.dtype}."
        )
    return DenseParams(w, b)


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
        A ``Layer``; ``init(key, fan_in)`` returns ``DenseParams(w, b)`` (flattening to
        ``[w, b]``), ``apply(params, x)`` maps ``(batch, fan_in)`` to ``(batch, out_dim)``.

    Example:
        >>> import jax, jax.numpy as jnp, fnnet
        >>> layer = fnnet.Dense(3, activation=fnnet.activations.sigmoid)
        >>> params = layer.init(jax.random.key(0), 2)
        >>> layer.apply(params, jnp.ones((5, 2))).shape
        (5, 3)
    """
    check_positive_int("out_dim", out_dim)
    activation = check_activation(activation)
    w_init = initializers.glorot_normal() if w_init is None else w_init
    check_callable("w_init", w_init, example="fnnet.initializers.glorot_normal()")
    check_callable("b_init", b_init, example="fnnet.initializers.zeros")

    def init(key: PRNGKey, input_shape: Any) -> DenseParams:
        check_key("key", key)
        fan_in = as_shape(input_shape)[-1]
        w_key, b_key = jax.random.split(key)
        return DenseParams(
            w_init(w_key, (fan_in, out_dim), dtype), b_init(b_key, (out_dim,), dtype)
        )

    def apply(
        params: DenseParams, x: Array, *, key: PRNGKey | None = None, training: bool = False
    ) -> Array:
        del key, training  # deterministic layer
        params = check_dense_params(params)
        x = check_input(x, params.w.shape[0], params.w.dtype)
        if x.ndim == 1:
            return dense(activation, params, x[None, :])[0]
        return dense(activation, params, x)

    return Layer(init, apply)


__all__ = [
    "Dense",
    "DenseParams",
    "affine",
    "affine_backward",
    "check_dense_params",
    "check_input",
    "dense",
]
