"""Where a vmapped sweep's step loses to raw JAX: the same K-member training (shared minibatches,
one device) built up piece by piece, timed in process CPU time per member.

* ``raw``: ``sweep_fastpath.raw_run`` (jnp forward, ``jax.grad``, Adam in jnp);
* ``bare_fnnet_adam``: fnnet's layers (hand rules) + ``fnnet.optimizers.adam`` + ``apply_updates``;
* ``bare_plus_guard``: + finite loss and gradients and ``lax.cond`` on the update, as
  ``make_train_step(check_update=False)`` does;
* ``train_step``: ``make_train_step(check_update=False).step`` (guard and metrics);
* ``trainer_run``: ``sweep.make_trainer(...).run``, the epoch wrapper included.

Run: ``python benchmarks/sweep_gap.py [--members K] [--rounds N]``; prints a markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from sweep_fastpath import BATCH, EPOCHS, FEATURES, data, make_trainer, raw_run  # noqa: E402

import fnnet  # noqa: E402
from fnnet import activations, losses, optimizers  # noqa: E402
from fnnet.data import minibatches  # noqa: E402
from fnnet.optimizers import apply_updates  # noqa: E402
from fnnet.training import all_finite, make_train_step  # noqa: E402

NET = fnnet.serial(
    fnnet.Dense(128, activations.relu), fnnet.Dense(128, activations.relu), fnnet.Dense(10)
)


def _epochs(step, state, key, x, y):
    def epoch(state, e):
        b = minibatches(jax.random.fold_in(key, e), x, y, BATCH)
        return jax.lax.scan(step, state, (b.x, b.y))

    _, losses_ = jax.lax.scan(epoch, state, jnp.arange(EPOCHS))
    return losses_[-1, -1]


def bare(lr, key, x, y, *, guard: bool):
    opt = optimizers.adam(lr)
    params = NET.init(jax.random.fold_in(key, 0), (FEATURES,))

    def loss(p, xb, yb):
        return losses.softmax_cross_entropy(NET.apply(p, xb), yb)

    def step(state, batch):
        p, o = state
        value, grads = jax.value_and_grad(loss)(p, *batch)
        updates, o2 = opt.update(grads, o, p)
        p2 = apply_updates(p, updates)
        if guard:
            ok = jnp.isfinite(value) & all_finite(grads)
            p2, o2 = jax.lax.cond(ok, lambda: (p2, o2), lambda: (p, o))
        return (p2, o2), value

    return _epochs(step, (params, opt.init(params)), key, x, y)


def train_step(lr, key, x, y):
    ts = make_train_step(
        NET.apply, losses.softmax_cross_entropy, optimizers.adam(lr), check_update=False
    )

    def step(state, batch):
        state, metrics = ts.step(state, batch, key)
        return state, metrics.loss

    return _epochs(step, ts.init(NET.init(jax.random.fold_in(key, 0), (FEATURES,))), key, x, y)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    x, y = data()
    trainer, key, k = make_trainer((x, y)), jax.random.key(0), args.members
    lrs = jnp.asarray(np.geomspace(1e-4, 1e-2, k), jnp.float32)
    shared = (0, None, None, None)
    fns = {
        "raw": (raw_run, (lrs, key, x, y)),
        "bare_fnnet_adam": (lambda *a: bare(*a, guard=False), (lrs, key, x, y)),
        "bare_plus_guard": (lambda *a: bare(*a, guard=True), (lrs, key, x, y)),
        "train_step": (train_step, (lrs, key, x, y)),
        "trainer_run": (
            lambda lr, kk, d: trainer.run({"learning_rate": lr}, kk, d)[0]["loss"],
            (lrs, key, trainer.data),
        ),
    }
    programs = {}
    for name, (fn, args_) in fns.items():
        axes = shared[: len(args_)]
        programs[name] = (jax.jit(jax.vmap(fn, in_axes=axes)).lower(*args_).compile(), args_)
        jax.block_until_ready(programs[name][0](*args_))
    samples = {name: [] for name in programs}
    names = list(programs)
    for r in range(args.rounds):
        for i in range(len(names)):
            name = names[(r + i) % len(names)]
            program, args_ = programs[name]
            tic = time.process_time()
            jax.block_until_ready(program(*args_))
            samples[name].append((time.process_time() - tic) / k * 1e3)
    raw = statistics.median(samples["raw"])
    print(f"K = {k} members, shared minibatches, one device; medians of {args.rounds} rounds\n")
    print("| program | CPU ms/member | × raw |\n|---|---:|---:|")
    for name in names:
        med = statistics.median(samples[name])
        print(f"| `{name}` | {med:.1f} | {med / raw:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
