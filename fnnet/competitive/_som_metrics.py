"""Map quality and pictures: quantization and topographic error, U-matrix, hit map, planes, labels.

* Quantization error ``QE = (1/n) Σ_i ‖x_i − w_{c(x_i)}‖`` (mean distance to the winner).
* Topographic error ``TE = (1/n) Σ_i [c₁(x_i) and c₂(x_i) not adjacent]``, ``c₁``/``c₂`` the best
  and second-best units; adjacency is :func:`adjacency` (8-neighbours on a rectangular grid, as
  MiniSom's 1.42 threshold; the 6 hexagon neighbours on a hexagonal grid).

Every function takes the flat weights ``(rows·cols, features)`` and returns arrays (pictures as
``(rows, cols)``); plotting them is left to the caller (``examples/som_digits.py``).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from fnnet._checks import check_positive_int, check_samples, is_concrete
from fnnet._types import Array
from fnnet.competitive._grid import Grid, adjacency, check_grid
from fnnet.competitive._som import squared_distances, winners


def _check_map(grid: Grid, weights: Any, data: Any = None) -> tuple[Array, Array | None]:
    grid, weights = check_grid(grid), jnp.asarray(weights)
    if weights.ndim != 2 or weights.shape[0] != grid.size:
        raise ValueError(
            f"`weights` must have shape ({grid.size}, features) for a {grid.rows}×{grid.cols} "
            f"map; got {weights.shape}."
        )
    if data is not None:
        data = check_samples(
            "data", data, features=weights.shape[1], source=f"the weights, shape {weights.shape}"
        ).astype(weights.dtype)
    return weights, data


def quantization_error(weights: Array, data: Any) -> Array:
    """Mean distance from each sample to its best-matching unit's weights."""
    weights = jnp.asarray(weights)
    source = f"the weights, shape {weights.shape}"
    data = check_samples("data", data, features=weights.shape[-1], source=source)
    data = data.astype(weights.dtype)
    return jnp.mean(jnp.linalg.norm(data - weights[winners(weights, data)], axis=-1))


def topographic_error(grid: Grid, weights: Array, data: Any) -> Array:
    """Fraction of samples whose best and second-best units are not adjacent on ``grid``."""
    weights, data = _check_map(grid, weights, data)
    if grid.size < 2:
        raise ValueError("the topographic error needs a map of at least 2 nodes; got 1×1.")
    _, best2 = jax.lax.top_k(-squared_distances(weights, data), 2)
    adjacent = jnp.asarray(adjacency(grid))[best2[:, 0], best2[:, 1]]
    return jnp.mean((~adjacent).astype(weights.dtype))


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
    hits = jnp.zeros(grid.size, jnp.int32).at[winners(weights, data)].add(1)
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
    counts = counts.at[winners(weights, data), labels].add(1)
    return counts.reshape(grid.rows, grid.cols, num_classes)


def label_purity(counts: Array) -> Array:
    """Majority-label purity of a :func:`label_map`: ``Σ_nodes max_class count / Σ count``."""
    counts = jnp.asarray(counts)
    return jnp.sum(jnp.max(counts, axis=-1)) / jnp.maximum(jnp.sum(counts), 1)


__all__ = [
    "component_planes",
    "hit_map",
    "label_map",
    "label_purity",
    "quantization_error",
    "topographic_error",
    "u_matrix",
]
