"""Every argument validator fnnet uses at its API boundary, written once.

Each check raises a ``TypeError`` (wrong kind of thing) or ``ValueError`` (right kind, bad
value) whose message names the argument, says what was expected and shows what came. Checks
of values only run on concrete Python or NumPy values: a traced array (inside ``jit`` or
``vmap``) passes the value checks untouched, so hyperparameters stay sweepable.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.core import Tracer
from jax.sharding import AxisType, Mesh


def is_int(value: Any) -> bool:
    """Whether ``value`` is a Python or NumPy integer (not a bool)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_concrete(value: Any) -> bool:
    """Whether ``value`` has a value now (not a tracer inside ``jit``/``vmap``/``grad``)."""
    return not isinstance(value, Tracer)


def check_int(name: str, value: Any, *, low: int | None = None, high: int | None = None) -> int:
    """An integer in ``[low, high]`` (bounds optional); returns it as a Python ``int``."""
    if not is_int(value):
        raise TypeError(f"`{name}` must be an int; got {value!r} ({type(value).__name__}).")
    value = int(value)
    if low is not None and value < low:
        raise ValueError(f"`{name}` must be an int >= {low}; got {value}.")
    if high is not None and value > high:
        raise ValueError(f"`{name}` must be an int <= {high}; got {value}.")
    return value


def check_positive_int(name: str, value: Any) -> int:
    """An integer ``>= 1`` (sizes, counts, steps)."""
    return check_int(name, value, low=1)


def check_bool(name: str, value: Any) -> bool:
    """A Python or NumPy bool."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be a bool; got {value!r} ({type(value).__name__}).")
    return bool(value)


def check_callable(name: str, fn: Any, *, example: str = "") -> Any:
    """A function (not a name: strings are refused with a pointer to the function)."""
    hint = f" such as {example}" if example else ""
    if isinstance(fn, str):
        raise TypeError(f"`{name}` must be a function{hint}, not a name; got the string {fn!r}.")
    if not callable(fn):
        raise TypeError(f"`{name}` must be a function{hint}; got {fn!r} ({type(fn).__name__}).")
    return fn


def check_scalar(name: str, value: Any) -> None:
    """A real number or a 0-d real array (maybe traced); not a bool, string, callable or None."""
    if isinstance(value, (bool, np.bool_, str, bytes)) or callable(value) or value is None:
        raise TypeError(f"`{name}` must be a real number or a 0-d array; got {value!r}.")
    if isinstance(value, (list, tuple)):  # before jnp.shape: JAX warns on lists of numbers
        raise TypeError(
            f"`{name}` must be a real number or a 0-d array, not a {type(value).__name__}; got "
            f"{value!r}. To sweep several values, jax.vmap over an array of them."
        )
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


def check_real(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> Any:
    """A finite real scalar (maybe a traced 0-d array) within optional bounds.

    The finiteness and bounds are checked only when ``value`` is concrete; ``low_open`` /
    ``high_open`` exclude the bound itself. Returns ``value`` unchanged.
    """
    check_scalar(name, value)
    if not is_concrete(value):
        return value
    v = float(np.asarray(value))
    if not math.isfinite(v):
        raise ValueError(f"`{name}` must be finite; got {v!r}.")
    if low is not None and (v < low or (low_open and v == low)):
        raise ValueError(f"`{name}` must be {'>' if low_open else '>='} {low}; got {v!r}.")
    if high is not None and (v > high or (high_open and v == high)):
        raise ValueError(f"`{name}` must be {'<' if high_open else '<='} {high}; got {v!r}.")
    return value


def check_number(name: str, value: Any) -> float:
    """A concrete, finite Python/NumPy real number (not an array, not a bool)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a real number; got {value!r} ({type(value).__name__}).")
    if not math.isfinite(float(value)):
        raise ValueError(f"`{name}` must be finite; got {value!r}.")
    return float(value)


def _callable_pair(obj: Any, first: str, second: str) -> bool:
    """Whether ``obj`` is a tuple (a NamedTuple) with callable fields ``first`` and ``second``."""
    return isinstance(obj, tuple) and all(callable(getattr(obj, f, None)) for f in (first, second))


def is_layer(obj: Any) -> bool:
    """Duck type of ``fnnet.layers.Layer``: a tuple with callable ``init`` and ``apply``."""
    return _callable_pair(obj, "init", "apply")


def check_layer(name: str, obj: Any) -> Any:
    """A ``Layer(init, apply)`` (or anything with those two callables, e.g. a NamedTuple)."""
    if not is_layer(obj):
        raise TypeError(
            f"`{name}` must be a Layer(init, apply) such as fnnet.Dense(10); got {obj!r}."
        )
    return obj


