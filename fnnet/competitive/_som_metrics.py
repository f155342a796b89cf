"""Map quality and pictures: quantization and topographic error, U-matrix, hit map, planes, labels.

* Quantization error ``QE = (1/n) Σ_i ‖x_i − w_{c(x_i)}‖`` (mean distance to the winner).
* Topographic error ``TE = (1/n) Σ_i [c₁(x_i) and c₂(x_i) not adjacent]``, ``c₁``/``c₂`` the best
  and second-best units; adjacency is :func:`adjacency` (8-neighbours on a rectangular grid, as
  MiniSom's 1.42 threshold; the 6 hexagon neighbours on a hexagonal grid).

Every function takes the flat weights ``(rows·cols, features)`` and returns arrays (pictures as
``(rows, cols)``); plotting them is left to the caller (``examples/som_digits.py``). Data is
checked by ``check_samples`` (width from the weights; NaN refused when concrete). Under ``jit``
a sample whose distances are NaN has no winner (``−1``): it makes QE and TE NaN and is not
counted in the hit and label maps.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from fnnet._checks import check_positive_int, check_samples, is_concrete
from fnnet._types import Array
from fnnet.competitive._grid import Grid, adjacency, check_grid, check_map_weights
from fnnet.competitive._som import best_units, squared_distances


def _check_map(grid: Grid, weights: Any, data: Any = None) -> tuple[Array, Array | None]:
    grid = check_grid(grid)
    weights = check_map_weights(grid, jnp.asarray(weights))
    if data is not None:
        data = _check_data(weights, data)
    return weights, data


def _check_data(weights: Array, data: Any) -> Array:
    source = f"the weights, shape {tuple(weights.shape)}"
    data = check_samples("data", data, features=weights.shape[-1], source=source)
    return data.astype(weights.dtype)


def _counted(grid: Grid, units: Array) -> Array:
    """Winner indices for a scatter that drops ``−1`` (no winner) instead of wrapping it."""
    return jnp.where(units < 0, grid.size, units)


def quantization_error(weights: Array, data: Any) -> Array:
    """Mean distance from each sample to its best-matching unit's weights (NaN if any sample
    has no winner)."""
    weights = jnp.asarray(weights)
    data = _check_data(weights, data)
    c = best_units(weights, data)
    dist = jnp.linalg.norm(data - weights[jnp.maximum(c, 0)], axis=-1)
    return jnp.mean(jnp.where(c < 0, jnp.nan, dist))


def topographic_error(grid: Grid, weights: Array, data: Any) -> Array:
    """Fraction of samples whose best and second-best units are not adjacent on ``grid``."""
    weights, data = _check_map(grid, weights, data)
    if grid.size < 2:
        raise ValueError("the topographic error needs a map of at least 2 nodes; got 1×1.")
    d = squared_distances(weights, data)
    _, best2 = jax.lax.top_k(-d, 2)
    apart = ~jnp.asarray(adjacency(grid))[best2[:, 0], best2[:, 1]]
    return jnp.mean(jnp.where(jnp.any(jnp.isnan(d), axis=-1), jnp.nan, apart.astype(d.dtype)))


def u_matrix(grid: Grid, weights: Array) -> Array:
    """U-matrix ``(rows, cols)``: each node's mean weight distance to its adjacent nodes."""
    weights, _ = _check_map(grid, weights)
    adj = jnp.asarray(adjacency(grid), weights.dtype)
    dist = jnp.sqrt(squared_distances(weights, weights))
    u = jnp.sum(adj * dist, axis=1) / jnp.maximum(jnp.sum(adj, axis=1), 1.0)
    return u.reshape(grid.rows, grid.cols)


def hit_map(grid: Grid, weights: Array, data: Any) -> Array:
    """How many samples each node wins, int32 ``(rows, cols)``."""
    weights, data = _check_map(grid, weights, data)
    units = _counted(grid, best_units(weights, data))
    hits = jnp.zeros(grid.size, jnp.int32).at[units].add(1, mode="drop")
    return hits.reshape(grid.rows, grid.cols)


def component_planes(grid: Grid, weights: Array) -> Array:
    """One map per input feature: the weights as ``(features, rows, cols)``."""
    weights, _ = _check_map(grid, weights)
    return weights.T.reshape(weights.shape[1], grid.rows, grid.cols)


def label_map(grid: Grid, weights: Array, data: Any, labels: Any, *, num_classes: int) -> Array:
    """Per-node class counts, int32 ``(rows, cols, num_classes)``: label ``y_i`` counted at
    ``c(x_i)``. ``argmax`` over the last axis is the map's majority label per node."""
    weights, data = _check_map(grid, weights, data)
    num_classes = check_positive_int("num_classes", num_classes)
    labels = jnp.asarray(labels)
    if labels.shape != (data.shape[0],) or not jnp.issubdtype(labels.dtype, jnp.integer):
        raise ValueError(
            f"`labels` must be integer class ids of shape ({data.shape[0]},); got "
            f"{labels.dtype} {labels.shape}."
        )
    if is_concrete(labels) and labels.size:
        low, high = int(np.min(np.asarray(labels))), int(np.max(np.asarray(labels)))
        if low < 0 or high >= num_classes:
            raise ValueError(
                f"`labels` must lie in [0, num_classes={num_classes}); got [{low}, {high}]."
            )
    counts = jnp.zeros((grid.size, num_classes), jnp.int32)
    counts = counts.at[_counted(grid, best_units(weights, data)), labels].add(1, mode="drop")
    return counts.reshape(grid.rows, grid.cols, num_classes)


def label_purity(counts: Array) -> Array:
    """Majority-label purity of a :func:`label_map`: ``Σ_nodes max_class count / Σ count``."""
    counts = jnp.asarray(counts)
    return jnp.sum(jnp.max(counts, axis=-1)) / jnp.maximum(jnp.sum(counts), 1)
