"""Run on 8 emulated CPU devices (a fresh process: the count is fixed when JAX starts) and print
the measurements ``tests/test_parallel.py`` asserts on, as one JSON object.

Usage: ``python tests/multidevice_checks.py`` (sets ``jax_num_cpu_devices`` itself).
"""

import jax

jax.config.update("jax_num_cpu_devices", 8)  # before anything touches a device
jax.config.update("jax_numpy_dtype_promotion", "strict")

import json  # noqa: E402

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import fnnet  # noqa: E402
from fnnet import activations, losses, optimizers, parallel, sweep  # noqa: E402
from fnnet.data import minibatches  # noqa: E402
from fnnet.gradcheck import assert_close  # noqa: E402
from fnnet.training import make_train_step  # noqa: E402

KEY = jax.random.key(3)
X = jax.random.normal(jax.random.key(1), (48, 3))
Y = (X @ jnp.array([1.0, -1.0, 0.5]) > 0).astype(jnp.int32)


def _close(a, b):
    """``""`` when ``a`` equals ``b`` to fnnet's one tolerance (assert_close), else its message."""
    try:
        assert_close(a, b)
    except AssertionError as err:
        return str(err)
    return ""


def _layout(array):
    spec = getattr(array.sharding, "spec", None)
    return {
        "spec": None if spec is None else [list(e) if isinstance(e, tuple) else e for e in spec],
        "replicated": bool(array.sharding.is_fully_replicated),
        "shards": len(array.addressable_shards),
        "devices": len({s.device for s in array.addressable_shards}),
        "shard_shapes": sorted({tuple(s.data.shape) for s in array.addressable_shards}),
    }


def member_sharded_sweep():
    trainer = sweep.make_trainer(
        lambda hp: fnnet.serial(fnnet.Dropout(hp["drop_rate"]), fnnet.Dense(2)),
        losses.softmax_cross_entropy,
        lambda hp: optimizers.sgd(hp["learning_rate"]),
        (X[:32], Y[:32]),
        epochs=2,
        batch_size=8,
        validation=(X[32:], Y[32:]),
    )
    space = sweep.grid(learning_rate=[0.1, 0.5], drop_rate=[0.0, 0.3])
    mesh = parallel.device_mesh("members")
    single = sweep.run(trainer, space, KEY, seeds=4, keep_params=True)
    sharded = sweep.run(trainer, space, KEY, seeds=4, keep_params=True, mesh=mesh)
    # the compiled program's outputs, before they are gathered to the host
    program = sweep._run._members_program(trainer.run, True, mesh, False)  # noqa: SLF001
    hparams = parallel.shard_leading(
        {k: jnp.asarray(v.reshape(-1).repeat(4)) for k, v in space.values.items()}, mesh
    )
    seeds = parallel.shard_leading(jnp.tile(jnp.arange(4, dtype=jnp.int32), 4), mesh)
    metrics, params = program(hparams, seeds, *parallel.replicate((KEY, trainer.data), mesh))
    return {
        "devices": jax.device_count(),
        "close": _close((sharded.metrics, sharded.params), (single.metrics, single.params)),
        "same_best": sharded.best.index == single.best.index,
        "chunk_size": sharded.chunk_size,
        "val_loss_layout": _layout(metrics["val_loss"]),
        "weights_layout": _layout(params[1].w),
        "val_loss_matches_run": _close(
            np.asarray(metrics["val_loss"]).reshape(4, 4), single.metrics["val_loss"].reshape(4, 4)
        ),
    }


def data_parallel():
    net = fnnet.serial(fnnet.Dense(8, activations.tanh), fnnet.Dropout(0.25), fnnet.Dense(2))
    opt = optimizers.adam(0.05)
    train_step = make_train_step(net.apply, losses.softmax_cross_entropy, opt)
    step, start = train_step.step, train_step.init(net.init(KEY, 3))
    mesh = parallel.device_mesh("data")
    shuffle_key, step_key = jax.random.split(KEY)

    def epoch(state, x, y, *, sharded):  # fit's epoch: a scan of the step over stacked batches
        batches = minibatches(shuffle_key, x, y, 16)
        if sharded:
            batches = parallel.constrain_batches(batches, mesh)
        return jax.lax.scan(
            lambda s, bt: step(s, bt, jax.random.fold_in(step_key, s.step)),
            state,
            (batches.x, batches.y),
        )

    reference, reference_metrics = jax.jit(lambda *args: epoch(*args, sharded=False))(start, X, Y)
    placed = parallel.replicate((start, X, Y), mesh)
    compiled = jax.jit(lambda *args: epoch(*args, sharded=True)).lower(*placed).compile()
    split, _ = compiled(*placed)
    # the same three steps through data_parallel_step, one call per batch
    parallel_step = parallel.data_parallel_step(step, mesh, donate=False)
    batches, state = minibatches(shuffle_key, X, Y, 16), start
    for i in range(batches.x.shape[0]):
        state, metrics = parallel_step(
            state, (batches.x[i], batches.y[i]), jax.random.fold_in(step_key, i)
        )
    try:
        parallel.shard_leading(X[:12], mesh, name="batch")
        uneven = ""
    except ValueError as err:
        uneven = str(err)
    return {
        "uneven_error": uneven,
        "step_close": _close(state.params, reference.params),
        "loss_close": _close(metrics.loss, reference_metrics.loss[-1]),
        "params_layout": _layout(state.params[0].w),
        "batch_layout": _layout(parallel.shard_leading(X[:16], mesh)),
        "epoch_all_reduces": compiled.as_text().count("all-reduce("),
        "epoch_close": _close(split.params, reference.params),
        "epoch_params_layout": _layout(split.params[0].w),
    }


