"""Decoupled decays: the penalties' gradients added to the updates outside the loss.

``add_decayed_weights(λ)`` adds ``λ W`` (the gradient of :func:`fnnet.regularizers.l2_penalty`)
and ``add_l1_decay(λ)`` adds ``λ sign(W)`` (that of ``l1_penalty``), on the leaves selected by
the mask (default :func:`weight_mask`: weights, not biases). Chained before
``scale_by_learning_rate`` they are multiplied by ``η``, as in AdamW.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from fnnet._types import Array
from fnnet.optimizers._base import Optimizer, hyperparam_transform
from fnnet.optimizers._hyperparams import cast_like, check_hyperparam, hyperparam_fields
from fnnet.optimizers._tree import check_same_tree, weight_mask


def _decoupled(who: str, state_type: type, value: Any, mask: Any, direction: Any) -> Optimizer:
    """``u = g + λ · direction(W)`` on the masked leaves, ``g`` elsewhere (``λ`` in the state)."""

    def apply(updates, lam, params):
        if params is None:
            raise ValueError(f"`params` must be passed to update: {who} reads the current params.")
        check_same_tree(updates, params)
        return jax.tree_util.tree_map(
            lambda m, g, w: g + cast_like(lam, g) * direction(w).astype(g.dtype) if m else g,
            weight_mask(params, mask),
            updates,
            params,
        )

    transform = hyperparam_transform(state_type, value, who, apply)

    def init(params):
        weight_mask(params, mask)  # a bad mask fails at init, before any step
        return transform.init(params)

    return Optimizer(init, transform.update)


@hyperparam_fields("weight_decay")
class AddDecayedWeightsState(NamedTuple):
    weight_decay: Array  # shape (), the hyperparameter dtype


def add_decayed_weights(weight_decay: Any, *, mask: Any = None) -> Optimizer:
    """Decoupled L2 decay: ``u = g + λ W`` on weights, ``g`` elsewhere (``λ/2 Σ W²``'s gradient).

    Args:
        weight_decay: ``λ >= 0``.
        mask: which leaves decay; default :func:`weight_mask` (``ndim >= 2``:
            weights, not biases), or a bool pytree, or a function ``params -> mask``.
    """
    check_hyperparam("weight_decay", weight_decay)
    return _decoupled(
        "add_decayed_weights", AddDecayedWeightsState, weight_decay, mask, lambda w: w
    )


@hyperparam_fields("l1_decay")
class AddL1DecayState(NamedTuple):
    l1_decay: Array  # shape (), the hyperparameter dtype


def add_l1_decay(l1_decay: Any, *, mask: Any = None) -> Optimizer:
    """Decoupled L1 decay: ``u = g + λ sign(W)`` on weights (0 at ``W = 0``), ``g`` elsewhere.

    Args:
        l1_decay: ``λ >= 0``, the gradient of ``λ Σ |W|``.
        mask: as :func:`add_decayed_weights`.
    """
    check_hyperparam("l1_decay", l1_decay)
    return _decoupled("add_l1_decay", AddL1DecayState, l1_decay, mask, jnp.sign)
