"""Many training runs as one compiled program: grid and random search over array-valued
hyperparameters and seeds, per-member early stopping, ensembles.

The contract::

    trainer = make_trainer(model, loss, optimizer, (x, y), epochs=..., batch_size=...)
    metrics, params = trainer.run(hparams, key, trainer.data)   # one member, pure
    result = run(trainer, grid(learning_rate=[1e-3, 1e-2], weight_decay=[0.0, 1e-4]), key, seeds=4)

``hparams`` is a dict of 0-d arrays; ``model``, ``optimizer`` and ``penalty`` may be functions of
it (``lambda hp: fnnet.optimizers.adam(hp["learning_rate"])``), because fnnet's optimizers and
layers store their hyperparameters as array leaves. :func:`run` ``vmap``\\ s ``trainer.run`` over
the members (configurations × seeds) and ``jit``\\ s it once; a grid larger than ``chunk_size``
(or than a memory budget) runs in equal chunks of that one program, the last one padded.

**Randomness.** Member ``(configuration, seed s)`` trains with ``member_key(key, s) =
fold_in(key, s)``, derived from its seed coordinate, never from its position in the flattened
or chunked grid: it reproduces ``trainer.run(hparams, member_key(key, s), trainer.data)`` run
alone, and results do not depend on ``chunk_size`` or on the number of devices. Members that
differ only in hyperparameters share their initialisation and batch order (common random
numbers), so comparisons across a grid are paired.

Structural choices (layer sizes, which optimizer) are not swept here: each is its own program;
loop over them in Python.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from fnnet import parallel
from fnnet._checks import check_bool, check_mesh, check_positive_int
from fnnet._types import Array, Params, PRNGKey
from fnnet.sweep._space import Space, grid
from fnnet.sweep._trainer import Metrics, RunFn, Trainer


class Best(NamedTuple):
    """The best member: its index into the result's axes, hyperparameters, seed and score,
    its final parameters (``None`` with ``keep_params=False``) and its per-epoch ``history``.

    One member is one seed; :func:`fnnet.sweep.best_configuration` scores configurations by
    their seeds' mean (or another reduction) instead.
    """

    index: tuple[int, ...]
    hparams: dict[str, float]
    seed: int
    metric: str
    value: float
    params: Params | None
    history: dict[str, np.ndarray] | None = None


class SweepResult(NamedTuple):
    """A sweep's results on labelled axes: the space's axes, then ``"seed"``.

    ``hparams[name]``, every leaf of ``metrics`` (histories included) and of ``params`` (every
    member's final parameters; ``None`` with ``keep_params=False``) lead with those axes, e.g.
    ``metrics["val_accuracy"].mean(axis=-1)`` averages over seeds. See
    :func:`fnnet.sweep.best_configuration`, :func:`fnnet.sweep.table` and
    :func:`fnnet.sweep.heatmap` to read it.
    """

    axes: tuple[str, ...]
    coords: dict[str, np.ndarray]
    hparams: dict[str, np.ndarray]
    metrics: Metrics
    params: Params | None
    best: Best
    chunk_size: int
    num_chunks: int
    compile_seconds: float
    seconds: float  # wall time of the whole call, compilation included


class MemoryEstimate(NamedTuple):
    """Bytes a compiled sweep needs: ``shared + per_member · members`` (per device)."""

    shared: int
    per_member: int

    def chunk_size(self, budget: int) -> int:
        """The most members that fit in ``budget`` bytes (at least 1)."""
        return max(1, (int(budget) - self.shared) // max(self.per_member, 1))


def member_key(key: PRNGKey, seed: int | Array) -> PRNGKey:
    """The key member ``(configuration, seed)`` trains with: ``fold_in(key, seed)``."""
    return jax.random.fold_in(key, seed)


@functools.lru_cache(maxsize=16)
def _plain(member: Callable) -> Trainer:
    # One wrapper per function, so repeated sweeps of it reuse the compiled program.
    return Trainer(lambda hparams, key, data: member(hparams, key), ())


def _as_trainer(trainer: Any) -> Trainer:
    if isinstance(trainer, Trainer):
        return trainer
    if callable(trainer):  # a plain `member(hparams, key)`; whatever it closes over is compiled in
        return _plain(trainer)
    raise TypeError(
        f"`trainer` must be a Trainer (see make_trainer) or a function (hparams, key) -> "
        f"(metrics, params); got {trainer!r}."
    )


def _as_space(space: Any) -> Space:
    if isinstance(space, Space):
        return space
    if isinstance(space, dict):
        return grid(**space)
    raise TypeError(
        f"`space` must be a Space (grid, random_search, point) or a dict of value lists; got {type(space).__name__}."
    )


@functools.lru_cache(maxsize=16)
def _members_program(
    run_fn: RunFn, keep_params: bool, mesh: jax.sharding.Mesh | None, shared_seed: bool
) -> Callable:
    """``jit(vmap(member))``, cached: repeated sweeps of one trainer reuse its compiled program.

    ``shared_seed``: every member has the same seed, passed once (not vmapped), so whatever
    depends on the key alone (initialisation, the minibatch order, dropout masks) is computed
    once and shared: the first layer's ``x @ W`` and ``xᵀδ`` become one wide GEMM over the
    members (``x @ [W¹ … Wᴷ]``) instead of K small ones. Same math, same results.
    """

    def one(hparams, seed, key, data):
        metrics, params = run_fn(hparams, member_key(key, seed), data)
        return (metrics, params) if keep_params else (metrics, None)

    members = jax.vmap(one, in_axes=(0, None if shared_seed else 0, None, None))
    if mesh is None:
        return jax.jit(members)
    split, whole = parallel.leading_sharding(mesh), parallel.replicated(mesh)
    seed_sharding = whole if shared_seed else split
    return jax.jit(members, in_shardings=(split, seed_sharding, whole, whole), out_shardings=split)


def estimate_memory(
    trainer: Any, space: Any, key: PRNGKey, *, keep_params: bool = False
) -> MemoryEstimate:
    """Measure a sweep's memory from XLA's ``memory_analysis`` of the compiled 1-member program.

    ``shared`` is the data every member reads; ``per_member`` the rest of that program
    (hyperparameters, outputs and temporaries). Temporaries grow a little less than linearly
    with the members vmapped together (on CPU, 64 members measured ~7 % below 64 × this
    estimate), so chunks chosen from it err on the safe side. Costs one extra compile.
    """
    trainer, space = _as_trainer(trainer), _as_space(space)
    hparams = {k: jnp.asarray(v.reshape(-1)[:1]) for k, v in space.values.items()}
    program = _members_program(trainer.run, keep_params, None, False)
    stats = (
        program.lower(hparams, jnp.zeros((1,), jnp.int32), key, trainer.data)
        .compile()
        .memory_analysis()
    )
    if stats is None:
        raise ValueError(
            "this backend reports no memory analysis; pass `chunk_size` instead of `memory_budget`."
        )
    total = (
        stats.argument_size_in_bytes
        + stats.output_size_in_bytes
        + stats.temp_size_in_bytes
        - stats.alias_size_in_bytes
    )
    shared = sum(int(np.asarray(leaf).nbytes) for leaf in jax.tree_util.tree_leaves(trainer.data))
    return MemoryEstimate(shared, max(int(total) - shared, 1))


def _replay_flagged(trainer: Trainer, joined: Any, rows: tuple, keep_params: bool, mesh: Any):
    """Re-run with ``trainer.exact`` (the full per-step guard) the members whose state check
    failed in an epoch (``metrics["state_finite"]`` false): rare, and exact by construction."""
    metrics = joined[0]
    if trainer.exact is None or not isinstance(metrics, dict) or "state_finite" not in metrics:
        return joined
    flagged = np.flatnonzero(~np.asarray(metrics["state_finite"], bool))
    if flagged.size == 0:
        return joined
    table, seed_of, place, shared, devices = rows
    padded = flagged[np.minimum(np.arange(-(-flagged.size // devices) * devices), flagged.size - 1)]
    program = _members_program(trainer.exact, keep_params, mesh, False)
    hparams = place({k: v[padded] for k, v in table.items()})
    again = parallel.fetch(program(hparams, place(seed_of[padded]), *shared))

    def patch(whole: np.ndarray, part: np.ndarray) -> np.ndarray:
        whole = np.array(whole)
        whole[flagged] = part[: flagged.size]
        return whole

    return jax.tree_util.tree_map(patch, joined, again)


def _check_metric(metric: str | None, metrics: Any, chunk: int) -> str:
    """The metric that picks the best member: a 0-d per-member entry of the metrics dict."""
    if not isinstance(metrics, dict):
        raise TypeError(
            f"`trainer` must return its metrics as a dict of arrays; got {type(metrics).__name__}."
        )
    names = sorted(k for k, v in metrics.items() if getattr(v, "shape", None) == (chunk,))
    if metric is None:
        metric = "val_loss" if "val_loss" in names else "loss"
    if metric not in names:
        raise ValueError(
            f"`metric` must name a 0-d per-member metric of `trainer`; got {metric!r}, available: {names}."
        )
    return metric


def _best(metric_values: np.ndarray, maximize: bool) -> int:
    flat = metric_values.reshape(-1).astype(np.float64)
    score = np.where(np.isnan(flat), -np.inf if maximize else np.inf, flat)
    return int(np.argmax(score) if maximize else np.argmin(score))


def _history(metrics: Any, where: tuple) -> dict[str, np.ndarray] | None:
    history = metrics.get("history") if isinstance(metrics, dict) else None
    if not isinstance(history, dict):
        return None
    return jax.tree_util.tree_map(lambda a: np.asarray(a)[where], history)


def run(
    trainer: Any,
    space: Any,
    key: PRNGKey,
    *,
    seeds: int = 1,
    keep_params: bool = True,
    chunk_size: int | None = None,
    memory_budget: int | None = None,
    mesh: jax.sharding.Mesh | None = None,
    metric: str | None = None,
    maximize: bool = False,
) -> SweepResult:
    """Train every member (configuration × seed) with one compiled, ``vmap``-ped program.

    Args:
        trainer: a ``Trainer`` from :func:`make_trainer`, or any ``member(hparams, key) ->
            (metrics, params)`` whose metrics are a pytree of arrays.
        space: a ``Space`` (:func:`grid`, :func:`random_search`, :func:`point`) or a dict of
            value lists (a grid).
        key: the sweep key; member ``(c, s)`` uses ``member_key(key, s)``.
        seeds: seeds per configuration (the last result axis). With one seed (the default)
            every member has the same key, which is then passed once instead of per member:
            initialisation, minibatch order and dropout masks are shared, and the first
            layer's ``x @ W`` and ``xᵀδ`` run as one wide GEMM over all members (the same
            results; see ``docs/sweeps.md``, "Shared minibatches").
        keep_params: return every member's final parameters (default), so the winner needs
            no retraining; ``False`` saves the host memory of ``members × parameters`` for
            very large sweeps (then ``params`` and ``best.params`` are ``None``).
        chunk_size: members per compiled call; default all of them, or what fits
            ``memory_budget`` (bytes per device, measured by :func:`estimate_memory`: one extra
            compile). Every chunk has this size (the last is padded), so there is one compile.
        mesh: split the member axis over this ``Mesh``'s devices (see :mod:`fnnet.parallel`);
            the chunk size is rounded up to a multiple of ``mesh.size``.
        metric: the 0-d metric that picks ``best`` (default ``"val_loss"`` if present, else
            ``"loss"``); ``maximize`` for accuracies.

    Returns:
        A ``SweepResult`` (host numpy arrays).
    """
    started = time.perf_counter()
    trainer, space = _as_trainer(trainer), _as_space(space)
    seeds = check_positive_int("seeds", seeds)
    check_bool("keep_params", keep_params)
    check_bool("maximize", maximize)
    if mesh is not None:
        mesh = check_mesh(mesh)
    devices = 1 if mesh is None else mesh.size
    num_members = int(np.prod(space.shape, dtype=np.int64)) * seeds
    if chunk_size is not None:
        chunk = check_positive_int("chunk_size", chunk_size)
    elif memory_budget is not None:
        budget = check_positive_int("memory_budget", memory_budget)
        chunk = (
            estimate_memory(trainer, space, key, keep_params=keep_params).chunk_size(budget)
            * devices
        )
    else:
        chunk = num_members
    chunk = -(-min(chunk, num_members) // devices) * devices
    num_chunks = -(-num_members // chunk)

    # The member table, padded to whole chunks by repeating the last member.
    index = np.minimum(np.arange(num_chunks * chunk), num_members - 1)
    table = {k: np.repeat(v.reshape(-1), seeds)[index] for k, v in space.values.items()}
    seed_of = np.tile(np.arange(seeds, dtype=np.int32), num_members // seeds)[index]

    # One seed: every member has the same key, passed once (the shared-minibatch fast path).
    shared_seed = seeds == 1
    jitted = _members_program(trainer.run, keep_params, mesh, shared_seed)
    if mesh is None:
        place, whole = jax.device_put, jax.device_put
    else:
        place = functools.partial(parallel.shard_leading, mesh=mesh, name="members")
        whole = functools.partial(parallel.replicate, mesh=mesh)
    shared = whole((key, trainer.data))
    parts = [slice(i * chunk, (i + 1) * chunk) for i in range(num_chunks)]
    one_seed = whole(np.zeros((), np.int32)) if shared_seed else None
    chunks = [
        (
            place({k: v[part] for k, v in table.items()}),
            one_seed if shared_seed else place(seed_of[part]),
        )
        for part in parts
    ]
    tic = time.perf_counter()
    try:
        lowered = jitted.lower(*chunks[0], *shared)
    except KeyError as err:  # the training function reads a hyperparameter the space lacks
        if err.args and isinstance(err.args[0], str) and err.args[0] not in space.values:
            raise KeyError(
                f"`trainer` reads hyperparameter {err.args[0]!r}, which `space` does not define; the space "
                f"has {sorted(space.values)}."
            ) from err
        raise
    metric = _check_metric(metric, lowered.out_info[0], chunk)  # before any member trains
    compiled = lowered.compile()
    compile_seconds = time.perf_counter() - tic

    outputs, pending = [], None
    for hparams, seed in chunks:  # dispatch chunk i + 1 before fetching chunk i
        current = compiled(hparams, seed, *shared)
        if pending is not None:
            outputs.append(parallel.fetch(pending))
        pending = current
    outputs.append(parallel.fetch(pending))

    shape = space.shape + (seeds,)
    joined = jax.tree_util.tree_map(lambda *parts: np.concatenate(parts)[:num_members], *outputs)
    rows = (table, seed_of, place, shared, devices)
    joined = _replay_flagged(trainer, joined, rows, keep_params, mesh)
    metrics, params = jax.tree_util.tree_map(lambda a: a.reshape(shape + a.shape[1:]), joined)
    hparams = {k: np.repeat(v[..., None], seeds, axis=-1) for k, v in space.values.items()}

    flat = _best(np.asarray(metrics[metric]), maximize)
    where = np.unravel_index(flat, shape)
    best = Best(
        tuple(int(i) for i in where),
        {k: v[where].item() for k, v in hparams.items()},
        int(where[-1]),
        metric,
        float(np.asarray(metrics[metric])[where]),
        None if params is None else jax.tree_util.tree_map(lambda a: a[where], params),
        _history(metrics, where),
    )
    coords = dict(space.coords, seed=np.arange(seeds))
    return SweepResult(
        space.axes + ("seed",),
        coords,
        hparams,
        metrics,
        params,
        best,
        chunk,
        num_chunks,
        compile_seconds,
        time.perf_counter() - started,
    )
