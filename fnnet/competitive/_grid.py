"""Map grids (rectangular, hexagonal) and the neighbourhood functions ``h(offset, σ)``.

A map of ``rows × cols`` nodes is numbered row-major: node ``k = r·cols + c`` (MiniSom's
``unravel_index`` order). Each node has a position in the plane:

* rectangular: ``(r, c)``;
* hexagonal ("odd-r" offset layout): ``(r·√3/2, c + ½·(r mod 2))``: odd rows are shifted right by
  half a node, so each interior node has six neighbours, all at distance exactly 1.

Two nodes are *adjacent* (used by the topographic error and the U-matrix) when they are
8-neighbours on a rectangular grid (MiniSom's threshold 1.42, distance ≤ √2) and 6-neighbours on
a hexagonal grid (distance 1).

A neighbourhood is a function ``h(offset, sigma)`` of the node's position minus the winner's
(shape ``(..., 2)``) and the radius ``σ``, returning the weights ``(...)``. The four here follow
MiniSom's definitions, so the published recipes reproduce: ``gaussian`` and ``mexican_hat`` are
radial; ``triangle`` and ``bubble`` are products over the two axes.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from fnnet._checks import check_positive_int
from fnnet._types import Array

_HEX_ROW = math.sqrt(3.0) / 2.0


class Grid(NamedTuple):
    """A ``rows × cols`` map; ``hexagonal`` selects the layout (static Python values)."""

    rows: int
    cols: int
    hexagonal: bool

    @property
    def size(self) -> int:
        """The number of nodes, ``rows · cols``."""
        return self.rows * self.cols


def rectangular_grid(rows: int, cols: int) -> Grid:
    """A rectangular ``rows × cols`` map (nodes at integer positions ``(r, c)``)."""
    return Grid(check_positive_int("rows", rows), check_positive_int("cols", cols), False)


def hexagonal_grid(rows: int, cols: int) -> Grid:
    """A hexagonal ``rows × cols`` map (odd rows shifted right by ½; six neighbours at distance 1)."""
    return Grid(check_positive_int("rows", rows), check_positive_int("cols", cols), True)


def check_grid(grid: object) -> Grid:
    """A :class:`Grid` (from :func:`rectangular_grid` or :func:`hexagonal_grid`)."""
    if not isinstance(grid, Grid):
        raise TypeError(
            "`grid` must be a Grid from rectangular_grid(rows, cols) or hexagonal_grid(rows, cols)"
            f"; got {grid!r}."
        )
    return grid


def check_map_weights(grid: Grid, weights: Array) -> Array:
    """``weights`` of shape ``(rows·cols, features)``: one row per node of ``grid``."""
    if weights.ndim != 2 or weights.shape[0] != grid.size:
        raise ValueError(
            f"`weights` must have shape ({grid.size}, features) for a {grid.rows}×{grid.cols} "
            f"map; got {weights.shape}."
        )
    return weights


def node_positions(grid: Grid) -> np.ndarray:
    """Plane positions of the nodes, float64 NumPy ``(rows·cols, 2)`` in node order."""
    r, c = np.divmod(np.arange(check_grid(grid).size), grid.cols)
    if grid.hexagonal:
        return np.stack([r * _HEX_ROW, c + 0.5 * (r % 2)], axis=1)
    return np.stack([r, c], axis=1).astype(np.float64)


def adjacency(grid: Grid) -> np.ndarray:
    """Boolean NumPy ``(n, n)``: whether two distinct nodes are adjacent (8- or 6-neighbours)."""
    pos = node_positions(grid)
    dist = np.sqrt(((pos[:, None, :] - pos[None, :, :]) ** 2).sum(-1))
    limit = 1.0 if grid.hexagonal else math.sqrt(2.0)
    return (dist > 0.5) & (dist <= limit + 1e-9)


def gaussian(offset: Array, sigma: Array) -> Array:
    """Gaussian ``h = exp(−‖d‖² / (2σ²))``; 1 at the winner."""
    return jnp.exp(-jnp.sum(offset * offset, axis=-1) / (2.0 * sigma * sigma))


def mexican_hat(offset: Array, sigma: Array) -> Array:
    """Mexican hat (Ricker) ``h = (1 − ‖d‖²/σ²) · exp(−‖d‖² / (2σ²))``; negative beyond ``σ``."""
    p = jnp.sum(offset * offset, axis=-1)
    return (1.0 - p / (sigma * sigma)) * jnp.exp(-p / (2.0 * sigma * sigma))


def bubble(offset: Array, sigma: Array) -> Array:
    """Bubble ``h = ∏_axes [|d_a| < σ]``: 1 inside the open box of half-width ``σ``, else 0."""
    inside = jnp.all(jnp.abs(offset) < sigma, axis=-1)
    return inside.astype(offset.dtype)


def triangle(offset: Array, sigma: Array) -> Array:
    """Triangle ``h = ∏_axes max(0, σ − |d_a|)`` (MiniSom's: unnormalised, ``σ²`` at the winner).

    The peak ``σ²`` is deliberate: it is what MiniSom computes, and the published recipes (the
    digits map, QE ≈ 3.0) depend on it. Divide by ``σ²`` in your own function for a peak of 1.
    """
    return jnp.prod(jnp.maximum(sigma - jnp.abs(offset), 0.0), axis=-1)
