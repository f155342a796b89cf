"""Per-step fixed cost of small models: dispatch in the Python-loop mode, kernels in scan mode.

For ``tiny`` (2-2-2 sigmoid, batch 1) and ``small`` (64-128-128-10 ReLU, batch 128), each JAX
variant of ``jax_variants.py`` (``raw_jax`` is the reference) is compiled two ways and timed in
interleaved rounds (medians):

* ``loop``: a Python loop of ``jax.jit(step, donate_argnums=0)``, blocked on once per round:
  one dispatch per step, so for ``tiny`` this is the per-step fixed cost of calling a compiled
  step from Python;
* ``scan``: one compiled ``lax.scan`` of ``scan_steps`` steps: no dispatch, the per-step cost
  is the loop body's kernels.

*kernels/step* counts the non-trivial HLO instructions the runtime executes one after another
in the compiled step (outside fusions; for ``scan`` the loop body once, its loop bookkeeping
included), from the optimized HLO text (``harness.hlo_stats``); *fusions* and *dots* likewise.

Run: ``python benchmarks/small_models.py [--reps N] [--out DIR]``; writes ``small_models.json``
and ``small_models.md`` to ``--out`` (default ``benchmarks/results/small``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import harness  # noqa: E402
import jax  # noqa: E402
import numpy as np  # noqa: E402
from configs import CONFIGS  # noqa: E402
from jax_variants import all_variants  # noqa: E402

VARIANTS = ("fnnet_step", "fnnet_step_fit", "fnnet_serial", "fnnet_mlp")


def _programs(variant, config, steps: int):
    rng = np.random.default_rng(0)
    xs = jax.numpy.asarray(rng.standard_normal((steps, config.batch, config.sizes[0]), np.float32))
    ys = jax.numpy.asarray(
        rng.integers(0, config.sizes[-1], (steps, config.batch)).astype(np.int32)
    )
    loop = jax.jit(variant.step, donate_argnums=0)
    loop_c = loop.lower(variant.init_state(), xs[0], ys[0]).compile()

    def scan(state, xs, ys):
        return jax.lax.scan(lambda s, b: variant.step(s, *b), state, (xs, ys))

    scan_c = jax.jit(scan, donate_argnums=0).lower(variant.init_state(), xs, ys).compile()
    box = {"state": variant.init_state()}
    batches = [(xs[i], ys[i]) for i in range(steps)]  # sliced once: the loop times dispatch only

    def run_loop() -> float:
        state = box["state"]
        tic = time.perf_counter()
        for x, y in batches:
            state, out = loop_c(state, x, y)
        jax.block_until_ready(state)
        box["state"] = state
        return (time.perf_counter() - tic) / steps

    def run_scan() -> float:
        tic = time.perf_counter()
        state, out = scan_c(box.pop("state"), xs, ys)
        jax.block_until_ready(state)
        box["state"] = state
        return (time.perf_counter() - tic) / steps

    return {"loop": (run_loop, loop_c), "scan": (run_scan, scan_c)}


def measure(name: str, reps: int) -> dict:
    config = CONFIGS[name]
    steps = {"tiny": 1000, "small": 50}[name]
    variants = all_variants(config, VARIANTS)
    runners = {}
    for v in variants:
        for mode, (fn, compiled) in _programs(v, config, steps).items():
            stats = harness.hlo_stats(compiled)
            runners[(v.name, mode)] = {"fn": fn, "samples": [],
                                       **{k: stats[k] for k in ("hlo_kernels", "hlo_fusions", "hlo_dots")}}  # fmt: skip
    keys = list(runners)
    load = harness.load_average()
    for key in keys:
        runners[key]["fn"]()  # warm-up
    for rep in range(reps):
        for i in range(len(keys)):
            r = runners[keys[(rep + i) % len(keys)]]
            r["samples"].append(r["fn"]())
    rows = []
    for (variant, mode), r in runners.items():
        ref = statistics.median(runners[("raw_jax", mode)]["samples"])
        med = statistics.median(r["samples"])
        ratios = [a / b for a, b in zip(r["samples"], runners[("raw_jax", mode)]["samples"])]
        rows.append({"variant": variant, "mode": mode, "median_s": med, "min_s": min(r["samples"]),
                     "x_raw": med / ref, "x_raw_paired": statistics.median(ratios),
                     "kernels": r["hlo_kernels"], "fusions": r["hlo_fusions"], "dots": r["hlo_dots"]})  # fmt: skip
    return {"config": name, "description": config.describe(), "steps_per_round": steps,
            "reps": reps, "rows": rows, "load_average": {"before": load, "after": harness.load_average()}}  # fmt: skip


def table(m: dict) -> str:
    lines = [
        f"**{m['config']}** ({m['description']}): medians of {m['reps']} interleaved rounds of "
        f"{m['steps_per_round']} steps; load average {m['load_average']['before']} → "
        f"{m['load_average']['after']}.",
        "",
        "| variant | mode | median/step | best/step | × raw JAX | × raw JAX (paired rounds) | kernels/step | fusions | dots |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in sorted(m["rows"], key=lambda r: (r["mode"], r["median_s"])):
        lines.append(
            f"| `{r['variant']}` | {r['mode']} | {r['median_s'] * 1e6:.2f} µs | {r['min_s'] * 1e6:.2f} µs | "
            f"{r['x_raw']:.2f} | {r['x_raw_paired']:.2f} | {r['kernels']} | {r['fusions']} | {r['dots']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="tiny,small")
    parser.add_argument("--reps", type=int, default=11)
    parser.add_argument("--out", default=str(HERE / "results" / "small"))
    args = parser.parse_args(argv)
    results = [measure(c, args.reps) for c in args.configs.split(",") if c]
    text = "\n\n".join(table(m) for m in results)
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "small_models.md").write_text(text + "\n")
    (out / "small_models.json").write_text(
        json.dumps({"results": results, "cpus": os.cpu_count()}, indent=2)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
