"""Weight initializers: factories returning ``init(key, shape, dtype=jnp.float32) -> array``.

The signature is ``jax.nn.initializers``'s, so those work in fnnet too. For a dense weight of
shape ``(fan_in, fan_out)``:

========================  =====================================================
``normal(0.01)``          N(0, 0.01²), the textbook's choice for small networks
``glorot_normal()``       N(0, 2 / (fan_in + fan_out))            (Glorot & Bengio, 2010)
``glorot_uniform()``      U(±√(6 / (fan_in + fan_out)))
``he_normal()``           N(0, 2 / fan_in), for ReLU networks     (He et al., 2015)
``he_uniform()``          U(±√(6 / fan_in))
``lecun_normal()``        N(0, 1 / fan_in)                        (LeCun et al., 1998)
``zeros``                 all zeros: for biases only
========================  =====================================================

Every random initializer draws each entry independently, so no two hidden units start
equal: symmetry is broken from the first step. ``zeros`` (or any constant) for a weight
matrix would make every hidden unit compute, and learn, the same thing; ``Dense`` never uses
it for weights by default.

References:
    Glorot & Bengio, "Understanding the difficulty of training deep feedforward neural
    networks", AISTATS 2010. He et al., "Delving Deep into Rectifiers", ICCV 2015.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from fnnet._types import Array, Initializer, PRNGKey, Shape


def _check(shape, dtype) -> tuple[int, int]:
    shape = tuple(shape)
    if not all(isinstance(d, int) and d >= 0 for d in shape):
        raise ValueError(f"`shape` must be a tuple of non-negative ints; got {shape}.")
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"`dtype` must be a floating dtype; got {jnp.dtype(dtype)}.")
    if len(shape) < 2:
        fan_in = fan_out = shape[0] if shape else 1
    else:
        receptive = math.prod(shape[:-2])
        fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
    return max(fan_in, 1), max(fan_out, 1)


def normal(stddev: float = 0.01) -> Initializer:
    """N(0, stddev²) entries; the default ``stddev=0.01`` is the textbook's."""

    def init(key: PRNGKey, shape: Shape, dtype=jnp.float32) -> Array:
        _check(shape, dtype)
        return stddev * jax.random.normal(key, shape, dtype)

    return init


def uniform(scale: float = 0.01) -> Initializer:
    """U(−scale, scale) entries."""

    def init(key: PRNGKey, shape: Shape, dtype=jnp.float32) -> Array:
        _check(shape, dtype)
        return jax.random.uniform(key, shape, dtype, -scale, scale)

    return init


def _variance_scaling(scale: float, mode: str, distribution: str) -> Initializer:
    def init(key: PRNGKey, shape: Shape, dtype=jnp.float32) -> Array:
        fan_in, fan_out = _check(shape, dtype)
        fan = {"fan_in": fan_in, "fan_avg": (fan_in + fan_out) / 2}[mode]
        variance = scale / fan
        if distribution == "normal":
            return math.sqrt(variance) * jax.random.normal(key, shape, dtype)
        limit = math.sqrt(3.0 * variance)
        return jax.random.uniform(key, shape, dtype, -limit, limit)

    return init


def glorot_normal() -> Initializer:
    """Glorot/Xavier normal: N(0, 2 / (fan_in + fan_out))."""
    return _variance_scaling(1.0, "fan_avg", "normal")


def glorot_uniform() -> Initializer:
    """Glorot/Xavier uniform: U(±√(6 / (fan_in + fan_out)))."""
    return _variance_scaling(1.0, "fan_avg", "uniform")


def he_normal() -> Initializer:
    """He/Kaiming normal: N(0, 2 / fan_in), keeps ReLU activations' variance constant."""
    return _variance_scaling(2.0, "fan_in", "normal")


def he_uniform() -> Initializer:
    """He/Kaiming uniform: U(±√(6 / fan_in))."""
    return _variance_scaling(2.0, "fan_in", "uniform")


def lecun_normal() -> Initializer:
    """LeCun normal: N(0, 1 / fan_in)."""
    return _variance_scaling(1.0, "fan_in", "normal")


def zeros(key: PRNGKey, shape: Shape, dtype=jnp.float32) -> Array:
    """All zeros (for biases). ``key`` is ignored."""
    del key
    _check(shape, dtype)
    return jnp.zeros(shape, dtype)


def constant(value: float) -> Initializer:
    """All entries equal to ``value`` (for biases, or PReLU slopes)."""

    def init(key: PRNGKey, shape: Shape, dtype=jnp.float32) -> Array:
        del key
        _check(shape, dtype)
        return jnp.full(shape, value, dtype)

    return init


__all__ = [
    "normal",
    "uniform",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "zeros",
    "constant",
]
