"""Cost per member of a vmapped sweep (``fnnet.sweep.run``) against sequential runs.

For K = 1, 8, 32, 128, 256 members (random-search configurations of learning rate and weight
decay), time one call of the compiled K-member sweep and K back-to-back calls of the compiled
single-member training function (the same ``trainer.run``), interleaved round by round so
machine load falls on both alike; report medians. Two models, both trained with AdamW for
``--epochs`` epochs with a validation pass per epoch:

* ``digits``: a 64-64-10 ReLU MLP, 1024 digits in 16 batches of 64 (256 for validation);
  a step is ~1.8 MFLOP, so one member alone is mostly compute;
* ``tiny``: a 2-8-2 tanh MLP, 256 two-moons points in 32 batches of 8; a step is a few
  kFLOP, so one member alone is mostly per-step overhead, which a sweep shares out.

Run: ``python benchmarks/sweep_scaling.py [--quick] [--out DIR]``; prints a markdown table and
writes ``sweep_scaling.json`` and ``sweep_scaling.md`` to ``--out`` (default
``benchmarks/results/sweeps``). Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp

import fnnet
from fnnet import activations, losses, optimizers, sweep


def _load() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def _optimizer(hp):
    return optimizers.adamw(hp["learning_rate"], weight_decay=hp["weight_decay"])


def build(config: str, epochs: int) -> sweep.Trainer:
    if config == "digits":
        digits = fnnet.data.digits()
        net = fnnet.serial(fnnet.Dense(64, activations.relu), fnnet.Dense(10))
        train, val, batch = (
            (digits.x[:1024], digits.y[:1024]),
            (digits.x[1024:1280], digits.y[1024:1280]),
            64,
        )
    else:
        moons = fnnet.data.two_moons(jax.random.key(1), 320)
        net = fnnet.serial(fnnet.Dense(8, activations.tanh), fnnet.Dense(2))
        train, val, batch = (moons.x[:256], moons.y[:256]), (moons.x[256:], moons.y[256:]), 8
    return sweep.make_trainer(
        net,
        losses.softmax_cross_entropy,
        _optimizer,
        train,
        epochs=epochs,
        batch_size=batch,
        validation=val,
    )


DESCRIPTIONS = {
    "digits": "64-64-10 ReLU MLP, 16 steps of batch 64 per epoch (1024 digits), validation on 256",
    "tiny": "2-8-2 tanh MLP, 32 steps of batch 8 per epoch (256 two-moons points), validation on 64",
}


def measure(config: str, sizes: list[int], epochs: int, rounds: int) -> dict:
    key = jax.random.key(0)
    trainer = build(config, epochs)
    load_before = _load()

    # The single-member program: the same trainer.run, compiled alone.
    hp0 = {"learning_rate": jnp.float32(1e-3), "weight_decay": jnp.float32(1e-4)}
    tic = time.perf_counter()
    alone = jax.jit(trainer.run).lower(hp0, key, trainer.data).compile()
    alone_compile = time.perf_counter() - tic

    spaces = {
        k: sweep.random_search(
            jax.random.fold_in(key, k),
            k,
            learning_rate=sweep.log_uniform(1e-4, 1e-1),
            weight_decay=sweep.log_uniform(1e-5, 1e-1),
        )
        for k in sizes
    }
    compile_seconds = {}
    for k in sizes:  # compile every K first (run() compiles once per member-axis length)
        compile_seconds[k] = sweep.run(trainer, spaces[k], key).compile_seconds

    def sequential(k: int) -> float:
        configs = [{n: jnp.asarray(v[t]) for n, v in spaces[k].values.items()} for t in range(k)]
        tic = time.perf_counter()
        outs = [alone(hp, sweep.member_key(key, 0), trainer.data) for hp in configs]
        jax.block_until_ready(outs)
        return time.perf_counter() - tic

    def swept(k: int) -> float:
        result = sweep.run(trainer, spaces[k], key)  # the compiled program is reused: run time only
        return result.seconds - result.compile_seconds

    samples = {k: {"sweep": [], "sequential": []} for k in sizes}
    for r in range(rounds):
        for k in sizes:
            order = ("sweep", "sequential") if (r + k) % 2 == 0 else ("sequential", "sweep")
            for which in order:
                samples[k][which].append(swept(k) if which == "sweep" else sequential(k))
    rows = []
    for k in sizes:
        s, q = statistics.median(samples[k]["sweep"]), statistics.median(samples[k]["sequential"])
        rows.append(
            {
                "members": k,
                "sweep_s": s,
                "sweep_ms_per_member": 1e3 * s / k,
                "sequential_s": q,
                "sequential_ms_per_member": 1e3 * q / k,
                "speedup": q / s,
                "sweep_compile_s": compile_seconds[k],
            }
        )
    return {
        "config": config,
        "description": DESCRIPTIONS[config],
        "epochs": epochs,
        "rounds": rounds,
        "rows": rows,
        "samples": {str(k): v for k, v in samples.items()},
        "single_member_compile_s": alone_compile,
        "load_average": {"before": load_before, "after": _load()},
    }


def table(m: dict) -> str:
    lines = [
        f"**{m['config']}**: {m['description']}; AdamW, {m['epochs']} epochs; medians of {m['rounds']} rounds; "
        f"single-member compile {m['single_member_compile_s']:.1f} s; load average "
        f"{m['load_average']['before']} -> {m['load_average']['after']}",
        "",
        "| K members | sweep (s) | sweep ms/member | K sequential runs (s) | sequential ms/member | speedup | sweep compile (s) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in m["rows"]:
        lines.append(
            f"| {row['members']} | {row['sweep_s']:.3f} | {row['sweep_ms_per_member']:.2f} | {row['sequential_s']:.3f} | "
            f"{row['sequential_ms_per_member']:.2f} | {row['speedup']:.1f}x | {row['sweep_compile_s']:.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="K = 1, 8, 32; 2 epochs; 2 rounds")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "sweeps"))
    parser.add_argument(
        "--configs", default="tiny,digits", help="comma-separated subset of tiny,digits"
    )
    parser.add_argument(
        "--sizes", default=None, help="comma-separated K values (default 1,8,32,128,256)"
    )
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args(argv)
    configs = [c for c in args.configs.split(",") if c]
    unknown = sorted(set(configs) - set(DESCRIPTIONS))
    if unknown:
        parser.error(f"--configs: unknown {unknown}; choose from {sorted(DESCRIPTIONS)}")
    sizes = (
        [int(k) for k in args.sizes.split(",")]
        if args.sizes
        else ([1, 8, 32] if args.quick else [1, 8, 32, 128, 256])
    )
    epochs = args.epochs or (2 if args.quick else 10)
    rounds = args.rounds or (2 if args.quick else 3)

    results = [measure(c, sizes, epochs, rounds) for c in configs]
    text = "\n\n".join(table(m) for m in results)
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweep_scaling.md").write_text(text + "\n")
    (out / "sweep_scaling.json").write_text(
        json.dumps(
            {
                "results": results,
                "machine": {
                    "cpus": os.cpu_count(),
                    "platform": platform.platform(),
                    "python": platform.python_version(),
                    "jax": jax.__version__,
                    "devices": [str(d) for d in jax.devices()],
                    "xla_flags": os.environ.get("XLA_FLAGS", ""),
                },
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