def fit_with_mesh():
    """``fnnet.fit(..., mesh=)`` against the same run on one device."""
    net = fnnet.serial(fnnet.Dense(4, activations.tanh), fnnet.Dropout(0.2), fnnet.Dense(2))
    params = net.init(KEY, 3)
    args = (
        net.apply,
        params,
        losses.softmax_cross_entropy,
        optimizers.adam(1e-2),
        (X[:32], Y[:32]),
    )
    kwargs = dict(key=KEY, epochs=3, batch_size=16, validation=(X[32:], Y[32:]), verbose=False)
    single = fnnet.fit(*args, **kwargs)
    sharded = fnnet.fit(*args, **kwargs, mesh=parallel.device_mesh("data"))
    return {
        "close": _close(sharded.params, single.params),
        "val_close": _close(sharded.history["val_loss"], single.history["val_loss"]),
        "params_layout": _layout(jax.tree_util.tree_leaves(sharded.state.params)[0]),
    }


def pytree_data():
    """Data as a pytree, ``((x, lengths), y)``, through ``fit(mesh=)``, ``data_parallel_step``
    and a member-sharded sweep: every leaf split by rows (or replicated) like a plain array."""
    seq = jax.random.normal(jax.random.key(5), (48, 6, 3))
    lengths = jax.random.randint(jax.random.key(6), (48,), 1, 7)
    dense = fnnet.Dense(2)

    def apply(params, inputs, *, key=None, training=False):
        x, n = inputs
        valid = (jnp.arange(x.shape[1]) < n[:, None]).astype(x.dtype)[..., None]
        return dense.apply(params, jnp.sum(x * valid, 1) / jnp.sum(valid, 1), key=key)

    model = fnnet.layers.Layer(lambda key, shape: dense.init(key, shape[-1]), apply)
    data = ((seq[:32], lengths[:32]), Y[:32])
    val = ((seq[32:], lengths[32:]), Y[32:])
    mesh = parallel.device_mesh("data")
    args = (apply, model.init(KEY, (16, 6, 3)), losses.softmax_cross_entropy, optimizers.adam(1e-2))
    kwargs = dict(key=KEY, epochs=2, batch_size=16, validation=val, verbose=False)
    single, sharded = fnnet.fit(*args, data, **kwargs), fnnet.fit(*args, data, **kwargs, mesh=mesh)
    step = make_train_step(apply, losses.softmax_cross_entropy, optimizers.adam(1e-2)).step
    state = make_train_step(apply, losses.softmax_cross_entropy, optimizers.adam(1e-2)).init(
        args[1]
    )
    batch = ((seq[:16], lengths[:16]), Y[:16])
    one, _ = jax.jit(step)(state, batch, KEY)
    split, _ = parallel.data_parallel_step(step, mesh, donate=False)(state, batch, KEY)
    trainer = sweep.make_trainer(
        model, losses.softmax_cross_entropy, lambda hp: optimizers.sgd(hp["learning_rate"]),
        data, epochs=2, batch_size=8, validation=val,
    )  # fmt: skip
    space = sweep.grid(learning_rate=[0.1, 0.5])
    members = parallel.device_mesh("members")
    return {
        "fit_close": _close(sharded.params, single.params),
        "fit_val_close": _close(sharded.history["val_loss"], single.history["val_loss"]),
        "step_close": _close(split.params, one.params),
        "lengths_layout": _layout(parallel.shard_leading(batch, mesh, name="batch")[0][1]),
        "sweep_close": _close(
            sweep.run(trainer, space, KEY, seeds=4, mesh=members).params,
            sweep.run(trainer, space, KEY, seeds=4).params,
        ),
    }


if __name__ == "__main__":
    print(
        json.dumps(
            {
                "sweep": member_sharded_sweep(),
                "data": data_parallel(),
                "fit": fit_with_mesh(),
                "pytree": pytree_data(),
            }
        )
    )
