"""Search spaces for :mod:`fnnet.sweep`: grids, single points and random search.

A ``Space`` lays a sweep's configurations out on labelled axes. ``grid`` takes the Cartesian
product of value lists (one axis per hyperparameter); ``random_search`` draws ``num_trials``
configurations from priors (``uniform``, ``log_uniform``, ``choice``) on one axis ``"trial"``;
``point`` is a single configuration (an ensemble's). Values are stored as float32 (int32 for
integers), the dtype they have inside the compiled sweep; non-finite values (NaN, ±inf, or
overflowing float32) are refused with the hyperparameter's name.
"""

from __future__ import annotations

import functools
import math
import zlib
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from fnnet._checks import check_number
from fnnet._types import Array, PRNGKey


class Distribution(NamedTuple):
    """A random-search prior as an inverse CDF: ``from_unit(u)`` maps uniform draws ``u ∈ [0, 1)``
    (a float64 numpy array) to values; ``description`` names it in reports."""

    from_unit: Callable[[np.ndarray], np.ndarray]
    description: str


def _below(values: np.ndarray, low: float, high: float) -> np.ndarray:
    # float32 rounding must not push a draw onto the excluded upper bound
    top = np.nextafter(np.float32(high), np.float32(low))
    return np.clip(values.astype(np.float32), np.float32(low), top)


def uniform(low: float, high: float) -> Distribution:
    """Uniform on ``[low, high)`` (float32)."""
    low, high = check_number("low", low), check_number("high", high)
    if not low < high:
        raise ValueError(f"`low` must be < `high`; got low={low}, high={high}.")
    return Distribution(
        lambda u: _below(low + (high - low) * u, low, high), f"uniform({low}, {high})"
    )


def log_uniform(low: float, high: float) -> Distribution:
    """Log-uniform on ``[low, high)``: ``exp(U(log low, log high))``, for rates and strengths."""
    low, high = check_number("low", low), check_number("high", high)
    if not 0 < low < high:
        raise ValueError(
            f"`low` and `high` must satisfy 0 < low < high; got low={low}, high={high}."
        )
    lo, hi = math.log(low), math.log(high)
    return Distribution(
        lambda u: _below(np.exp(lo + (hi - lo) * u), low, high), f"log_uniform({low}, {high})"
    )


def choice(values: Any) -> Distribution:
    """One of ``values`` (a non-empty 1-d sequence of numbers), each equally likely."""
    table = _axis_values("values", values)
    n = table.shape[0]
    return Distribution(
        lambda u: table[np.minimum((u * n).astype(np.int64), n - 1)], f"choice({table.tolist()})"
    )


class Space(NamedTuple):
    """The configurations of a sweep, laid out on labelled axes.

    ``values[name]`` has shape ``shape`` (one entry per configuration); ``axes`` names the axes
    and ``coords[axis]`` labels their entries: a grid's axes are its hyperparameters labelled by
    their values, a random search has one axis ``"trial"`` labelled ``0..n-1``.
    """

    values: dict[str, np.ndarray]
    axes: tuple[str, ...]
    coords: dict[str, np.ndarray]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(self.coords[a]) for a in self.axes)


def _axis_values(name: str, values: Any) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or array.shape[0] == 0:
        raise ValueError(
            f"`{name}` must be a non-empty 1-d sequence of values; got shape {array.shape}."
        )
    if array.dtype == bool:
        return array
    if np.issubdtype(array.dtype, np.integer):
        return array.astype(np.int32)
    if np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)):
            bad = array[~np.isfinite(array)][0]
            raise ValueError(f"`{name}` values must be finite; got {bad!r} in {array.tolist()}.")
        with np.errstate(over="ignore"):
            as_float32 = array.astype(np.float32)
        if not np.all(np.isfinite(as_float32)):
            raise ValueError(
                f"`{name}` values must be finite in float32 (the sweep's dtype); got "
                f"{array.tolist()}, which overflows float32."
            )
        return as_float32
    raise TypeError(f"`{name}` must hold numbers; got dtype {array.dtype}.")


def grid(**axes: Any) -> Space:
    """The Cartesian product of per-hyperparameter value lists, one axis each, in keyword order.

    Example:
        >>> space = grid(learning_rate=[1e-3, 1e-2, 1e-1], weight_decay=[0.0, 1e-4])
        >>> space.shape, space.values["weight_decay"][2, 1].item()
        ((3, 2), 9.999999747378752e-05)
    """
    if not axes:
        raise ValueError(
            "`grid` needs at least one hyperparameter, e.g. grid(learning_rate=[1e-3, 1e-2])."
        )
    coords = {name: _axis_values(name, values) for name, values in axes.items()}
    mesh = np.meshgrid(*coords.values(), indexing="ij")
    return Space(dict(zip(coords, mesh)), tuple(coords), coords)


def point(**hparams: Any) -> Space:
    """A single configuration (no axes): an ensemble's, or a standalone run's."""
    values = {}
    for name, value in hparams.items():
        values[name] = _axis_values(name, [value]).reshape(())
    return Space(values, (), {})


@functools.partial(jax.jit, static_argnums=1)
def _unit_draws(key: PRNGKey, num_trials: int) -> Array:
    """Trial ``t`` draws from ``fold_in(key, t)``: independent of ``num_trials``."""
    return jax.vmap(lambda t: jax.random.uniform(jax.random.fold_in(key, t), (), jnp.float32))(
        jnp.arange(num_trials)
    )


def random_search(key: PRNGKey, num_trials: int, **distributions: Distribution) -> Space:
    """``num_trials`` configurations drawn from ``distributions`` (``uniform``, ``log_uniform``,
    ``choice``).

    Trial ``t``'s value of hyperparameter ``h`` is drawn with ``fold_in(fold_in(key, hash(h)), t)``:
    it does not depend on ``num_trials`` or on the other hyperparameters.

    Example:
        >>> import jax
        >>> space = random_search(jax.random.key(0), 8, learning_rate=log_uniform(1e-4, 1e-1))
        >>> space.axes, space.values["learning_rate"].shape
        (('trial',), (8,))
    """
    if not isinstance(num_trials, int) or isinstance(num_trials, bool) or num_trials < 1:
        raise ValueError(f"`num_trials` must be an int >= 1; got {num_trials!r}.")
    if not distributions:
        raise ValueError("`random_search` needs at least one hyperparameter distribution.")
    values = {}
    for name, dist in distributions.items():
        if not isinstance(dist, Distribution):
            raise TypeError(
                f"`{name}` must be a Distribution (uniform, log_uniform, choice); got {dist!r}."
            )
        # keyed by the name, not its position: a new hyperparameter leaves the others' draws alone
        name_key = jax.random.fold_in(key, zlib.crc32(name.encode()) & 0x7FFFFFFF)
        values[name] = np.asarray(
            dist.from_unit(np.asarray(_unit_draws(name_key, num_trials), np.float64))
        )
    return Space(values, ("trial",), {"trial": np.arange(num_trials)})
