"""Learning-rate schedules: closures ``schedule(step) -> value``.

``step`` is the number of updates already applied, a 0-d int32 count kept in the optimizer
state (``0`` for the first update); an array of steps gives the values elementwise, which is
handy for plotting. Every schedule parameter may be a Python number or a 0-d (possibly traced)
array, so a schedule built inside ``jax.vmap`` sweeps its parameters with one compile. No
schedule branches in Python on a parameter's value; phases are selected with ``jnp.where``.

The value's dtype is the common dtype of the schedule's real-valued parameters: float32 for
Python floats (float64 with x64 enabled), or that of the arrays passed. Step counts are cast to
it explicitly (exact up to 2**24 steps in float32). The optimizer casts the value to each
gradient's dtype.

=================================  =============================================================
``constant(v)``                    ``v``
``exponential_decay(v, r, T)``     ``v · r^(t/T)``  (``staircase``: ``r^⌊t/T⌋``, a step decay)
``piecewise_constant(b, vs)``      ``vs[i]`` for ``b[i-1] <= t < b[i]``
``inverse_time_decay(v, r, T)``    ``v / (1 + r·t/T)``
``polynomial_decay(v, e, T, p)``   ``(v − e)(1 − min(t, T)/T)^p + e``  (``p = 1``: linear)
``cosine_decay(v, T, alpha)``      ``v((1 − α)·½(1 + cos(π min(t, T)/T)) + α)``
``warmup_cosine_decay(...)``       linear ``v0 → peak`` over ``W`` steps, then cosine to ``end``
=================================  =============================================================

"Halve the learning rate every ``k`` steps" is ``exponential_decay(lr, 0.5, k, staircase=True)``.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import jax.numpy as jnp
import numpy as np

from fnnet._types import Array, Schedule

ScalarOrSchedule = Any  # a float, a 0-d array, or a Schedule


def check_scalar(name: str, value: Any) -> None:
    """Raise a clear error unless ``value`` is a real number or a 0-d real array (maybe traced)."""
    if isinstance(value, (bool, np.bool_, str, bytes)) or callable(value) or value is None:
        raise TypeError(f"`{name}` must be a real number or a 0-d array; got {value!r}.")
    try:
        shape, dtype = jnp.shape(value), jnp.result_type(value)
    except TypeError:
        raise TypeError(
            f"`{name}` must be a real number or a 0-d array; got {type(value).__name__}."
        ) from None
    if not (jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.integer)):
        raise TypeError(f"`{name}` must have a real (float or int) dtype; got {dtype}.")
    if shape != ():
        raise ValueError(
            f"`{name}` must be a scalar (shape ()); got shape {shape}. To sweep several "
            f"values, jax.vmap over them."
        )


def _dtype(*values: Any) -> np.dtype:
    """Common floating dtype of the real-valued parameters (the default float if all are ints)."""
    dtype = jnp.result_type(*values)
    if not jnp.issubdtype(dtype, jnp.floating):
        dtype = jnp.result_type(float)
    return dtype


def _steps(step: Any, dtype: Any) -> Array:
    step = jnp.asarray(step)
    if not (jnp.issubdtype(step.dtype, jnp.integer) or jnp.issubdtype(step.dtype, jnp.floating)):
        raise TypeError(f"`step` must be an int32 count; got dtype {step.dtype}.")
    return step.astype(dtype)


def _progress(step: Any, decay_steps: Any, dtype: Any, staircase: bool) -> Array:
    """``t / T`` in ``dtype``, floored when ``staircase`` (a static bool)."""
    p = _steps(step, dtype) / jnp.asarray(decay_steps).astype(dtype)
    return jnp.floor(p) if staircase else p


def _check(**params: Any) -> None:
    for name, value in params.items():
        check_scalar(name, value)


def constant(value: Any) -> Schedule:
    """The schedule ``t -> value`` for every step."""
    _check(value=value)

    def schedule(step: Array) -> Array:
        dtype = _dtype(value)
        return jnp.broadcast_to(jnp.asarray(value, dtype), jnp.shape(step))

    return schedule


def exponential_decay(
    init_value: Any, decay_rate: Any, decay_steps: Any, *, staircase: bool = False
) -> Schedule:
    """Exponential decay ``v · r^(t/T)``; with ``staircase=True``, ``v · r^⌊t/T⌋``.

    Args:
        init_value: ``v``, the value at step 0.
        decay_rate: ``r``, the factor applied every ``decay_steps`` steps (``0.5`` halves).
        decay_steps: ``T > 0``, steps per factor ``r``.
        staircase: decay in discrete jumps every ``T`` steps (a step decay) instead of smoothly.
    """
    _check(init_value=init_value, decay_rate=decay_rate, decay_steps=decay_steps)
    if not isinstance(staircase, bool):
        raise TypeError(f"`staircase` must be a bool; got {staircase!r}.")

    def schedule(step: Array) -> Array:
        dtype = _dtype(init_value, decay_rate)
        p = _progress(step, decay_steps, dtype, staircase)
        return jnp.asarray(init_value, dtype) * jnp.asarray(decay_rate, dtype) ** p

    return schedule


def piecewise_constant(
    boundaries: Sequence[Any] | Array, values: Sequence[Any] | Array
) -> Schedule:
    """Piecewise constant: ``values[i]`` for ``boundaries[i-1] <= t < boundaries[i]``.

    Args:
        boundaries: ``k`` increasing step numbers (a sequence or 1-d array, maybe traced).
        values: ``k + 1`` values: ``values[0]`` before ``boundaries[0]``, ``values[k]`` from
            ``boundaries[k-1]`` on.
    """
    boundaries, values = jnp.asarray(boundaries), jnp.asarray(values)
    if boundaries.ndim != 1 or values.ndim != 1 or values.shape[0] != boundaries.shape[0] + 1:
        raise ValueError(
            f"`boundaries` and `values` must be 1-d with len(values) == len(boundaries) + 1; "
            f"got boundaries shape {boundaries.shape}, values shape {values.shape}."
        )
    for name, arr in (("boundaries", boundaries), ("values", values)):
        real = jnp.issubdtype(arr.dtype, jnp.floating) or jnp.issubdtype(arr.dtype, jnp.integer)
        if not real:
            raise TypeError(f"`{name}` must be real numbers; got dtype {arr.dtype}.")

    def schedule(step: Array) -> Array:
        dtype = _dtype(values)
        t = _steps(step, dtype)
        passed = t[..., None] >= boundaries.astype(dtype)  # boundaries already reached
        return values.astype(dtype)[jnp.sum(passed, axis=-1)]

    return schedule


def inverse_time_decay(
    init_value: Any, decay_rate: Any, decay_steps: Any, *, staircase: bool = False
) -> Schedule:
    """Inverse-time decay ``v / (1 + r · t/T)`` (``⌊t/T⌋`` with ``staircase=True``)."""
    _check(init_value=init_value, decay_rate=decay_rate, decay_steps=decay_steps)
    if not isinstance(staircase, bool):
        raise TypeError(f"`staircase` must be a bool; got {staircase!r}.")

    def schedule(step: Array) -> Array:
        dtype = _dtype(init_value, decay_rate)
        p = _progress(step, decay_steps, dtype, staircase)
        return jnp.asarray(init_value, dtype) / (1.0 + jnp.asarray(decay_rate, dtype) * p)

    return schedule


def polynomial_decay(
    init_value: Any, end_value: Any, decay_steps: Any, power: Any = 1.0
) -> Schedule:
    """Polynomial decay ``(v − e)(1 − min(t, T)/T)^p + e``: ``v`` to ``e`` in ``T`` steps.

    ``power=1`` is a linear decay.
    """
    _check(init_value=init_value, end_value=end_value, decay_steps=decay_steps, power=power)

    def schedule(step: Array) -> Array:
        dtype = _dtype(init_value, end_value, power)
        total = jnp.asarray(decay_steps).astype(dtype)
        frac = 1.0 - jnp.minimum(_steps(step, dtype), total) / total
        v, e = jnp.asarray(init_value, dtype), jnp.asarray(end_value, dtype)
        return (v - e) * frac ** jnp.asarray(power, dtype) + e

    return schedule


def cosine_decay(init_value: Any, decay_steps: Any, alpha: Any = 0.0) -> Schedule:
    """Cosine decay ``v((1 − α)·½(1 + cos(π min(t, T)/T)) + α)``: ``v`` to ``αv`` in ``T`` steps.

    References:
        Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts", ICLR 2017
        (one cycle, without restarts).
    """
    _check(init_value=init_value, decay_steps=decay_steps, alpha=alpha)

    def schedule(step: Array) -> Array:
        dtype = _dtype(init_value, alpha)
        total = jnp.asarray(decay_steps).astype(dtype)
        frac = jnp.minimum(_steps(step, dtype), total) / total
        cosine = 0.5 * (1.0 + jnp.cos(math.pi * frac))
        a = jnp.asarray(alpha, dtype)
        return jnp.asarray(init_value, dtype) * ((1.0 - a) * cosine + a)

    return schedule


def warmup_cosine_decay(
    init_value: Any, peak_value: Any, warmup_steps: Any, decay_steps: Any, end_value: Any = 0.0
) -> Schedule:
    """Linear warm-up from ``init_value`` to ``peak_value``, then cosine decay to ``end_value``.

    With ``W = warmup_steps`` and ``T = decay_steps`` (the total length, warm-up included)::

        t < W:   v0 + (peak − v0) · t / W
        t >= W:  end + (peak − end) · ½(1 + cos(π min(t − W, T − W) / (T − W)))

    ``W = 0`` skips the warm-up; ``T > W`` is expected (``T == W`` holds the peak).
    """
    _check(
        init_value=init_value,
        peak_value=peak_value,
        warmup_steps=warmup_steps,
        decay_steps=decay_steps,
        end_value=end_value,
    )

    def schedule(step: Array) -> Array:
        dtype = _dtype(init_value, peak_value, end_value)
        t = _steps(step, dtype)
        warmup = jnp.asarray(warmup_steps).astype(dtype)
        length = jnp.asarray(decay_steps).astype(dtype) - warmup
        v0, peak, end = (jnp.asarray(v, dtype) for v in (init_value, peak_value, end_value))
        # max(·, 1) only guards the branch that jnp.where discards (W = 0, or T = W)
        rising = v0 + (peak - v0) * t / jnp.maximum(warmup, 1.0)
        frac = jnp.minimum(t - warmup, length) / jnp.maximum(length, 1.0)
        falling = end + (peak - end) * 0.5 * (1.0 + jnp.cos(math.pi * frac))
        return jnp.where(t < warmup, rising, falling)

    return schedule


__all__ = [
    "ScalarOrSchedule",
    "check_scalar",
    "constant",
    "exponential_decay",
    "piecewise_constant",
    "inverse_time_decay",
    "polynomial_decay",
    "cosine_decay",
    "warmup_cosine_decay",
]
