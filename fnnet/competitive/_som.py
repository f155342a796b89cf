"""The self-organizing map as an ``(init, update)`` learner: online and batch rules, initialisers.

Kohonen's online rule, one sample ``x`` at a time (``t`` = updates already applied)::

    c = argmin_k ‖x − w_k‖                       best-matching unit (winner)
    w_k ← w_k + η(t) · h(p_k − p_c, σ(t)) · (x − w_k)    for every node k

and the batch rule (Kohonen 2013, "Essentials of the SOM"; MiniSom's ``train_batch_offline``),
one pass over all ``n`` samples per update::

    w_k ← (1 − η(t)) w_k + η(t) · Σ_i h_ik x_i / Σ_i h_ik     (only where Σ_i h_ik > 0)

with ``h_ik = h(p_k − p_{c(x_i)}, σ(t))``; ``η = 1`` is Kohonen's pure batch map. ``p_k`` are the
grid positions (:func:`node_positions`), ``h`` a neighbourhood function (:func:`gaussian`, ...).

``σ`` and ``η`` are a constant or a schedule from :mod:`fnnet.schedules` evaluated at the step
count kept in the state. MiniSom's default ("asymptotic") decay ``v / (1 + t / (T/2))`` is
:func:`asymptotic_decay`, i.e. ``schedules.inverse_time_decay(v, decay_rate=2, decay_steps=T)``.
Build the learner inside ``jax.vmap`` from array-valued ``σ₀``, ``η₀`` and a sweep is one
compiled program (:func:`fnnet.competitive.sweep_som`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from fnnet import schedules
from fnnet._checks import (
    check_callable,
    check_key,
    check_positive_int,
    check_real,
    check_samples,
)
from fnnet._types import Array, PRNGKey
from fnnet.competitive._grid import Grid, check_grid, gaussian, node_positions


class SOMState(NamedTuple):
    """Map weights ``(rows·cols, features)`` in node order, and ``step``: int32 updates applied."""

    weights: Array
    step: Array


class SOM(NamedTuple):
    """``init(weights) -> state``; ``update(state, x)`` the online rule for one sample
    ``(features,)``; ``batch_update(state, data)`` one batch-rule pass over ``(n, features)``."""

    init: Callable[[Array], SOMState]
    update: Callable[[SOMState, Array], SOMState]
    batch_update: Callable[[SOMState, Array], SOMState]


def asymptotic_decay(init_value: Any, num_steps: Any) -> Callable:
    """MiniSom's default decay for both σ and η: ``v / (1 + t / (T/2))``, ``v/3`` at ``t = T``."""
    return schedules.inverse_time_decay(init_value, decay_rate=2.0, decay_steps=num_steps)


def _as_schedule(name: str, value: Any) -> Callable:
    if callable(value):
        return value
    check_real(name, value, low=0.0, low_open=True)
    return schedules.constant(value)


def squared_distances(weights: Array, x: Array) -> Array:
    """``‖x_i − w_k‖²`` for a batch ``(n, features)`` -> ``(n, nodes)`` (clipped at 0)."""
    x = x.astype(weights.dtype)
    cross = jnp.matmul(x, weights.T, precision=jax.lax.Precision.HIGHEST)
    xx = jnp.sum(x * x, axis=-1, keepdims=True)
    return jnp.maximum(xx - 2.0 * cross + jnp.sum(weights * weights, axis=-1), 0.0)


def winners(weights: Array, x: Array) -> Array:
    """Best-matching units: int32 node indices ``(n,)`` for ``x`` ``(n, features)`` (``()`` for
    one sample ``(features,)``); ties go to the lowest index."""
    single = x.ndim == 1
    c = jnp.argmin(squared_distances(weights, jnp.atleast_2d(x)), axis=-1).astype(jnp.int32)
    return c[0] if single else c


