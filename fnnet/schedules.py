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

=============================================  =================================================
``constant(v)``                                ``v``
``exponential_decay(v, decay_rate=r,``         ``v · r^(t/T)``  (``staircase``: ``r^⌊t/T⌋``)
``decay_steps=T)``
``piecewise_constant(b, values=vs)``           ``vs[i]`` for ``b[i-1] <= t < b[i]``
``inverse_time_decay(v, decay_rate=r,``        ``v / (1 + r·t/T)``
``decay_steps=T)``
``polynomial_decay(v, end_value=e,``           ``(v − e)(1 − min(t, T)/T)^p + e``  (``p = 1``:
``decay_steps=T, power=p)``                    linear)
``cosine_decay(v, decay_steps=T, alpha=α)``    ``v((1 − α)·½(1 + cos(π min(t, T)/T)) + α)``
``warmup_cosine_decay(v0, peak_value=...,``    linear ``v0 → peak`` over ``W`` steps, then
``warmup_steps=W, decay_steps=T, end_value)``  cosine to ``end``
=============================================  =================================================

Every argument after the first is keyword-only: fnnet's order differs from optax's (for example
``optax.exponential_decay(init_value, transition_steps, decay_rate)``), so a positional port
would swap values silently. Concrete arguments are validated at construction: values (learning
rates) finite and ``>= 0``, ``decay_steps >= 1``; traced ones (inside a ``vmap`` sweep) pass
unchecked.

"Halve the learning rate every ``k`` steps" is
``exponential_decay(lr, decay_rate=0.5, decay_steps=k, staircase=True)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np

from fnnet._checks import check_bool, check_real, is_concrete
from fnnet._types import Array, Schedule


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


def _check_value(name: str, value: Any) -> None:
    """A schedule value (a learning rate): finite and ``>= 0`` where concrete."""
    check_real(name, value, low=0.0)


def _check_steps(name: str, value: Any, *, low: float = 1.0) -> None:
    """A number of steps: finite and ``>= low`` (1 for a decay length) where concrete."""
    check_real(name, value, low=low)


def _rate_decay(
    init_value: Any, decay_rate: Any, decay_steps: Any, staircase: Any, formula: Any
) -> Schedule:
    """``formula(v, r, p)`` with the progress ``p = t/T`` (floored when ``staircase``), after
    checking ``v >= 0``, ``r >= 0``, ``T >= 1`` (exponential and inverse-time decay)."""
    _check_value("init_value", init_value)
    check_real("decay_rate", decay_rate, low=0.0)
    _check_steps("decay_steps", decay_steps)
    check_bool("staircase", staircase)

    def schedule(step: Array) -> Array:
        dtype = _dtype(init_value, decay_rate)
        p = _progress(step, decay_steps, dtype, staircase)
        return formula(jnp.asarray(init_value, dtype), jnp.asarray(decay_rate, dtype), p)

    return schedule


def constant(value: Any) -> Schedule:
    """The schedule ``t -> value`` for every step (``value`` finite, ``>= 0``)."""
    _check_value("value", value)

    def schedule(step: Array) -> Array:
        dtype = _dtype(value)
        return jnp.broadcast_to(jnp.asarray(value, dtype), jnp.shape(step))

    return schedule


def exponential_decay(
    init_value: Any, *, decay_rate: Any, decay_steps: Any, staircase: bool = False
) -> Schedule:
    """Exponential decay ``v · r^(t/T)``; with ``staircase=True``, ``v · r^⌊t/T⌋``.

    Every argument after ``init_value`` is keyword-only (optax's order is ``(init_value,
    transition_steps, decay_rate)``: a positional port would swap ``r`` and ``T`` silently).

    Args:
        init_value: ``v >= 0``, the value at step 0.
        decay_rate: ``r >= 0``, the factor applied every ``decay_steps`` steps (``0.5`` halves).
        decay_steps: ``T >= 1``, steps per factor ``r``.
        staircase: decay in discrete jumps every ``T`` steps (a step decay) instead of smoothly.

    Example:
        >>> float(exponential_decay(0.1, decay_rate=0.5, decay_steps=10, staircase=True)(25))
        0.02500000037252903
    """
    return _rate_decay(init_value, decay_rate, decay_steps, staircase, lambda v, r, p: v * r**p)


