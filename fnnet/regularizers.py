"""Weight penalties on weights only (never biases): loss terms with hand-written gradients.

=======================  ==========================  ==================================
penalty                  value                       hand-written gradient w.r.t. ``W``
=======================  ==========================  ==================================
``l2_penalty``           ``λ/2 Σ W²``                ``λ W``            (weight decay)
``l1_penalty``           ``λ Σ |W|``                 ``λ sign(W)``      (0 at ``W = 0``)
``elastic_net_penalty``  ``α Σ |W| + β Σ W²``        ``l1_penalty(α) + l2_penalty(2β)``
=======================  ==========================  ==================================

Two rules, :func:`masked_l2` and :func:`masked_l1`; the elastic net composes them, so its
gradient ``α sign(W) + 2β W`` comes from their two backward passes. The sums run over every
entry of every *weight* leaf. Which leaves are weights is read from the params structure: a
leaf is a weight iff ``ndim >= 2`` (``DenseParams.w`` is ``(fan_in, fan_out)``; biases, PReLU
slopes and scalars are not), see :func:`fnnet.optimizers.weight_mask`. Pass ``mask=`` (a
pytree of bools shaped like the params, or a function ``params -> mask``) to choose otherwise.
Non-weight leaves get an exact zero gradient.

Use them as loss terms, ``loss(params, batch) + l2_penalty(params, 1e-4)``; the same shrinkage
applied outside the loss is an optimizer transform, :func:`fnnet.optimizers.add_decayed_weights`
(L2) or :func:`fnnet.optimizers.add_l1_decay` (L1) (``adamw`` is Adam with the first). The
strengths must be finite and ``>= 0`` where concrete; they may be traced arrays (sweep them
with ``jax.vmap``, unchecked); the rules also return the exact derivative with respect to the
strength (the unscaled sum). Note the elastic net's ``β Σ W²`` has no ``½``, unlike
``l2_penalty``.

The penalty has the weights' dtype (float64 if the weights mix float64 with other dtypes,
float32 for other mixes); the strength is cast to it.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

from fnnet._checks import check_real
from fnnet._types import Array, Params
from fnnet.optimizers import weight_mask
from fnnet.rules import hand_rule

Mask = Any  # a pytree of Python bools with the params' structure


def _masked_sum(mask: Mask, params: Params, term: Any) -> tuple[Array, Any]:
    """``Σ term(W)`` over the masked leaves, in the penalty dtype (also returned)."""
    flags, leaves = jax.tree_util.tree_leaves(mask), jax.tree_util.tree_leaves(params)
    weights = [w for m, w in zip(flags, leaves) if m]
    dtypes = {jnp.result_type(w) for w in weights}
    if len(dtypes) == 1:
        dtype = dtypes.pop()
    else:
        dtype = jnp.float64 if jnp.dtype(jnp.float64) in dtypes else jnp.float32
    total = sum((jnp.sum(term(w.astype(dtype))) for w in weights), jnp.zeros((), dtype))
    return total, dtype


def _masked_grad(mask: Mask, params: Params, coefficient: Array, direction: Any, dtype: Any):
    """``coefficient · direction(W)`` on the masked leaves (in their dtypes), exact 0 elsewhere."""

    def grad(m, w):
        if not m:
            return jnp.zeros_like(w)
        return (coefficient * direction(w.astype(dtype))).astype(w.dtype)

    return jax.tree_util.tree_map(grad, mask, params)


def _half_square(w: Array) -> Array:
    return 0.5 * jnp.square(w)


def _identity(w: Array) -> Array:
    return w


@hand_rule
@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def masked_l2(mask: Mask, params: Params, strength: Any) -> Array:
    """L2 penalty ``λ/2 Σ W²`` over the leaves where ``mask`` is ``True``.

    Backward (``dp = ∂L/∂penalty``): ``dW = dp · λ W`` on masked leaves, ``0`` elsewhere;
    ``dλ = dp · ½ Σ W²``.
    """
    half_sum_sq, dtype = _masked_sum(mask, params, _half_square)
    return jnp.asarray(strength).astype(dtype) * half_sum_sq


def _masked_l2_fwd(mask, params, strength):
    return masked_l2(mask, params, strength), (params, strength)


def _masked_l2_bwd(mask, res, dp):
    params, strength = res
    half_sum_sq, dtype = _masked_sum(mask, params, _half_square)
    lam = dp * jnp.asarray(strength).astype(dtype)
    dparams = _masked_grad(mask, params, lam, _identity, dtype)
    return dparams, (dp * half_sum_sq).astype(jnp.result_type(strength))


masked_l2.defvjp(_masked_l2_fwd, _masked_l2_bwd)


@hand_rule
@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def masked_l1(mask: Mask, params: Params, strength: Any) -> Array:
    """L1 penalty ``λ Σ |W|`` over the leaves where ``mask`` is ``True``.

    Backward: ``dW = dp · λ sign(W)`` on masked leaves (the subgradient ``0`` at ``W = 0``, as
    ``jnp.sign``), ``0`` elsewhere; ``dλ = dp · Σ |W|``.
    """
    sum_abs, dtype = _masked_sum(mask, params, jnp.abs)
    return jnp.asarray(strength).astype(dtype) * sum_abs


def _masked_l1_fwd(mask, params, strength):
    return masked_l1(mask, params, strength), (params, strength)


def _masked_l1_bwd(mask, res, dp):
    params, strength = res
    sum_abs, dtype = _masked_sum(mask, params, jnp.abs)
    lam = dp * jnp.asarray(strength).astype(dtype)
    dparams = _masked_grad(mask, params, lam, jnp.sign, dtype)
    return dparams, (dp * sum_abs).astype(jnp.result_type(strength))


masked_l1.defvjp(_masked_l1_fwd, _masked_l1_bwd)


def l2_penalty(params: Params, strength: Any, *, mask: Any = None) -> Array:
    """L2 (weight-decay) penalty ``λ/2 Σ W²`` on the weights of ``params``; gradient ``λ W``.

    Args:
        params: the parameter pytree.
        strength: ``λ`` (float or 0-d array, maybe traced).
        mask: which leaves to penalize; default :func:`fnnet.optimizers.weight_mask` (``ndim >= 2``).

    Returns:
        A scalar with the weights' dtype.

    Example:
        >>> import jax.numpy as jnp
        >>> params = {"w": jnp.array([[1.0, -2.0]]), "b": jnp.array([5.0])}
        >>> float(l2_penalty(params, 0.1))  # the bias is not penalized
        0.25
    """
    check_real("strength", strength, low=0.0)
    return masked_l2(weight_mask(params, mask), params, strength)


def l1_penalty(params: Params, strength: Any, *, mask: Any = None) -> Array:
    """L1 penalty ``λ Σ |W|`` on the weights of ``params``; (sub)gradient ``λ sign(W)``, 0 at 0.

    Args and returns as :func:`l2_penalty`.
    """
    check_real("strength", strength, low=0.0)
    return masked_l1(weight_mask(params, mask), params, strength)


def elastic_net_penalty(
    params: Params, l1_strength: Any, l2_strength: Any, *, mask: Any = None
) -> Array:
    """Elastic-net penalty ``α Σ |W| + β Σ W²`` on the weights; gradient ``α sign(W) + 2β W``.

    The composition ``l1_penalty(params, α) + l2_penalty(params, 2β)``: no rule of its own.

    Args:
        params: the parameter pytree.
        l1_strength: ``α``.
        l2_strength: ``β`` (no ``½``: ``β = λ/2`` matches ``l2_penalty(params, λ)``).
        mask: as :func:`l2_penalty`.
    """
    check_real("l1_strength", l1_strength, low=0.0)
    check_real("l2_strength", l2_strength, low=0.0)
    flags = weight_mask(params, mask)
    return masked_l1(flags, params, l1_strength) + masked_l2(flags, params, 2 * l2_strength)


__all__ = [
    "l2_penalty",
    "l1_penalty",
    "elastic_net_penalty",
    "masked_l2",
    "masked_l1",
]
