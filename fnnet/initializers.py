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
``fan_in_uniform()``      U(±1/√fan_in): PyTorch's default for every layer
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

from fnnet._checks import check_positive_int
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


def fan_in_uniform(fan_in: int | None = None) -> Initializer:
    """PyTorch's default initialisation, ``U(±1/√fan_in)``, for weights and biases alike.

    * ``nn.Linear`` and ``nn.Conv*d``: leave ``fan_in`` out for a weight, whose fan-in is
      read off its shape as the product of all but the last axis (``fan_in`` of a dense
      ``(fan_in, fan_out)``, ``in_channels × kernel volume`` of a kernel
      ``(*kernel, in_channels, features)``); a bias ``(features,)`` cannot know its layer's
      fan-in, so pass it: ``b_init=fan_in_uniform(1 * 5)`` for ``Conv1d(1, 25, 5)``.
    * ``nn.RNN``, ``nn.LSTM``, ``nn.GRU``: every weight and bias uses the hidden size,
      ``fan_in_uniform(hidden)`` (the recurrent layers' default).

    Args:
        fan_in: the fan-in ``n`` of the bound ``1/√n``; ``None``: read off a weight's shape.

    Returns:
        An initializer ``(key, shape, dtype=float32) -> array``; with ``fan_in=None`` it
        refuses a shape of fewer than two axes.

    Example:
        >>> import jax
        >>> from fnnet import initializers
        >>> w = initializers.fan_in_uniform()(jax.random.key(0), (5, 1, 25))  # Conv1d(1, 25, 5)
        >>> bool(abs(w).max() <= 1 / 5**0.5)
        True
    """
    if fan_in is not None:
        fan_in = check_positive_int("fan_in", fan_in)

    def init(key: PRNGKey, shape: Shape, dtype=jnp.float32) -> Array:
        _check(shape, dtype)
        if fan_in is None and len(tuple(shape)) < 2:
            raise ValueError(
                f"`fan_in_uniform()` reads the fan-in off a weight's shape, but {tuple(shape)} "
                f"has fewer than two axes (a bias?): pass the layer's fan-in, "
                f"fan_in_uniform(fan_in)."
            )
        n = fan_in if fan_in is not None else max(math.prod(tuple(shape)[:-1]), 1)
        bound = 1.0 / math.sqrt(n)
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


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
    "fan_in_uniform",
    "zeros",
    "constant",
]
