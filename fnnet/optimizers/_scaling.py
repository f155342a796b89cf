"""Scaling transforms: a constant factor, and the descent step ``−η g`` with ``η`` a number or
a schedule from :mod:`fnnet.schedules` evaluated at the step count kept in the state."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from fnnet._types import Array
from fnnet.optimizers._base import Optimizer, check_state, hyperparam_transform
from fnnet.optimizers._hyperparams import (
    cast_like,
    check_hyperparam,
    hyperparam_fields,
    safe_increment,
)


@hyperparam_fields("step_size")
class ScaleState(NamedTuple):
    step_size: Array  # shape (), the hyperparameter dtype


def scale(step_size: Any) -> Optimizer:
    """Multiply the updates by ``step_size`` (no sign flip); ``step_size`` finite, any sign."""
    check_hyperparam("step_size", step_size)

    def apply(updates, factor, params):
        del params
        return jax.tree_util.tree_map(lambda g: cast_like(factor, g) * g, updates)

    return hyperparam_transform(ScaleState, step_size, "scale", apply)


@hyperparam_fields("learning_rate")
class ScaleByLearningRateState(NamedTuple):
    learning_rate: Array  # shape (), the hyperparameter dtype


class ScaleByScheduleState(NamedTuple):
    count: Array  # shape (), int32: updates applied so far


def _descend(updates: Any, lr: Array) -> Any:
    """``−η · g`` leaf by leaf, ``η`` cast to each leaf's dtype."""
    return jax.tree_util.tree_map(lambda g: -cast_like(lr, g) * g, updates)


def scale_by_learning_rate(learning_rate: Any) -> Optimizer:
    """Descent step ``u = −η · g``, with ``η`` a number, a 0-d array, or a schedule ``step -> η``.

    A constant ``η`` is stored in the state (``ScaleByLearningRateState``); a schedule is
    evaluated at the state's int32 ``count`` (0 for the first update), which is then incremented.
    A concrete ``η`` must be finite and ``>= 0`` (a traced one is not checked).
    """
    if callable(learning_rate):
        schedule = learning_rate

        def init_schedule(params):
            del params
            return ScaleByScheduleState(jnp.zeros((), jnp.int32))

        def update_schedule(updates, state, params=None):
            del params
            check_state(state, ScaleByScheduleState, "scale_by_learning_rate (with a schedule)")
            lr = jnp.asarray(schedule(state.count))
            if lr.shape != ():
                raise ValueError(f"`learning_rate` schedule must return shape (); got {lr.shape}.")
            return _descend(updates, lr), ScaleByScheduleState(safe_increment(state.count))

        return Optimizer(init_schedule, update_schedule)

    check_hyperparam("learning_rate", learning_rate)

    def apply(updates, lr, params):
        del params
        return _descend(updates, lr)

    return hyperparam_transform(
        ScaleByLearningRateState, learning_rate, "scale_by_learning_rate", apply
    )
