"""Train a grid of maps, σ₀ × η₀ × seed, as one compiled vmapped program, and pick the best.

The selection follows the practice users hand-roll (SOMPY#43, MiniSom#109): lowest topographic
error first (the map preserves the data's neighbourhoods), then lowest quantization error.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from fnnet._checks import check_bool, check_callable, check_positive_int, check_samples
from fnnet._types import Array, PRNGKey
from fnnet.competitive._grid import Grid, check_grid, gaussian
from fnnet.competitive._som import (
    _train_batch,
    _train_online,
    asymptotic_decay,
    pca_init,
    random_init,
    som,
)
from fnnet.competitive._som_metrics import quantization_error, topographic_error


class SOMSweep(NamedTuple):
    """Results over ``(len(sigma), len(learning_rate), seeds)``.

    Fields: ``weights`` ``(S, L, seeds, nodes, features)``, ``quantization_error`` and
    ``topographic_error`` ``(S, L, seeds)``, the swept ``sigma`` and ``learning_rate`` values,
    and ``best``: the index ``(i, j, k)`` of the lowest TE, ties broken by the lowest QE.
    """

    weights: Array
    quantization_error: Array
    topographic_error: Array
    sigma: Array
    learning_rate: Array
    best: tuple[int, int, int]


def _check_keys(keys: Any) -> Array:
    """One PRNG key per seed: typed keys ``(seeds,)`` or raw uint32 keys ``(seeds, 2)``."""
    fix = "jax.random.split(key, seeds), e.g. keys=jax.random.split(jax.random.key(0), 4)"
    if isinstance(keys, (list, tuple)) or not isinstance(keys, (jax.Array, np.ndarray)):
        raise TypeError(f"`keys` must be an array of PRNG keys from {fix}; got {keys!r}.")
    typed = jnp.issubdtype(keys.dtype, jax.dtypes.prng_key)
    if not typed and not (keys.dtype == jnp.uint32 and keys.shape[-1:] == (2,)):
        raise TypeError(
            f"`keys` must be PRNG keys from {fix}; got {keys.dtype} of shape {keys.shape}."
        )
    rank = keys.ndim if typed else keys.ndim - 1
    if rank != 1 or keys.shape[0] == 0:
        what = "a single key" if rank == 0 else f"keys of shape {keys.shape}"
        raise ValueError(
            f"`keys` must hold one key per seed (a 1-d array of keys) from {fix}; got {what}. "
            f"For one seed pass jax.random.split(key, 1)."
        )
    return jnp.asarray(keys)


def _values(name: str, values: Any) -> Array:
    values = jnp.atleast_1d(jnp.asarray(values))
    if values.ndim != 1 or not jnp.issubdtype(values.dtype, jnp.floating):
        raise ValueError(f"`{name}` must be a 1-d float array of values; got {values!r}.")
    if not bool(jnp.all(values > 0)):
        raise ValueError(f"`{name}` values must all be > 0; got {values}.")
    return values


@functools.partial(
    jax.jit, static_argnames=("grid", "num_steps", "neighborhood", "decay", "pca", "batch")
)
def _sweep(
    data: Array,
    sigma: Array,
    learning_rate: Array,
    keys: Array,
    *,
    grid: Grid,
    num_steps: int,
    neighborhood: Callable,
    decay: Callable,
    pca: bool,
    batch: bool,
) -> tuple[Array, Array, Array]:
    """The compiled sweep: cached per structure, so another call with new values reuses it."""

    def one(s0: Array, lr0: Array, key: PRNGKey) -> tuple[Array, Array, Array]:
        learner = som(
            grid,
            sigma=decay(s0, num_steps),
            learning_rate=decay(lr0, num_steps),
            neighborhood=neighborhood,
        )
        init_key, order_key = jax.random.split(key)
        weights = pca_init(grid, data) if pca else random_init(grid, data, key=init_key)
        state = learner.init(weights)
        if batch:
            state = _train_batch(learner, state, data, num_steps)
        else:
            state = _train_online(learner, state, data, num_steps, order_key)
        w = state.weights
        return w, quantization_error(w, data), topographic_error(grid, w, data)

    over_keys = jax.vmap(one, in_axes=(None, None, 0))
    over_rates = jax.vmap(over_keys, in_axes=(None, 0, None))
    return jax.vmap(over_rates, in_axes=(0, None, None))(sigma, learning_rate, keys)


def sweep_som(
    grid: Grid,
    data: Any,
    *,
    sigma: Any,
    learning_rate: Any,
    keys: Array,
    num_steps: int,
    neighborhood: Callable[[Array, Array], Array] = gaussian,
    decay: Callable[[Any, Any], Callable] = asymptotic_decay,
    pca: bool = False,
    batch: bool = False,
) -> SOMSweep:
    """Train one map per ``(σ₀, η₀, key)`` in a single ``jit(vmap(vmap(vmap(...))))`` program.

    Args:
        grid: the map layout (shared: structural choices are separate programs).
        data: training data ``(n, features)``; the errors are measured on it too.
        sigma: initial radii ``σ₀`` (1-d); learning_rate: initial rates ``η₀`` (1-d).
        keys: one PRNG key per seed, e.g. ``jax.random.split(key, 4)`` (a single key is
            refused): sample order, and the initial weights unless ``pca``.
        num_steps: updates per map. neighborhood: ``h(offset, σ)``.
        decay: ``decay(v0, num_steps) -> schedule`` applied to both σ and η
            (default MiniSom's :func:`asymptotic_decay`).
        pca: start every map from :func:`pca_init` (else :func:`random_init` with its key).
        batch: use the batch rule instead of the online rule (as :func:`train_som`).

    Returns:
        A :class:`SOMSweep`. ``data`` is checked first (rank, width, NaN refused), so no
        member can train on non-finite data.
    """
    grid = check_grid(grid)
    data = check_samples("data", data, hint="every map trained on it would keep NaN weights.")
    sigma, learning_rate = (
        _values("sigma", sigma),
        _values("learning_rate", learning_rate),
    )
    num_steps = check_positive_int("num_steps", num_steps)
    decay = check_callable("decay", decay, example="competitive.asymptotic_decay")
    pca, batch = check_bool("pca", pca), check_bool("batch", batch)
    keys = _check_keys(keys)

    neighborhood = check_callable("neighborhood", neighborhood, example="competitive.gaussian")
    config = {"grid": grid, "num_steps": num_steps, "neighborhood": neighborhood, "decay": decay}
    weights, qe, te = _sweep(data, sigma, learning_rate, keys, **config, pca=pca, batch=batch)
    qe_np, te_np = np.asarray(qe), np.asarray(te)
    flat = int(np.lexsort((qe_np.ravel(), te_np.ravel()))[0])
    i, j, k = (int(index) for index in np.unravel_index(flat, qe_np.shape))
    return SOMSweep(weights, qe, te, sigma, learning_rate, (i, j, k))
