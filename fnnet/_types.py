"""Type aliases shared by fnnet's modules (after optax ``base.py`` and jax ``optimizers.py``)."""

from __future__ import annotations

from typing import Any, Callable

import jax

Array = jax.Array
Params = Any  # a pytree of arrays: tuples of DenseParams, dicts, ...
Grads = Any  # gradients have the structure of the params
OptState = Any  # a pytree of arrays
PRNGKey = jax.Array  # a typed key from ``jax.random.key`` (raw uint32 keys work too)
Shape = tuple[int, ...]
Activation = Callable[[Array], Array]
Initializer = Callable[..., Array]  # (key, shape, dtype) -> array
Schedule = Callable[[Array], Array]  # step (0-d int32) -> value

__all__ = [
    "Array",
    "Params",
    "Grads",
    "OptState",
    "PRNGKey",
    "Shape",
    "Activation",
    "Initializer",
    "Schedule",
]
