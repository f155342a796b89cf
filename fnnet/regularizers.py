"""Weight penalties on weights only (never biases): loss terms with hand-written gradients, and
their decoupled forms as optimizer transforms.

=======================  ==========================  ==================================
penalty                  value                       hand-written gradient w.r.t. ``W``
=======================  ==========================  ==================================
``l2_penalty``           ``λ/2 Σ W²``                ``λ W``            (weight decay)
``l1_penalty``           ``λ Σ |W|``                 ``λ sign(W)``      (0 at ``W = 0``)
``elastic_net_penalty``  ``α Σ |W| + β Σ W²``        ``α sign(W) + 2β W``
=======================  ==========================  ==================================

The sums run over every entry of every *weight* leaf. Which leaves are weights is read from the
params structure: a leaf is a weight iff ``ndim >= 2`` (``DenseParams.w`` is ``(fan_in,
fan_out)``; biases, PReLU slopes and scalars are not), see :func:`weight_mask`. Pass ``mask=``
(a pytree of bools shaped like the params, or a function ``params -> mask``) to choose
otherwise. Non-weight leaves get an exact zero gradient.

Use them as loss terms, ``loss(params, batch) + l2_penalty(params, 1e-4)``; the same shrinkage
applied outside the loss is the transform :func:`add_decayed_weights` (L2) or
:func:`add_l1_decay` (L1), chained into an optimizer (``adamw`` is Adam with the first). The
strengths must be finite and ``>= 0`` where concrete; they may be traced arrays (sweep them
with ``jax.vmap``, unchecked); the rules also return the exact
derivative with respect to the strength (the unscaled sum).
Note the elastic net's ``β Σ W²`` has no ``½``, unlike ``l2_penalty``.

The penalty has the weights' dtype (float64 if the weights mix float64 with other dtypes,
float32 for other mixes); the strength is cast to it.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from fnnet._checks import check_real
from fnnet._types import Array, Params
from fnnet.rules import hand_rule
from fnnet.transforms import (
    Optimizer,
    cast_like,
    check_same_tree,
    check_state,
    hyperparam_dtype,
    register_hyperparams,
    store,
)

Mask = Any  # a pytree of Python bools with the params' structure


def weight_mask(params: Params) -> Mask:
    """The default mask: ``True`` for leaves with ``ndim >= 2`` (weights), ``False`` otherwise.

    Call it on one model's params, not on params stacked for a sweep (stacking adds an axis, so
    a stacked bias would look like a weight); inside ``jax.vmap`` the leaves are unstacked.

    Example:
        >>> import jax, fnnet
        >>> net = fnnet.serial(fnnet.Dense(8, fnnet.activations.relu), fnnet.Dense(2))
        >>> weight_mask(net.init(jax.random.key(0), 4))
        (DenseParams(w=True, b=False), DenseParams(w=True, b=False))
    """
    return jax.tree_util.tree_map(lambda leaf: bool(jnp.ndim(leaf) >= 2), params)


def resolve_mask(params: Params, mask: Mask | Callable[[Params], Mask] | None) -> Mask:
    """Return the bool pytree selecting the penalized leaves of ``params``.

    Args:
        params: the parameter pytree.
        mask: ``None`` for :func:`weight_mask`, a pytree of Python bools with the structure of
            ``params``, or a function ``params -> `` such a pytree.

    Raises:
        TypeError: if the mask's structure differs from the params' (both are shown), or a leaf
            is not a Python bool.
    """
    if mask is None:
        return weight_mask(params)
    if callable(mask):
        mask = mask(params)
    params_def = jax.tree_util.tree_structure(params)
    mask_def = jax.tree_util.tree_structure(mask)
    if mask_def != params_def:
        raise TypeError(
            f"`mask` must have the tree structure of `params`: params tree {params_def}, "
            f"mask tree {mask_def}."
        )
    flags = jax.tree_util.tree_leaves(mask)
    bad = [f for f in flags if not isinstance(f, (bool, np.bool_))]
    if bad:
        raise TypeError(
            f"`mask` leaves must be Python bools (static: they select leaves, they are not "
            f"traced); got {type(bad[0]).__name__} {bad[0]!r}."
        )
    return jax.tree_util.tree_map(bool, mask)


def _selected(mask: Mask, params: Params) -> list[Array]:
    flags, leaves = jax.tree_util.tree_leaves(mask), jax.tree_util.tree_leaves(params)
    return [p for m, p in zip(flags, leaves) if m]


def _penalty_dtype(weights: list[Array]) -> Any:
    dtypes = {jnp.result_type(w) for w in weights}
    if len(dtypes) == 1:
        return dtypes.pop()
    return jnp.float64 if jnp.dtype(jnp.float64) in dtypes else jnp.float32


def _total(terms: list[Array], dtype: Any) -> Array:
    return sum(terms, jnp.zeros((), dtype))


def _strength(value: Any, dtype: Any) -> Array:
    return jnp.asarray(value).astype(dtype)


@hand_rule
@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def masked_l2(mask: Mask, params: Params, strength: Any) -> Array:
    """L2 penalty ``λ/2 Σ W²`` over the leaves where ``mask`` is ``True``.

    Backward (``dp = ∂L/∂penalty``): ``dW = dp · λ W`` on masked leaves, ``0`` elsewhere;
    ``dλ = dp · ½ Σ W²``.
    """
    weights = _selected(mask, params)
    dtype = _penalty_dtype(weights)
    half_sum_sq = 0.5 * _total([jnp.sum(jnp.square(w.astype(dtype))) for w in weights], dtype)
    return _strength(strength, dtype) * half_sum_sq


def _masked_l2_fwd(mask, params, strength):
    return masked_l2(mask, params, strength), (params, strength)


def _masked_l2_bwd(mask, res, dp):
    params, strength = res
    weights = _selected(mask, params)
    dtype = _penalty_dtype(weights)
    lam = dp * _strength(strength, dtype)
    dparams = jax.tree_util.tree_map(
        lambda m, w: (lam * w.astype(dtype)).astype(w.dtype) if m else jnp.zeros_like(w),
        mask,
        params,
    )
    half_sum_sq = 0.5 * _total([jnp.sum(jnp.square(w.astype(dtype))) for w in weights], dtype)
    dstrength = (dp * half_sum_sq).astype(jnp.result_type(strength))
    return dparams, dstrength


masked_l2.defvjp(_masked_l2_fwd, _masked_l2_bwd)


@hand_rule
@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def masked_l1(mask: Mask, params: Params, strength: Any) -> Array:
    """L1 penalty ``λ Σ |W|`` over the leaves where ``mask`` is ``True``.

    Backward: ``dW = dp · λ sign(W)`` on masked leaves (the subgradient ``0`` at ``W = 0``, as
    ``jnp.sign``), ``0`` elsewhere; ``dλ = dp · Σ |W|``.
    """
    weights = _selected(mask, params)
    dtype = _penalty_dtype(weights)
    sum_abs = _total([jnp.sum(jnp.abs(w.astype(dtype))) for w in weights], dtype)
    return _strength(strength, dtype) * sum_abs


def _masked_l1_fwd(mask, params, strength):
    return masked_l1(mask, params, strength), (params, strength)


def _masked_l1_bwd(mask, res, dp):
    params, strength = res
    weights = _selected(mask, params)
    dtype = _penalty_dtype(weights)
    lam = dp * _strength(strength, dtype)
    dparams = jax.tree_util.tree_map(
        lambda m, w: (lam * jnp.sign(w.astype(dtype))).astype(w.dtype) if m else jnp.zeros_like(w),
        mask,
        params,
    )
    sum_abs = _total([jnp.sum(jnp.abs(w.astype(dtype))) for w in weights], dtype)
    dstrength = (dp * sum_abs).astype(jnp.result_type(strength))
    return dparams, dstrength


masked_l1.defvjp(_masked_l1_fwd, _masked_l1_bwd)


@hand_rule
@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def masked_elastic_net(mask: Mask, params: Params, l1_strength: Any, l2_strength: Any) -> Array:
    """Elastic-net penalty ``α Σ |W| + β Σ W²`` over the leaves where ``mask`` is ``True``.

    Backward: ``dW = dp · (α sign(W) + 2β W)`` on masked leaves (``sign(0) = 0``), ``0``
    elsewhere; ``dα = dp · Σ |W|``, ``dβ = dp · Σ W²``.
    """
    weights = _selected(mask, params)
    dtype = _penalty_dtype(weights)
    sum_abs = _total([jnp.sum(jnp.abs(w.astype(dtype))) for w in weights], dtype)
    sum_sq = _total([jnp.sum(jnp.square(w.astype(dtype))) for w in weights], dtype)
    return _strength(l1_strength, dtype) * sum_abs + _strength(l2_strength, dtype) * sum_sq


def _masked_elastic_net_fwd(mask, params, l1_strength, l2_strength):
    out = masked_elastic_net(mask, params, l1_strength, l2_strength)
    return out, (params, l1_strength, l2_strength)


def _masked_elastic_net_bwd(mask, res, dp):
    params, l1_strength, l2_strength = res
    weights = _selected(mask, params)
    dtype = _penalty_dtype(weights)
    alpha, beta = dp * _strength(l1_strength, dtype), dp * _strength(l2_strength, dtype)

    def dweight(m, w):
        if not m:
            return jnp.zeros_like(w)
        w_ = w.astype(dtype)
        return (alpha * jnp.sign(w_) + 2.0 * beta * w_).astype(w.dtype)

    dparams = jax.tree_util.tree_map(dweight, mask, params)
    sum_abs = _total([jnp.sum(jnp.abs(w.astype(dtype))) for w in weights], dtype)
    sum_sq = _total([jnp.sum(jnp.square(w.astype(dtype))) for w in weights], dtype)
    dl1 = (dp * sum_abs).astype(jnp.result_type(l1_strength))
    dl2 = (dp * sum_sq).astype(jnp.result_type(l2_strength))
    return dparams, dl1, dl2


masked_elastic_net.defvjp(_masked_elastic_net_fwd, _masked_elastic_net_bwd)


def l2_penalty(params: Params, strength: Any, *, mask: Any = None) -> Array:
    """L2 (weight-decay) penalty ``λ/2 Σ W²`` on the weights of ``params``; gradient ``λ W``.

    Args:
        params: the parameter pytree.
        strength: ``λ`` (float or 0-d array, maybe traced).
        mask: which leaves to penalize; default :func:`weight_mask` (``ndim >= 2``).

    Returns:
        A scalar with the weights' dtype.

    Example:
        >>> import jax.numpy as jnp
        >>> params = {"w": jnp.array([[1.0, -2.0]]), "b": jnp.array([5.0])}
        >>> float(l2_penalty(params, 0.1))  # the bias is not penalized
        0.25
    """
    check_real("strength", strength, low=0.0)
    return masked_l2(resolve_mask(params, mask), params, strength)


def l1_penalty(params: Params, strength: Any, *, mask: Any = None) -> Array:
    """L1 penalty ``λ Σ |W|`` on the weights of ``params``; (sub)gradient ``λ sign(W)``, 0 at 0.

    Args and returns as :func:`l2_penalty`.
    """
    check_real("strength", strength, low=0.0)
    return masked_l1(resolve_mask(params, mask), params, strength)


def elastic_net_penalty(
    params: Params, l1_strength: Any, l2_strength: Any, *, mask: Any = None
) -> Array:
    """Elastic-net penalty ``α Σ |W| + β Σ W²`` on the weights; gradient ``α sign(W) + 2β W``.

    Args:
        params: the parameter pytree.
        l1_strength: ``α``.
        l2_strength: ``β`` (no ``½``: ``β = λ/2`` matches ``l2_penalty(params, λ)``).
        mask: as :func:`l2_penalty`.
    """
    check_real("l1_strength", l1_strength, low=0.0)
    check_real("l2_strength", l2_strength, low=0.0)
    return masked_elastic_net(resolve_mask(params, mask), params, l1_strength, l2_strength)


# ---------------------------------------------------------------- decoupled forms


def _require_params(params: Any, who: str) -> None:
    if params is None:
        raise ValueError(f"`params` must be passed to update: {who} reads the current params.")


@register_hyperparams("weight_decay")
class AddDecayedWeightsState(NamedTuple):
    weight_decay: Array  # shape (), the hyperparameter dtype


def add_decayed_weights(weight_decay: Any, *, mask: Any = None) -> Optimizer:
    """Decoupled L2 decay: ``u = g + λ W`` on weights, ``g`` elsewhere (``λ/2 Σ W²``'s gradient).

    Args:
        weight_decay: ``λ``.
        mask: which leaves decay; default :func:`weight_mask` (``ndim >= 2``:
            weights, not biases), or a bool pytree, or a function ``params -> mask``.
    """
    check_real("weight_decay", weight_decay, low=0.0)

    def init(params):
        resolve_mask(params, mask)
        return AddDecayedWeightsState(store(weight_decay, hyperparam_dtype(params)))

    def update(updates, state, params=None):
        check_state(state, AddDecayedWeightsState, "add_decayed_weights")
        _require_params(params, "add_decayed_weights")
        check_same_tree(updates, params)
        lam = state.weight_decay
        flags = resolve_mask(params, mask)
        new = jax.tree_util.tree_map(
            lambda m, g, w: g + cast_like(lam, g) * w.astype(g.dtype) if m else g,
            flags,
            updates,
            params,
        )
        return new, state

    return Optimizer(init, update)


@register_hyperparams("l1_decay")
class AddL1DecayState(NamedTuple):
    l1_decay: Array  # shape (), the hyperparameter dtype


def add_l1_decay(l1_decay: Any, *, mask: Any = None) -> Optimizer:
    """Decoupled L1 decay: ``u = g + λ sign(W)`` on weights (0 at ``W = 0``), ``g`` elsewhere.

    Args:
        l1_decay: ``λ``, the gradient of ``λ Σ |W|``.
        mask: as :func:`add_decayed_weights`.
    """
    check_real("l1_decay", l1_decay, low=0.0)

    def init(params):
        resolve_mask(params, mask)
        return AddL1DecayState(store(l1_decay, hyperparam_dtype(params)))

    def update(updates, state, params=None):
        check_state(state, AddL1DecayState, "add_l1_decay")
        _require_params(params, "add_l1_decay")
        check_same_tree(updates, params)
        lam = state.l1_decay
        flags = resolve_mask(params, mask)
        new = jax.tree_util.tree_map(
            lambda m, g, w: g + cast_like(lam, g) * jnp.sign(w).astype(g.dtype) if m else g,
            flags,
            updates,
            params,
        )
        return new, state

    return Optimizer(init, update)


__all__ = [
    "weight_mask",
    "resolve_mask",
    "l2_penalty",
    "l1_penalty",
    "elastic_net_penalty",
    "masked_l2",
    "masked_l1",
    "masked_elastic_net",
    "add_decayed_weights",
    "add_l1_decay",
    "AddDecayedWeightsState",
    "AddL1DecayState",
]
