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
:func:`asymptotic_decay`, i.e. ``schedules.inverse_time_decay(v, decay_rate=2, decay_steps=T)``
that also records ``T``: the learner then knows its step count, and :func:`train_som` trains
for it (one source of truth; a different ``num_steps`` is refused). Build the learner inside
``jax.vmap`` from array-valued ``σ₀``, ``η₀`` and a sweep is one compiled program
(:func:`fnnet.competitive.sweep_som`).

Data is validated at every public function by ``fnnet._checks.check_samples`` (width from the
weights). Under ``jit`` values cannot raise: :func:`winners` of a row whose distances are NaN is
``−1``, never a node, and the metrics of such rows are NaN.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from fnnet import schedules
from fnnet._checks import (
    check_bool,
    check_callable,
    check_floating,
    check_key,
    check_positive_int,
    check_real,
    check_samples,
    is_concrete,
    is_int,
)
from fnnet._types import Array, PRNGKey
from fnnet.competitive._grid import Grid, check_grid, check_map_weights, gaussian, node_positions


class SOMState(NamedTuple):
    """Map weights ``(rows·cols, features)`` in node order, and ``step``: int32 updates applied."""

    weights: Array
    step: Array


class SOMLearner(NamedTuple):
    """What :func:`som` returns: ``init(weights) -> state``; ``update(state, x)`` the online rule
    for one sample ``(features,)``; ``batch_update(state, data)`` one batch-rule pass over
    ``(n, features)``; ``num_steps``: the step count the σ and η schedules were built for (from
    :func:`asymptotic_decay`), or ``None``."""

    init: Callable[[Array], SOMState]
    update: Callable[[SOMState, Array], SOMState]
    batch_update: Callable[[SOMState, Array], SOMState]
    num_steps: int | None


def asymptotic_decay(init_value: Any, num_steps: Any) -> Callable:
    """MiniSom's default decay for both σ and η: ``v / (1 + t / (T/2))``, ``v/3`` at ``t = T``.

    The schedule records ``T`` (when it is a Python int) as ``schedule.num_steps``, so a
    learner built with it trains for ``T`` steps without being told twice.
    """
    schedule = schedules.inverse_time_decay(init_value, decay_rate=2.0, decay_steps=num_steps)

    def decay(step: Any) -> Array:
        return schedule(step)

    decay.num_steps = int(num_steps) if is_int(num_steps) else None  # type: ignore[attr-defined]
    return decay


def _as_schedule(name: str, value: Any) -> Callable:
    if callable(value):
        return value
    check_real(name, value, low=0.0, low_open=True)
    return schedules.constant(value)


def _schedule_steps(sigma: Callable, learning_rate: Callable) -> int | None:
    """The step count recorded by the schedules (``asymptotic_decay``); both must agree."""
    found = {n: getattr(f, "num_steps", None) for n, f in (("sigma", sigma),
                                                           ("learning_rate", learning_rate))}  # fmt: skip
    counts = {v for v in found.values() if v is not None}
    if len(counts) > 1:
        raise ValueError(
            f"`sigma` and `learning_rate` decay over different step counts ({found['sigma']} "
            f"and {found['learning_rate']}); build both with the number of steps you train for."
        )
    return counts.pop() if counts else None


def squared_distances(weights: Array, x: Array) -> Array:
    """``‖x_i − w_k‖²`` for a batch ``(n, features)`` -> ``(n, nodes)`` (clipped at 0)."""
    x = x.astype(weights.dtype)
    cross = jnp.matmul(x, weights.T, precision=jax.lax.Precision.HIGHEST)
    xx = jnp.sum(x * x, axis=-1, keepdims=True)
    return jnp.maximum(xx - 2.0 * cross + jnp.sum(weights * weights, axis=-1), 0.0)


def _weights_source(weights: Array) -> str:
    return f"the weights, shape {tuple(weights.shape)}"


def best_units(weights: Array, x: Array) -> Array:
    """Winners of checked data: int32 ``(n,)``, ``−1`` where a distance is NaN."""
    d = squared_distances(weights, x)
    c = jnp.argmin(d, axis=-1).astype(jnp.int32)
    return jnp.where(jnp.any(jnp.isnan(d), axis=-1), -1, c)