def is_optimizer(obj: Any) -> bool:
    """Duck type of ``fnnet.optimizers.Optimizer``: a tuple with callable ``init`` and ``update``."""
    return _callable_pair(obj, "init", "update")


def check_optimizer(name: str, obj: Any) -> Any:
    """An ``Optimizer(init, update)``."""
    if not is_optimizer(obj):
        raise TypeError(
            f"`{name}` must be an Optimizer(init, update) such as fnnet.optimizers.adam(1e-3); "
            f"got {obj!r}."
        )
    return obj


def check_key(name: str, key: Any) -> Any:
    """A JAX PRNG key (typed ``jax.random.key`` or a raw uint32 ``(2,)`` key); an int is refused
    with the fix."""
    if is_int(key):
        raise TypeError(
            f"`{name}` must be a JAX random key; got the int {key!r}. Use jax.random.key({key!r})."
        )
    if isinstance(key, (jax.Array, np.ndarray)):
        dtype = key.dtype
        if jnp.issubdtype(dtype, jax.dtypes.prng_key):
            return key
        if dtype == jnp.uint32 and key.shape[-1:] == (2,):
            return key
    raise TypeError(
        f"`{name}` must be a JAX random key from jax.random.key(seed); got "
        f"{type(key).__name__} {getattr(key, 'dtype', '')} {getattr(key, 'shape', '')}".rstrip()
        + "."
    )


def check_floating(name: str, x: Any) -> Any:
    """An array with a floating dtype; returns ``jnp.asarray(x)``."""
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"`{name}` must have a floating dtype; got {x.dtype} (shape {x.shape}).")
    return x


def check_ndim(name: str, x: Any, ndims: tuple[int, ...], *, layout: str = "") -> Any:
    """An array whose rank is one of ``ndims``; ``layout`` (e.g. ``"(batch, time, features)"``)
    is shown in the message."""
    shape = jnp.shape(x)
    if len(shape) not in ndims:
        expected = " or ".join(str(n) for n in ndims)
        where = f" {layout}" if layout else ""
        raise ValueError(f"`{name}` must have rank {expected}{where}; got shape {tuple(shape)}.")
    return x


def check_finite_rows(name: str, x: Any, *, hint: str = "") -> Any:
    """A concrete array whose floating values are all finite; the first bad row is named.

    Integer and bool arrays pass; a traced array passes untouched. ``hint`` is appended to the
    message (e.g. how to opt out). Returns ``x`` unchanged.
    """
    if not is_concrete(x) or not jnp.issubdtype(jnp.result_type(x), jnp.inexact):
        return x
    values = np.asarray(x)
    if values.size == 0:
        return x
    bad = ~np.isfinite(values.reshape(values.shape[0], -1) if values.ndim else values.reshape(1, 1))
    rows = np.flatnonzero(bad.any(axis=1))
    if rows.size:
        row = int(rows[0])
        found = values.reshape(bad.shape)[row][bad[row]][0]
        raise ValueError(
            f"`{name}` row {row} contains {found} ({rows.size} non-finite row(s) in all)"
            + (f"; {hint}" if hint else ".")
        )
    return x


