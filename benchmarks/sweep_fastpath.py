"""Sweep cost per member on a CPU: fnnet's shared-minibatch fast path against its fallback,
raw-JAX ``vmap`` and sequential runs, on the small MLP (64-128-128-10 ReLU, batch 128).

Each member trains for 200 Adam steps (10 epochs of 20 minibatches of 128 rows, 2,560 random
rows, no validation), the learning rate drawn per member. Runners, all compiled before timing:

* ``fnnet_shared``: ``fnnet.sweep.run(trainer, random_search(K trials), key)``: one seed, so every
  member has the same key, initialisation and data order; ``run`` then passes the key to the
  vmapped program unbatched, the minibatches are shared, and the first layer's forward and its
  ``∂W = xᵀδ`` are each one wide GEMM for all members (``x @ [W¹ … Wᴷ]``);
* ``fnnet_own_keys``: the same K members but K/2 configurations × 2 seeds: every member has its
  own data order, so every GEMM is per member (the fallback);
* ``raw_vmap_shared`` / ``raw_vmap_own``: a raw-JAX training run (jnp forward, ``jax.grad``, Adam
  in jnp, the same shuffling) ``vmap``-ped over the learning rate, with one shared data order
  and with one per member;
* ``sequential``: ``jax.jit(trainer.run)`` called member after member (8 members, per member);
* ``*_mesh`` (with ``--devices N`` > 1, default the CPU count): the same sweep with the member
  axis split over N CPU devices (``jax_num_cpu_devices``, ``mesh=device_mesh("members")``):
  one program per core, run side by side; ``raw_vmap_shared_mesh`` is raw JAX given the same
  sharding. The single-device runners run on device 0 as before.

Rounds are interleaved (A, B, C, ... rotating the first), medians reported; ratios are taken
within the run. Also reported: the sweep's compile time per K (``SweepResult.compile_seconds``)
and the largest difference between a fast-path member and the same member run alone.

Run: ``python benchmarks/sweep_fastpath.py [--quick] [--out DIR]``; writes
``sweep_fastpath.json`` / ``.md`` to ``--out`` (default ``benchmarks/results/sweeps``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import fnnet
from fnnet import activations, losses, optimizers, parallel, sweep

ROWS, FEATURES, CLASSES, BATCH, EPOCHS = 2560, 64, 10, 128, 10
SIZES = (64, 128, 128, 10)


def _load() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def data() -> tuple[jax.Array, jax.Array]:
    x = jax.random.normal(jax.random.key(1), (ROWS, FEATURES), jnp.float32)
    w = jax.random.normal(jax.random.key(2), (FEATURES, CLASSES), jnp.float32)
    return x, jnp.argmax(x @ w, axis=-1).astype(jnp.int32)


def make_trainer(train) -> sweep.Trainer:
    net = fnnet.serial(
        fnnet.Dense(SIZES[1], activations.relu),
        fnnet.Dense(SIZES[2], activations.relu),
        fnnet.Dense(SIZES[3]),
    )
    return sweep.make_trainer(
        net, losses.softmax_cross_entropy, lambda hp: optimizers.adam(hp["learning_rate"]),
        train, epochs=EPOCHS, batch_size=BATCH,
    )  # fmt: skip


# ---------------------------------------------------------------- raw JAX, vmapped by hand


def raw_run(lr: jax.Array, key: jax.Array, x: jax.Array, y: jax.Array) -> jax.Array:
    """A whole raw-JAX training run (Glorot-uniform init, Adam); returns the final loss."""
    keys = jax.random.split(jax.random.fold_in(key, 0), len(SIZES) - 1)
    params = []
    for k, fan_in, fan_out in zip(keys, SIZES[:-1], SIZES[1:]):
        limit = jnp.sqrt(6.0 / (fan_in + fan_out))
        params.append((jax.random.uniform(k, (fan_in, fan_out), jnp.float32, -limit, limit),
                       jnp.zeros((fan_out,), jnp.float32)))  # fmt: skip

    def loss_fn(p, xb, yb):
        h = xb
        for w, b in p[:-1]:
            h = jnp.maximum(h @ w + b, 0.0)
        logits = h @ p[-1][0] + p[-1][1]
        one_hot = jax.nn.one_hot(yb, CLASSES, dtype=logits.dtype)
        return -jnp.mean(jnp.sum(one_hot * jax.nn.log_softmax(logits), axis=-1))

    def step(state, batch):
        p, mu, nu, t = state
        loss, g = jax.value_and_grad(loss_fn)(p, *batch)
        t = t + 1.0
        mu = jax.tree_util.tree_map(lambda m, d: 0.9 * m + 0.1 * d, mu, g)
        nu = jax.tree_util.tree_map(lambda v, d: 0.999 * v + 0.001 * d * d, nu, g)
        c1, c2 = 1.0 - 0.9**t, 1.0 - 0.999**t
        p = jax.tree_util.tree_map(
            lambda w, m, v: w - lr * (m / c1) / (jnp.sqrt(v / c2) + 1e-8), p, mu, nu
        )
        return (p, mu, nu, t), loss

    def epoch(state, e):
        perm = jax.random.permutation(jax.random.fold_in(jax.random.fold_in(key, 1), e), ROWS)
        n = (ROWS // BATCH) * BATCH
        xb = x[perm[:n]].reshape(-1, BATCH, FEATURES)
        yb = y[perm[:n]].reshape(-1, BATCH)
        return jax.lax.scan(step, state, (xb, yb))

    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    state = (params, zeros, zeros, jnp.zeros((), jnp.float32))
    _, per_step = jax.lax.scan(epoch, state, jnp.arange(EPOCHS))
    return per_step[-1, -1]


# ---------------------------------------------------------------- timing


def _timed(fn) -> tuple[float, float]:
    """(wall seconds, process CPU seconds: all of XLA's threads in this process)."""
    tic, cpu = time.perf_counter(), time.process_time()
    jax.block_until_ready(fn())
    return time.perf_counter() - tic, time.process_time() - cpu


def measure(sizes: list[int], rounds: int, sequential_members: int) -> dict:
    key = jax.random.key(0)
    train = data()
    trainer = make_trainer(train)
    load_before = _load()

    def space(k, trials):
        return sweep.random_search(jax.random.fold_in(key, k), trials,
                                   learning_rate=sweep.log_uniform(1e-4, 1e-2))  # fmt: skip

    runners, compile_s, members = {}, {}, {}
    devices = jax.device_count()
    mesh = parallel.device_mesh("members") if devices > 1 else None
    for k in sizes:  # compile every program first (run() caches it per trainer and length)
        shared = space(k, k)
        compile_s[("fnnet_shared", k)] = sweep.run(trainer, shared, key).compile_seconds
        runners[("fnnet_shared", k)] = lambda s=shared: sweep.run(trainer, s, key).metrics
        if k >= 2:
            own = space(k, k // 2)
            compile_s[("fnnet_own_keys", k)] = sweep.run(trainer, own, key, seeds=2).compile_seconds
            runners[("fnnet_own_keys", k)] = lambda s=own: (
                sweep.run(trainer, s, key, seeds=2).metrics
            )
        members[k] = np.asarray(shared.values["learning_rate"], np.float32)
        if mesh is not None and k % devices == 0:
            compile_s[("fnnet_shared_mesh", k)] = sweep.run(
                trainer, shared, key, mesh=mesh
            ).compile_seconds
            runners[("fnnet_shared_mesh", k)] = lambda s=shared: (
                sweep.run(trainer, s, key, mesh=mesh).metrics
            )

    for k in [s for s in sizes if s >= 8][:2]:  # raw-JAX vmaps at the two smallest K >= 8
        lrs = jnp.asarray(members[k])
        keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(k))
        for name, in_axes, member_keys in (("raw_vmap_shared", (0, None, None, None), key),
                                           ("raw_vmap_own", (0, 0, None, None), keys)):  # fmt: skip
            tic = time.perf_counter()
            fn = (
                jax.jit(jax.vmap(raw_run, in_axes=in_axes))
                .lower(lrs, member_keys, *train)
                .compile()
            )
            compile_s[(name, k)] = time.perf_counter() - tic
            runners[(name, k)] = lambda f=fn, a=(lrs, member_keys, *train): f(*a)
        if mesh is not None and k % devices == 0:
            split, whole = parallel.leading_sharding(mesh), parallel.replicated(mesh)
            program = jax.jit(jax.vmap(raw_run, in_axes=(0, None, None, None)),
                              in_shardings=(split, whole, whole, whole), out_shardings=split)  # fmt: skip
            args = (jax.device_put(lrs, split), *parallel.replicate((key, *train), mesh))
            tic = time.perf_counter()
            fn = program.lower(*args).compile()
            compile_s[("raw_vmap_shared_mesh", k)] = time.perf_counter() - tic
            runners[("raw_vmap_shared_mesh", k)] = lambda f=fn, a=args: f(*a)

    hp0 = {"learning_rate": jnp.float32(1e-3)}
    tic = time.perf_counter()
    alone = jax.jit(trainer.run).lower(hp0, key, trainer.data).compile()
    compile_s[("sequential", 1)] = time.perf_counter() - tic
    lrs_seq = [jnp.float32(v) for v in members[max(sizes)][:sequential_members]]
    runners[("sequential", sequential_members)] = lambda: [
        alone({"learning_rate": lr}, sweep.member_key(key, 0), trainer.data)[0]["loss"]
        for lr in lrs_seq
    ]

    # Equality: fast-path members against the same members run alone.
    k_check = max(s for s in sizes if s <= 32)
    swept = sweep.run(trainer, space(k_check, k_check), key, keep_params=True)
    worst = 0.0
    for i in range(min(4, k_check)):
        lr = jnp.float32(members[k_check][i])
        _, p_alone = alone({"learning_rate": lr}, sweep.member_key(key, 0), trainer.data)
        for a, b in zip(
            jax.tree_util.tree_leaves(p_alone), jax.tree_util.tree_leaves(swept.params)
        ):
            a, b = np.asarray(a), np.asarray(b)[i]
            worst = max(worst, float(np.max(np.abs(a - b)) / max(np.max(np.abs(a)), 1e-12)))

    names = list(runners)
    for r in names:  # warm-up
        _timed(runners[r])
    samples = {r: [] for r in names}
    for rep in range(rounds):
        for i in range(len(names)):
            r = names[(rep + i) % len(names)]
            samples[r].append(_timed(runners[r]))
    rows = []
    for name, k in names:
        wall = [w for w, _ in samples[(name, k)]]
        cpu = [c for _, c in samples[(name, k)]]
        rows.append({"runner": name, "members": k, "median_s": statistics.median(wall),
                     "ms_per_member": 1e3 * statistics.median(wall) / k,
                     "min_ms_per_member": 1e3 * min(wall) / k,
                     "cpu_ms_per_member": 1e3 * statistics.median(cpu) / k,
                     "compile_s": compile_s.get((name, k), compile_s.get((name, 1)))})  # fmt: skip
    return {"rows": rows, "samples": {f"{n}@{k}": v for (n, k), v in samples.items()},
            "max_rel_diff_vs_alone": worst, "checked_members": min(4, k_check), "rounds": rounds,
            "load_average": {"before": load_before, "after": _load()}}  # fmt: skip


def _per_member(result: dict, name: str, k: int, field: str = "ms_per_member") -> float | None:
    for row in result["rows"]:
        if row["runner"] == name and (row["members"] == k or name == "sequential"):
            return row[field]
    return None


def table(result: dict) -> str:
    rows = sorted(result["rows"], key=lambda r: (r["runner"], r["members"]))
    seq = next(r["ms_per_member"] for r in rows if r["runner"] == "sequential")
    lines = [
        f"Small MLP 64-128-128-10 ReLU, batch 128, 200 Adam steps per member; medians of "
        f"{result['rounds']} interleaved rounds; load average {result['load_average']['before']} → "
        f"{result['load_average']['after']}; fast-path members vs the same members run alone: "
        f"max relative difference {result['max_rel_diff_vs_alone']:.1e}.",
        "",
        "| runner | K | wall ms/member | best round | × sequential (wall) | CPU ms/member "
        "| × sequential (CPU) | compile (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    seq_cpu = next(r["cpu_ms_per_member"] for r in rows if r["runner"] == "sequential")
    for r in rows:
        lines.append(f"| `{r['runner']}` | {r['members']} | {r['ms_per_member']:.1f} | "
                     f"{r['min_ms_per_member']:.1f} | {seq / r['ms_per_member']:.2f} | "
                     f"{r['cpu_ms_per_member']:.1f} | {seq_cpu / r['cpu_ms_per_member']:.2f} | "
                     f"{r['compile_s']:.1f} |")  # fmt: skip
    lines.append("")
    ks = sorted({r["members"] for r in rows if r["runner"] == "raw_vmap_shared"})
    for k in ks:
        fast = _per_member(result, "fnnet_shared", k)
        fast_cpu = _per_member(result, "fnnet_shared", k, "cpu_ms_per_member")
        for peer in ("raw_vmap_own", "raw_vmap_shared", "fnnet_own_keys", "sequential"):
            other = _per_member(result, peer, k)
            other_cpu = _per_member(result, peer, k, "cpu_ms_per_member")
            if fast and other:
                lines.append(f"- K = {k}: `{peer}` / `fnnet_shared` = {other / fast:.2f} (wall), "
                             f"{other_cpu / fast_cpu:.2f} (CPU)")  # fmt: skip
        mesh_fast = _per_member(result, "fnnet_shared_mesh", k)
        for peer in ("raw_vmap_shared_mesh", "raw_vmap_own", "sequential"):
            other = _per_member(result, peer, k)
            if mesh_fast and other:
                lines.append(
                    f"- K = {k}: `{peer}` / `fnnet_shared_mesh` = {other / mesh_fast:.2f} (wall)"
                )
    compiles = {r["members"]: r["compile_s"] for r in rows if r["runner"] == "fnnet_shared"}
    if len(compiles) > 1:
        lo, hi = min(compiles), max(compiles)
        lines.append(f"- sweep compile time K = {lo} → {hi}: {compiles[lo]:.1f} s → "
                     f"{compiles[hi]:.1f} s ({compiles[hi] / compiles[lo]:.2f}×).")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="K = 8, 32; 2 rounds")
    parser.add_argument("--sizes", default=None, help="comma-separated K (default 1,8,32,128)")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "sweeps"))
    parser.add_argument("--devices", type=int, default=os.cpu_count() or 1,
                        help="CPU devices for the *_mesh runners (default: the CPU count; 1: none)")  # fmt: skip
    args = parser.parse_args(argv)
    jax.config.update("jax_num_cpu_devices", max(1, args.devices))  # before any device is used
    default = "8,32" if args.quick else "1,8,32,128"
    sizes = sorted(int(k) for k in (args.sizes or default).split(","))
    result = measure(sizes, args.rounds or (2 if args.quick else 3), sequential_members=8)
    text = table(result)
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweep_fastpath.md").write_text(text + "\n")
    (out / "sweep_fastpath.json").write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
