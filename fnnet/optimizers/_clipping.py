"""Clipping transforms: by value, and by the global norm over every leaf."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from fnnet._types import Array
from fnnet.optimizers._base import Optimizer, hyperparam_transform
from fnnet.optimizers._hyperparams import cast_like, check_hyperparam, hyperparam_fields
from fnnet.optimizers._tree import global_norm


@hyperparam_fields("max_delta")
class ClipByValueState(NamedTuple):
    max_delta: Array  # shape (), the hyperparameter dtype


def clip_by_value(max_delta: Any) -> Optimizer:
    """Clip every update entry to ``[−max_delta, max_delta]`` (``max_delta > 0``)."""
    check_hyperparam("max_delta", max_delta)

    def apply(updates, bound, params):
        del params
        return jax.tree_util.tree_map(
            lambda g: jnp.clip(g, -cast_like(bound, g), cast_like(bound, g)), updates
        )

    return hyperparam_transform(ClipByValueState, max_delta, "clip_by_value", apply)


@hyperparam_fields("max_norm")
class ClipByGlobalNormState(NamedTuple):
    max_norm: Array  # shape (), the hyperparameter dtype


def clip_by_global_norm(max_norm: Any) -> Optimizer:
    """Rescale all updates by ``min(1, max_norm / ‖g‖)``, ``‖g‖`` the norm over every leaf.

    ``max_norm`` must be positive. Zero gradients stay zero.

    References:
        Pascanu, Mikolov & Bengio, "On the difficulty of training recurrent neural networks",
        ICML 2013.
    """
    check_hyperparam("max_norm", max_norm)

    def apply(updates, bound, params):
        del params
        norm = global_norm(updates).astype(bound.dtype)
        factor = bound / jnp.maximum(norm, bound)  # 1 when ‖g‖ <= max_norm
        return jax.tree_util.tree_map(lambda g: cast_like(factor, g) * g, updates)

    return hyperparam_transform(ClipByGlobalNormState, max_norm, "clip_by_global_norm", apply)
