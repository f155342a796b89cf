"""Type aliases shared by fnnet's modules (after optax ``base.py`` and jax ``optimizers.py``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

Array = jax.Array
Params = Any  # a pytree of arrays: tuples of DenseParams, dicts, ...
Grads = Any  # gradients have the structure of the params
OptState = Any  # a pytree of arrays
PRNGKey = jax.Array  # a typed key from ``jax.random.key`` (raw uint32 keys work too)
Shape = tuple[int, ...]
ActivationFn = Callable[[Array], Array]  # z -> a (the Activation *layer* is fnnet.layers)
Initializer = Callable[..., Array]  # (key, shape, dtype) -> array
Schedule = Callable[[Array], Array]  # step (0-d int32) -> value