def winners(weights: Array, x: Any) -> Array:
    """Best-matching units ``c(x_i) = argmin_k ‖x_i − w_k‖``: int32 node indices ``(n,)``.

    Args:
        weights: the map's weights ``(nodes, features)``.
        x: samples ``(n, features)`` (one sample: ``x[None]``).

    Returns:
        The winning node of each row; ties go to the lowest index. Under ``jit`` (where a NaN
        cannot raise) a row whose distances are NaN (a NaN in the row, or NaN weights) gets
        ``−1``, never a node; eagerly such data is refused.
    """
    weights = jnp.asarray(weights)
    x = check_samples("x", x, features=weights.shape[-1], source=_weights_source(weights))
    return best_units(weights, x)


def som(
    grid: Grid,
    *,
    sigma: Any,
    learning_rate: Any,
    neighborhood: Callable[[Array, Array], Array] = gaussian,
) -> SOMLearner:
    """A self-organizing map learner on ``grid`` (the module docstring has the two rules).

    Args:
        grid: from :func:`rectangular_grid` or :func:`hexagonal_grid`.
        sigma: neighbourhood radius ``σ > 0``: a number, a 0-d (maybe traced) array or a
            schedule ``step -> σ``.
        learning_rate: ``η > 0``, same kinds; e.g. :func:`asymptotic_decay` ``(0.5, T)``.
        neighborhood: ``h(offset, sigma)``, e.g. :func:`gaussian` (default), :func:`triangle`.

    Returns:
        A :class:`SOMLearner`; ``update`` and ``batch_update`` check their data's width against
        the state's weights. ``num_steps`` is ``T`` when the schedules came from
        :func:`asymptotic_decay` (both must agree), else ``None``.

    Example:
        >>> import jax.numpy as jnp
        >>> from fnnet import competitive
        >>> grid = competitive.rectangular_grid(3, 4)
        >>> learner = competitive.som(grid, sigma=1.0, learning_rate=0.5)
        >>> state = learner.init(jnp.zeros((12, 2)))
        >>> learner.update(state, jnp.ones(2)).step
        Array(1, dtype=int32)
    """
    grid = check_grid(grid)
    sigma_at = _as_schedule("sigma", sigma)
    rate_at = _as_schedule("learning_rate", learning_rate)
    num_steps = _schedule_steps(sigma_at, rate_at)
    neighborhood = check_callable("neighborhood", neighborhood, example="competitive.gaussian")
    positions = node_positions(grid)

    def init(weights: Array) -> SOMState:
        weights = check_map_weights(grid, check_floating("weights", weights))
        return SOMState(weights, jnp.zeros((), jnp.int32))

    def _schedules(step: Array, dtype: Any) -> tuple[Array, Array, Array]:
        pos = jnp.asarray(positions, dtype)
        return (
            pos,
            jnp.asarray(sigma_at(step), dtype),
            jnp.asarray(rate_at(step), dtype),
        )

    def update(state: SOMState, x: Array) -> SOMState:
        w = _check_state(state).weights
        x = jnp.asarray(x)
        if x.ndim != 1:
            raise ValueError(
                f"`x` must be one sample (features,); got shape {x.shape}. For a batch use "
                f"batch_update, or train_som for many online steps."
            )
        x = check_samples("x", x[None], features=w.shape[1], source=_weights_source(w))[0]
        x = x.astype(w.dtype)
        pos, s, eta = _schedules(state.step, w.dtype)
        c = jnp.argmin(jnp.sum((x - w) ** 2, axis=-1))
        h = neighborhood(pos - pos[c], s)
        return SOMState(w + (eta * h)[:, None] * (x - w), state.step + 1)

    def batch_update(state: SOMState, data: Array) -> SOMState:
        w = _check_state(state).weights
        data = check_samples("data", data, features=w.shape[1], source=_weights_source(w))
        pos, s, eta = _schedules(state.step, w.dtype)
        c = best_units(w, data)
        h = neighborhood(pos[None, :, :] - pos[c][:, None, :], s)  # (n, nodes)
        num = jnp.matmul(h.T, data.astype(w.dtype), precision=jax.lax.Precision.HIGHEST)
        den = jnp.sum(h, axis=0)
        ok = den > 0
        mean = num / jnp.where(ok, den, 1.0)[:, None]
        new = jnp.where(ok[:, None], (1.0 - eta) * w + eta * mean, w)
        return SOMState(new, state.step + 1)

    return SOMLearner(init, update, batch_update, num_steps)


def random_init(grid: Grid, data: Any, *, key: PRNGKey) -> Array:
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


def _check_state(state: Any) -> SOMState:
    if not isinstance(state, SOMState):
        raise TypeError(f"`state` must be a SOMState from som(...).init(weights); got {state!r}.")
    return state