def check_samples(
    name: str,
    x: Any,
    *,
    features: int | None = None,
    source: str = "",
    low: float | None = None,
    high: float | None = None,
    hint: str = "",
) -> jax.Array:
    """Data of ``samples`` rows: a real array of shape ``(samples, features)``.

    The one data validator of every public function that takes data. The kind, the rank, at
    least one sample and the width are checked always (at trace time too, from the shape);
    finiteness and the range ``[low, high]`` only when ``x`` is concrete (inside ``jit`` or
    ``vmap`` they cannot raise: see the NaN rule in ``docs/architecture.md``).

    Args:
        name: the argument's name, used in every message.
        x: the data. Floating data keeps its dtype; integer and bool data are accepted and
            cast to JAX's default float dtype (``float32``, ``float64`` with
            ``jax_enable_x64``). Complex, string and object arrays are refused.
        features: the width expected, taken from the params or state (``None``: any width).
        source: where that width comes from, for the message, e.g.
            ``"the weights, w.shape = (64, 10)"``.
        low, high: the range the values must lie in (checked only when concrete).
        hint: appended to the finiteness and range messages (what to do about it).

    Returns:
        ``x`` as a 2-D floating ``jax.Array``.

    Raises:
        TypeError: if ``x`` is not an array (nested lists are accepted) of a real dtype.
        ValueError: for a wrong rank (a 1-D ``x`` is refused with the fix ``x[None]`` or
            ``x.reshape(-1, features)``), no samples, a wrong width, a non-finite value (the
            first bad row is named) or a value outside ``[low, high]``.
    """
    if isinstance(x, (list, tuple)):
        try:
            x = np.asarray(x)
        except ValueError:
            raise TypeError(
                f"`{name}` must be an array; got a ragged {type(x).__name__}."
            ) from None
    if not isinstance(x, (jax.Array, np.ndarray)):
        raise TypeError(f"`{name}` must be an array; got {type(x).__name__}.")
    if not (
        jnp.issubdtype(x.dtype, jnp.floating)
        or jnp.issubdtype(x.dtype, jnp.integer)
        or jnp.issubdtype(x.dtype, jnp.bool_)
    ):
        raise TypeError(f"`{name}` must have a real (float, int or bool) dtype; got {x.dtype}.")
    shape = tuple(jnp.shape(x))
    width = "features" if features is None else str(features)
    if len(shape) == 1:
        raise ValueError(
            f"`{name}` must be 2-D (samples, features); got a 1-D array of shape {shape}. "
            f"For one sample pass {name}[None]; for a flat array of samples "
            f"{name}.reshape(-1, {width})."
        )
    if len(shape) != 2:
        raise ValueError(f"`{name}` must be 2-D (samples, features); got shape {shape}.")
    if 0 in shape:
        raise ValueError(
            f"`{name}` is empty (shape {shape}): it needs at least one sample and one feature."
        )
    if features is not None and shape[1] != features:
        where = f" (from {source})" if source else ""
        raise ValueError(
            f"`{name}` has {shape[1]} features (shape {shape}) but {features} are expected{where}."
        )
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    if not is_concrete(x):
        return x
    check_finite_rows(name, x, hint=hint)
    if low is not None or high is not None:
        values = np.asarray(x)  # NumPy: jnp would stage the reduction inside a jit trace
        lo, hi = float(values.min()), float(values.max())
        if (low is not None and lo < low) or (high is not None and hi > high):
            bounds = (
                f"{-math.inf if low is None else low:g}, {math.inf if high is None else high:g}"
            )
            raise ValueError(
                f"`{name}` must lie in [{bounds}]; got values in [{lo:g}, {hi:g}]"
                + (f". {hint}" if hint else ".")
            )
    return x


def check_indices(name: str, values: Any, size: int) -> Any:
    """Concrete integer indices (class labels) within ``[0, size)``; traced ones pass unchecked.

    The error names the first bad value and its index, and how many are out of range.
    """
    if not is_concrete(values):
        return values
    array = np.asarray(values)
    bad = np.argwhere((array < 0) | (array >= size))
    if bad.size:
        where = tuple(int(i) for i in bad[0])
        raise ValueError(
            f"`{name}` must be indices in [0, {size}); got {array[where]} at index "
            f"{where if array.ndim else '()'} ({len(bad)} out of range)."
        )
    return values


def check_rows(name: str, x: Any, rows: int, *, like: str) -> Any:
    """An array of ``rows`` rows (leading axis), as many as the argument ``like`` has."""
    shape = tuple(jnp.shape(x))
    if not shape or shape[0] != rows:
        raise ValueError(
            f"`{name}` must have as many rows as `{like}` ({rows}); got shape {shape}."
        )
    return x


def check_at_most_rows(name: str, value: Any, rows: int, *, data: str) -> int:
    """An int in ``[1, rows]``, such as a batch size: at most the ``rows`` rows of ``data``."""
    value = check_positive_int(name, value)
    if value > rows:
        raise ValueError(
            f"`{name}` ({value}) must be at most the number of rows of `{data}` ({rows})."
        )
    return value


def check_activation(name: str, fn: Any) -> Any:
    """An activation given as a function ``z -> a`` (a name such as ``"relu"`` is refused)."""
    return check_callable(name, fn, example="fnnet.activations.relu")


def check_mesh(mesh: Any) -> Mesh:
    """``mesh`` with automatic axes: the same devices and names, sharding left to XLA's propagation.

    ``jax.make_mesh`` makes *explicit* axes by default, under which jnp ops with ambiguous output
    shardings (the batch gather, ``xᵀ δ`` over a split batch) must be annotated by hand; fnnet's
    rules are written free of sharding annotations, so they run on automatic axes.
    """
    if not isinstance(mesh, Mesh):
        raise TypeError(
            f"`mesh` must be a jax.sharding.Mesh (e.g. fnnet.parallel.device_mesh()); got {mesh!r}."
        )
    if all(t == AxisType.Auto for t in mesh.axis_types):
        return mesh
    return Mesh(mesh.devices, mesh.axis_names, axis_types=(AxisType.Auto,) * len(mesh.axis_names))
