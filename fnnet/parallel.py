"""Multi-device training with ``jax.sharding``: a sweep's member axis, or one model's batch.

Nothing here communicates by hand. Arrays are placed with a ``NamedSharding`` on a ``Mesh``,
``jit`` compiles one SPMD program, and XLA inserts whatever reductions the math needs (the sum
over the batch in ``∂L/∂w = xᵀ δ`` becomes per-device partial sums plus an all-reduce). fnnet's
hand-written rules stay per-shard math with no collectives in them.

Two layouts:

* **members** (:func:`fnnet.sweep.run` with ``mesh=``): the sweep's member axis is split across
  devices; each device trains its members on the whole (replicated) data set. Members are
  independent, so this needs no communication at all.
* **data** (:func:`data_parallel_step`): one model, parameters and optimizer state replicated,
  every batch split along its rows. Gradients are batch means, so the sharded step computes
  the same update as the single-device step (up to float32 summation order).

Set the device count before JAX starts to try this on a CPU:
``XLA_FLAGS=--xla_force_host_platform_device_count=8`` or, first thing in the program,
``jax.config.update("jax_num_cpu_devices", 8)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from fnnet._checks import check_bool, check_callable, check_int, check_mesh
from fnnet._types import PRNGKey


def device_mesh(
    axis_name: str = "data", *, num_devices: int | None = None, devices: Sequence[Any] | None = None
) -> Mesh:
    """A one-axis ``Mesh`` over ``num_devices`` devices (default: all), with automatic sharding.

    Args:
        axis_name: the mesh axis name (``"data"`` for batches, ``"members"`` for sweeps).
        num_devices: how many devices to use (the first ones); default all of ``devices``.
        devices: the devices to choose from; default ``jax.devices()``.
    """
    if not isinstance(axis_name, str) or not axis_name:
        raise TypeError(f"`axis_name` must be a non-empty str; got {axis_name!r}.")
    available = list(jax.devices() if devices is None else devices)
    n = len(available)
    if num_devices is not None:
        n = check_int("num_devices", num_devices, low=1, high=len(available))
    return jax.make_mesh((n,), (axis_name,), axis_types=(AxisType.Auto,), devices=available[:n])


def leading_sharding(mesh: Mesh) -> NamedSharding:
    """Split axis 0 over all of ``mesh``'s axes (batch rows, or sweep members); other axes whole."""
    mesh = check_mesh(mesh)
    return NamedSharding(mesh, P(tuple(mesh.axis_names)))


def replicated(mesh: Mesh) -> NamedSharding:
    """A full copy on every device of ``mesh``."""
    return NamedSharding(check_mesh(mesh), P())


def shard_leading(tree: Any, mesh: Mesh, *, name: str = "tree") -> Any:
    """Place every leaf of ``tree`` split along axis 0 over ``mesh`` (its length must divide evenly)."""
    mesh = check_mesh(mesh)
    sharding = leading_sharding(mesh)
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        shape = jax.numpy.shape(leaf)
        if not shape or shape[0] % mesh.size:
            where = f"`{name}` leaf {jax.tree_util.keystr(path)}" if path else f"`{name}`"
            raise ValueError(
                f"{where} must have a leading axis divisible by the {mesh.size} devices of `mesh`; "
                f"got shape {shape}."
            )
    return _put(tree, sharding)


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Place every leaf of ``tree`` whole on every device of ``mesh``."""
    return _put(tree, replicated(mesh))


def _put(tree: Any, sharding: NamedSharding) -> Any:
    """``jax.device_put``, with typed PRNG keys placed through their raw key data: JAX refuses
    a typed key for a sharding that spans other processes (multi-host)."""

    def put(leaf: Any) -> Any:
        if isinstance(leaf, jax.Array) and jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            raw = jax.device_put(np.asarray(jax.random.key_data(leaf)), sharding)
            return jax.random.wrap_key_data(raw, impl=jax.random.key_impl(leaf))
        return jax.device_put(leaf, sharding)

    return jax.tree_util.tree_map(put, tree)


def fetch(tree: Any) -> Any:
    """Every leaf of ``tree`` as a host numpy array, whichever processes hold its shards.

    ``jax.device_get`` for arrays this process can read whole; an array split over devices of
    other processes (a member-sharded sweep on several hosts) is all-gathered first. In a
    multi-process run every process must call it on the same arrays (it is a collective).
    """

    def get(leaf: Any) -> Any:
        local = isinstance(leaf, jax.Array) and leaf.is_fully_addressable
        if isinstance(leaf, jax.Array) and not (local or leaf.is_fully_replicated):
            return multihost_utils.process_allgather(leaf, tiled=True)
        return leaf

    return jax.device_get(jax.tree_util.tree_map(get, tree))


def constrain_batches(batches: Any, mesh: Mesh) -> Any:
    """Inside ``jit``: split stacked minibatches ``(num_batches, batch_size, ...)`` along the batch rows.

    The hook for a compiled epoch (``fnnet.fit``'s ``lax.scan`` over ``fnnet.data.minibatches``):
    call it on the stacked batches before the scan, with the train state replicated, and every
    step of the epoch runs data-parallel.
    """
    mesh = check_mesh(mesh)
    spec = NamedSharding(mesh, P(None, tuple(mesh.axis_names)))
    return jax.tree_util.tree_map(lambda a: jax.lax.with_sharding_constraint(a, spec), batches)


def data_parallel_step(
    step: Callable[..., Any], mesh: Mesh, *, donate: bool = True
) -> Callable[..., Any]:
    """Compile a train step ``(state, batch, key) -> (state, metrics)`` to run data-parallel on ``mesh``.

    The state and the key are replicated, each array of ``batch`` is split along its rows
    (``batch_size`` must be divisible by ``mesh.size``), and the new state and metrics come back
    replicated. The result equals the single-device step up to float32 summation order.

    Args:
        step: e.g. ``fnnet.make_train_step(apply, loss, optimizer).step``.
        mesh: e.g. ``fnnet.parallel.device_mesh("data")``.
        donate: donate the incoming state's buffers (as ``fit`` does).

    Returns:
        ``parallel_step(state, batch, key)``, which places its arguments and calls the compiled step.
    """
    check_callable("step", step, example="fnnet.make_train_step(...).step")
    check_bool("donate", donate)
    mesh = check_mesh(mesh)
    rep, rows = replicated(mesh), leading_sharding(mesh)
    compiled = jax.jit(
        step,
        in_shardings=(rep, rows, rep),
        out_shardings=(rep, rep),
        donate_argnums=(0,) if donate else (),
    )

    def parallel_step(state: Any, batch: Any, key: PRNGKey) -> tuple[Any, Any]:
        return compiled(
            replicate(state, mesh), shard_leading(batch, mesh, name="batch"), replicate(key, mesh)
        )

    return parallel_step


__all__ = [
    "device_mesh",
    "leading_sharding",
    "replicated",
    "shard_leading",
    "replicate",
    "fetch",
    "constrain_batches",
    "data_parallel_step",
]
