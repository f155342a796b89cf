"""One process of a multi-process (multi-host) run on this machine, for ``tests/test_multihost.py``.

Usage::

    python tests/multihost_worker.py OUT.npz                       # one process, one device
    python tests/multihost_worker.py OUT.npz PORT PROCESS_ID NUM_PROCESSES LOCAL_DEVICES

With a port, the process joins JAX's distributed runtime (``jax.distributed.initialize``, the
coordinator on ``127.0.0.1:PORT``, CPU collectives over gloo) with ``LOCAL_DEVICES`` CPU
devices of its own, so the global mesh spans every process. Either way it runs the same two
jobs and saves their results to ``OUT.npz``:

* ``fit``: ``fnnet.fit(..., mesh=device_mesh("data"))``: data-parallel, batch rows split over
  every device of every process, parameters replicated;
* ``sweep``: ``fnnet.sweep.run(..., mesh=device_mesh("members"))``: the member axis split over
  every device of every process.
"""

import sys

import jax

OUT = sys.argv[1]
DISTRIBUTED = len(sys.argv) > 2
if DISTRIBUTED:
    PORT, PROCESS_ID, NUM_PROCESSES, LOCAL = (int(a) for a in sys.argv[2:6])
    jax.config.update("jax_num_cpu_devices", LOCAL)  # before anything touches a device
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        f"127.0.0.1:{PORT}",
        num_processes=NUM_PROCESSES,
        process_id=PROCESS_ID,
        initialization_timeout=60,
    )
jax.config.update("jax_numpy_dtype_promotion", "strict")

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import fnnet  # noqa: E402
from fnnet import activations, losses, optimizers, parallel, sweep  # noqa: E402

KEY = jax.random.key(7)
X = jax.random.normal(jax.random.key(1), (96, 5))
Y = (X @ jnp.array([1.0, -1.0, 0.5, 0.0, 2.0]) > 0).astype(jnp.int32)
TRAIN, VAL = (X[:64], Y[:64]), (X[64:], Y[64:])


def fit_job(mesh) -> dict[str, np.ndarray]:
    net = fnnet.serial(fnnet.Dense(16, activations.tanh), fnnet.Dropout(0.2), fnnet.Dense(2))
    result = fnnet.fit(
        net.apply, net.init(KEY, 5), losses.softmax_cross_entropy, optimizers.adam(0.02), TRAIN,
        key=jax.random.fold_in(KEY, 1), epochs=3, batch_size=16, validation=VAL, patience=2,
        verbose=False, mesh=mesh,
    )  # fmt: skip
    leaves = jax.tree_util.tree_leaves(result.params)
    out = {f"fit_param_{i}": np.asarray(leaf) for i, leaf in enumerate(leaves)}
    out.update({f"fit_{k}": np.asarray(v) for k, v in result.history.items() if k != "seconds"})
    out["fit_steps_taken"] = np.asarray(result.steps_taken)
    return out


def sweep_job(mesh) -> dict[str, np.ndarray]:
    trainer = sweep.make_trainer(
        lambda hp: fnnet.serial(fnnet.Dense(8, activations.relu), fnnet.Dense(2)),
        losses.softmax_cross_entropy,
        lambda hp: optimizers.sgd(hp["learning_rate"]),
        TRAIN, epochs=2, batch_size=16, validation=VAL,
    )  # fmt: skip
    space = sweep.grid(learning_rate=[0.05, 0.1, 0.2, 0.4])
    result = sweep.run(trainer, space, KEY, seeds=2, keep_params=True, mesh=mesh)
    out = {f"sweep_{k}": np.asarray(result.metrics[k]) for k in ("loss", "val_loss", "steps_taken")}
    for i, leaf in enumerate(jax.tree_util.tree_leaves(result.params)):
        out[f"sweep_param_{i}"] = np.asarray(leaf)
    out["sweep_best_index"] = np.asarray(result.best.index)
    out["sweep_chunk_size"] = np.asarray(result.chunk_size)
    return out


def main() -> None:
    data_mesh = parallel.device_mesh("data") if DISTRIBUTED else None
    member_mesh = parallel.device_mesh("members") if DISTRIBUTED else None
    out = {
        "process_index": np.asarray(jax.process_index()),
        "process_count": np.asarray(jax.process_count()),
        "device_count": np.asarray(jax.device_count()),
        "local_device_count": np.asarray(jax.local_device_count()),
    }
    out.update(fit_job(data_mesh))
    out.update(sweep_job(member_mesh))
    np.savez(OUT, **out)
    if DISTRIBUTED:
        jax.distributed.shutdown()


if __name__ == "__main__":
    main()