def som(
    grid: Grid,
    *,
    sigma: Any,
    learning_rate: Any,
    neighborhood: Callable[[Array, Array], Array] = gaussian,
) -> SOM:
    """A self-organizing map learner on ``grid`` (the module docstring has the two rules).

    Args:
        grid: from :func:`rectangular_grid` or :func:`hexagonal_grid`.
        sigma: neighbourhood radius ``σ > 0``: a number, a 0-d (maybe traced) array or a
            schedule ``step -> σ``.
        learning_rate: ``η > 0``, same kinds; e.g. :func:`asymptotic_decay` ``(0.5, T)``.
        neighborhood: ``h(offset, sigma)``, e.g. :func:`gaussian` (default), :func:`triangle`.

    Example:
        >>> grid = rectangular_grid(3, 4)
        >>> learner = som(grid, sigma=1.0, learning_rate=0.5)
        >>> state = learner.init(jnp.zeros((12, 2)))
        >>> learner.update(state, jnp.ones(2)).step
        Array(1, dtype=int32)
    """
    grid = check_grid(grid)
    sigma_at = _as_schedule("sigma", sigma)
    rate_at = _as_schedule("learning_rate", learning_rate)
    neighborhood = check_callable("neighborhood", neighborhood, example="competitive.gaussian")
    positions = node_positions(grid)

    def init(weights: Array) -> SOMState:
        weights = jnp.asarray(weights)
        if weights.ndim != 2 or weights.shape[0] != grid.size:
            raise ValueError(
                f"`weights` must have shape ({grid.size}, features) for a {grid.rows}×{grid.cols} "
                f"map; got {weights.shape}."
            )
        return SOMState(weights, jnp.zeros((), jnp.int32))

    def _schedules(step: Array, dtype: Any) -> tuple[Array, Array, Array]:
        pos = jnp.asarray(positions, dtype)
        return (
            pos,
            jnp.asarray(sigma_at(step), dtype),
            jnp.asarray(rate_at(step), dtype),
        )

    def update(state: SOMState, x: Array) -> SOMState:
        w = state.weights
        pos, s, eta = _schedules(state.step, w.dtype)
        c = jnp.argmin(jnp.sum((x - w) ** 2, axis=-1))
        h = neighborhood(pos - pos[c], s)
        return SOMState(w + (eta * h)[:, None] * (x - w), state.step + 1)

    def batch_update(state: SOMState, data: Array) -> SOMState:
        w = state.weights
        pos, s, eta = _schedules(state.step, w.dtype)
        c = winners(w, data)
        h = neighborhood(pos[None, :, :] - pos[c][:, None, :], s)  # (n, nodes)
        num = jnp.matmul(h.T, data.astype(w.dtype), precision=jax.lax.Precision.HIGHEST)
        den = jnp.sum(h, axis=0)
        ok = den > 0
        mean = num / jnp.where(ok, den, 1.0)[:, None]
        new = jnp.where(ok[:, None], (1.0 - eta) * w + eta * mean, w)
        return SOMState(new, state.step + 1)

    return SOM(init, update, batch_update)


def random_init(key: PRNGKey, grid: Grid, data: Any) -> Array:
    """Initial weights: ``rows·cols`` samples of ``data`` drawn uniformly with replacement."""
    key, grid = check_key("key", key), check_grid(grid)
    data = check_samples("data", data)
    return data[jax.random.randint(key, (grid.size,), 0, data.shape[0])]


def pca_init(grid: Grid, data: Any) -> Array:
    """Initial weights on the plane of the first two principal components (MiniSom's rule).

    ``w_(r, c) = mean + a_r · e_1 + b_c · e_2`` with ``a = linspace(−1, 1, rows)``, ``b =
    linspace(−1, 1, cols)`` and ``e_1``, ``e_2`` the unit eigenvectors of the covariance with the
    two largest eigenvalues (MiniSom does not scale them by the components' spread). Standardise
    the data first. Deterministic: no key.
    """
    grid, data = check_grid(grid), check_samples("data", data)
    if data.shape[1] < 2:
        raise ValueError(f"`data` needs at least 2 features for PCA init; got {data.shape}.")
    centred = data - jnp.mean(data, axis=0)
    cov = jnp.matmul(centred.T, centred, precision=jax.lax.Precision.HIGHEST)
    _, vecs = jnp.linalg.eigh(cov / max(data.shape[0] - 1, 1))  # ascending eigenvalues
    a = jnp.linspace(-1.0, 1.0, grid.rows, dtype=data.dtype)
    b = jnp.linspace(-1.0, 1.0, grid.cols, dtype=data.dtype)
    plane = a[:, None, None] * vecs[:, -1] + b[None, :, None] * vecs[:, -2]
    return (jnp.mean(data, axis=0) + plane).reshape(grid.size, data.shape[1])


def _check_training(state: Any, data: Any, num_steps: Any) -> Array:
    if not isinstance(state, SOMState):
        raise TypeError(f"`state` must be a SOMState from som(...).init(weights); got {state!r}.")
    check_positive_int("num_steps", num_steps)
    w = state.weights
    return check_samples(
        "data",
        data,
        features=w.shape[1],
        source=f"the state's weights, shape {w.shape}",
        hint="a SOM trained on it would keep NaN weights.",
    )


def train_online(
    learner: SOM,
    state: SOMState,
    data: Any,
    *,
    num_steps: int,
    key: PRNGKey | None = None,
    random_order: bool = True,
) -> SOMState:
    """``num_steps`` online updates in one ``lax.scan``, one sample per step.

    The samples are ``arange(num_steps) mod n``, shuffled with ``key`` when ``random_order``
    (MiniSom's ``train(..., random_order=True)``: every sample used ⌊T/n⌋ or ⌈T/n⌉ times).
    """
    data = _check_training(state, data, num_steps)
    order = jnp.arange(num_steps) % data.shape[0]
    if random_order:
        order = jax.random.permutation(check_key("key", key), order)

    def step(s: SOMState, i: Array) -> tuple[SOMState, None]:
        return learner.update(s, data[i].astype(s.weights.dtype)), None

    return jax.lax.scan(step, state, order)[0]


def train_batch(learner: SOM, state: SOMState, data: Any, *, num_steps: int) -> SOMState:
    """``num_steps`` batch-rule updates, each over the whole of ``data``, in one ``lax.scan``."""
    data = _check_training(state, data, num_steps)

    def step(s: SOMState, _: Any) -> tuple[SOMState, None]:
        return learner.batch_update(s, data), None

    return jax.lax.scan(step, state, None, length=num_steps)[0]


__all__ = [
    "SOM",
    "SOMState",
    "asymptotic_decay",
    "pca_init",
    "random_init",
    "som",
    "squared_distances",
    "train_batch",
    "train_online",
    "winners",
]