def piecewise_constant(
    boundaries: Sequence[Any] | Array, *, values: Sequence[Any] | Array
) -> Schedule:
    """Piecewise constant: ``values[i]`` for ``boundaries[i-1] <= t < boundaries[i]``.

    ``values`` are absolute values (optax's ``piecewise_constant_schedule`` takes an initial
    value and *scales* multiplied in at each boundary); keyword-only so a port cannot pass
    scales where values are meant.

    Args:
        boundaries: ``k`` non-decreasing step numbers (a sequence or 1-d array, maybe traced).
        values: ``k + 1`` values ``>= 0``: ``values[0]`` before ``boundaries[0]``, ``values[k]``
            from ``boundaries[k-1]`` on.

    Example:
        >>> schedule = piecewise_constant([10, 20], values=[0.1, 0.01, 0.001])
        >>> [round(float(schedule(t)), 4) for t in (0, 10, 25)]
        [0.1, 0.01, 0.001]
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
        if is_concrete(arr) and not np.all(np.isfinite(np.asarray(arr))):
            raise ValueError(f"`{name}` must be finite; got {np.asarray(arr).tolist()}.")
    if is_concrete(values) and np.any(np.asarray(values) < 0):
        raise ValueError(f"`values` must be >= 0; got {np.asarray(values).tolist()}.")
    if is_concrete(boundaries) and np.any(np.diff(np.asarray(boundaries)) < 0):
        raise ValueError(
            f"`boundaries` must be non-decreasing; got {np.asarray(boundaries).tolist()}."
        )

    def schedule(step: Array) -> Array:
        dtype = _dtype(values)
        t = _steps(step, dtype)
        passed = t[..., None] >= boundaries.astype(dtype)  # boundaries already reached
        return values.astype(dtype)[jnp.sum(passed, axis=-1)]

    return schedule


def inverse_time_decay(
    init_value: Any, *, decay_rate: Any, decay_steps: Any, staircase: bool = False
) -> Schedule:
    """Inverse-time decay ``v / (1 + r · t/T)`` (``⌊t/T⌋`` with ``staircase=True``).

    ``init_value`` (``v``) and ``decay_rate`` (``r``) finite and ``>= 0``, ``decay_steps``
    (``T``) ``>= 1``; all but ``init_value`` keyword-only.
    """
    return _rate_decay(
        init_value, decay_rate, decay_steps, staircase, lambda v, r, p: v / (1.0 + r * p)
    )


def polynomial_decay(
    init_value: Any, *, end_value: Any, decay_steps: Any, power: Any = 1.0
) -> Schedule:
    """Polynomial decay ``(v − e)(1 − min(t, T)/T)^p + e``: ``v`` to ``e`` in ``T`` steps.

    ``power=1`` is a linear decay. ``v, e >= 0``, ``T >= 1``, ``p > 0``; all but ``init_value``
    keyword-only (optax's ``polynomial_schedule`` orders them ``(init, end, power, steps)``).
    """
    _check_value("init_value", init_value)
    _check_value("end_value", end_value)
    _check_steps("decay_steps", decay_steps)
    check_real("power", power, low=0.0, low_open=True)

    def schedule(step: Array) -> Array:
        dtype = _dtype(init_value, end_value, power)
        total = jnp.asarray(decay_steps).astype(dtype)
        frac = 1.0 - jnp.minimum(_steps(step, dtype), total) / total
        v, e = jnp.asarray(init_value, dtype), jnp.asarray(end_value, dtype)
        return (v - e) * frac ** jnp.asarray(power, dtype) + e

    return schedule


def cosine_decay(init_value: Any, *, decay_steps: Any, alpha: Any = 0.0) -> Schedule:
    """Cosine decay ``v((1 − α)·½(1 + cos(π min(t, T)/T)) + α)``: ``v`` to ``αv`` in ``T`` steps.

    ``v >= 0``, ``T >= 1`` (``T = 0`` would divide by zero), ``α >= 0``; all but ``init_value``
    keyword-only.

    References:
        Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts", ICLR 2017
        (one cycle, without restarts).
    """
    _check_value("init_value", init_value)
    _check_steps("decay_steps", decay_steps)
    check_real("alpha", alpha, low=0.0)

    def schedule(step: Array) -> Array:
        dtype = _dtype(init_value, alpha)
        total = jnp.asarray(decay_steps).astype(dtype)
        frac = jnp.minimum(_steps(step, dtype), total) / total
        cosine = 0.5 * (1.0 + jnp.cos(math.pi * frac))
        a = jnp.asarray(alpha, dtype)
        return jnp.asarray(init_value, dtype) * ((1.0 - a) * cosine + a)

    return schedule


def warmup_cosine_decay(
    init_value: Any, *, peak_value: Any, warmup_steps: Any, decay_steps: Any, end_value: Any = 0.0
) -> Schedule:
    """Linear warm-up from ``init_value`` to ``peak_value``, then cosine decay to ``end_value``.

    With ``W = warmup_steps`` and ``T = decay_steps`` (the total length, warm-up included)::

        t < W:   v0 + (peak − v0) · t / W
        t >= W:  end + (peak − end) · ½(1 + cos(π min(t − W, T − W) / (T − W)))

    ``W = 0`` skips the warm-up; ``T >= max(W, 1)`` (``T == W`` holds the peak). Values are
    finite and ``>= 0``; all but ``init_value`` keyword-only.
    """
    for name, value in (("init_value", init_value), ("peak_value", peak_value)):
        _check_value(name, value)
    _check_value("end_value", end_value)
    _check_steps("warmup_steps", warmup_steps, low=0.0)
    _check_steps("decay_steps", decay_steps)
    if is_concrete(warmup_steps) and is_concrete(decay_steps):
        if float(np.asarray(decay_steps)) < float(np.asarray(warmup_steps)):
            raise ValueError(
                f"`decay_steps` (the total length, warm-up included) must be >= `warmup_steps`; "
                f"got decay_steps={decay_steps!r}, warmup_steps={warmup_steps!r}."
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
    "constant",
    "exponential_decay",
    "piecewise_constant",
    "inverse_time_decay",
    "polynomial_decay",
    "cosine_decay",
    "warmup_cosine_decay",
]