def _train_online(learner: SOMLearner, state: SOMState, data: Array, num_steps: int,
                  key: PRNGKey | None) -> SOMState:  # fmt: skip
    """``num_steps`` online updates in one ``lax.scan``; sample ``arange(T) mod n``, shuffled
    with ``key`` unless it is ``None``."""
    order = jnp.arange(num_steps) % data.shape[0]
    if key is not None:
        order = jax.random.permutation(key, order)

    def step(s: SOMState, i: Array) -> tuple[SOMState, None]:
        return learner.update(s, data[i].astype(s.weights.dtype)), None

    return jax.lax.scan(step, state, order)[0]


def _train_batch(learner: SOMLearner, state: SOMState, data: Array, num_steps: int) -> SOMState:
    """``num_steps`` batch-rule passes over the whole of ``data`` in one ``lax.scan``."""

    def step(s: SOMState, _: Any) -> tuple[SOMState, None]:
        return learner.batch_update(s, data), None

    return jax.lax.scan(step, state, None, length=num_steps)[0]


def _steps_to_train(learner: SOMLearner, done: int | None, num_steps: Any) -> int:
    """``num_steps``, or what remains of the schedules' ``T`` after ``done`` steps (``None``:
    unknown, a traced state); a disagreement is refused."""
    planned = learner.num_steps
    if num_steps is None:
        if planned is None:
            raise ValueError(
                "`num_steps` is required: the learner's σ and η schedules record no step count "
                "(only asymptotic_decay(v, T) does)."
            )
        if done is None:
            raise ValueError(
                "`num_steps` is required when the state's step is traced (inside jit); pass "
                "the initial weights instead of a state, or num_steps."
            )
        return check_positive_int("num_steps", planned - done)
    num_steps = check_positive_int("num_steps", num_steps)
    if planned is not None and done is not None and done + num_steps != planned:
        raise ValueError(
            f"`num_steps` ({num_steps}) disagrees with the decay schedules, built for "
            f"T = {planned} steps ({done} already applied): asymptotic_decay(v, T) reaches v/3 "
            f"at T. Leave num_steps out (it defaults to {planned - done}), or build the "
            f"schedules with the step count you train for (for training in chunks, use "
            f"fnnet.schedules.inverse_time_decay(v, decay_rate=2, decay_steps=T), which "
            f"records none)."
        )
    return num_steps


def train_som(
    learner: SOMLearner,
    weights: Any,
    data: Any,
    *,
    num_steps: int | None = None,
    key: PRNGKey | None = None,
    batch: bool = False,
    random_order: bool = True,
) -> SOMState:
    """Train a map from initial weights (or continue from a state), in one ``lax.scan``.

    Online (default): one sample per step, the samples ``arange(num_steps) mod n`` shuffled
    with ``key`` when ``random_order`` (MiniSom's ``train(..., random_order=True)``: every
    sample used ⌊T/n⌋ or ⌈T/n⌉ times). ``batch=True``: ``num_steps`` batch-rule passes over
    all of ``data``. Wrap it in ``jax.jit`` to compile the whole run.

    Args:
        learner: from :func:`som`.
        weights: initial weights ``(rows·cols, features)`` (:func:`pca_init`,
            :func:`random_init`), or a :class:`SOMState` to continue training.
        data: ``(n, features)``; checked (width, finiteness) before anything runs.
        num_steps: updates to apply. Default: what remains of the schedules' ``T`` when they
            came from :func:`asymptotic_decay`; given with such schedules it must match.
        key: the shuffling key (keyword-only), needed when online with ``random_order``.
        batch: use the batch rule. random_order: shuffle the online sample order.

    Returns:
        The final :class:`SOMState`.
    """
    if not isinstance(learner, SOMLearner):
        raise TypeError(f"`learner` must be a SOMLearner from som(grid, ...); got {learner!r}.")
    if isinstance(weights, SOMState):
        state = weights
        done = int(state.step) if is_concrete(state.step) else None
    else:
        state, done = learner.init(weights), 0
    batch, random_order = check_bool("batch", batch), check_bool("random_order", random_order)
    num_steps = _steps_to_train(learner, done, num_steps)
    w = state.weights
    data = check_samples("data", data, features=w.shape[1], source=_weights_source(w),
                         hint="a SOM trained on it would keep NaN weights.")  # fmt: skip
    if batch:
        return _train_batch(learner, state, data, num_steps)
    key = check_key("key", key) if random_order else None
    return _train_online(learner, state, data, num_steps, key)
