"""The non-finite guard's cost: ``make_train_step`` against the same step without the guard.

    python benchmarks/guard_cost.py                       # small, medium, wide; 15 rounds
    python benchmarks/guard_cost.py --configs wide --reps 21

Each variant is compiled as one ``lax.scan`` of ``scan_steps`` steps (the way ``fit`` runs an
epoch) and the variants are timed in interleaved rounds. Both wall time and process CPU time
per step are reported: on a shared machine the CPU time (all of XLA's threads in this process)
is the steadier measure of the work a step does. Ratios are medians of per-round ratios
against ``fnnet_step_unguarded`` (``make_train_step``'s data flow and metrics, update always
applied); ``per_epoch_extra`` is what ``fit`` adds once per epoch (the state's finiteness
check and the copy its epoch keeps for a replay), as a ratio to one unguarded step. ``fnnet_step`` is the full per-step guard; ``fnnet_step_fit`` is the step ``fit`` runs
(``check_update=False``: loss and gradients per step, the state once per epoch, replay on the
rare failure); ``proposal_cond_guard`` is the previous guard written out (all(isfinite)).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from configs import CONFIGS  # noqa: E402
from jax_variants import all_variants  # noqa: E402

from fnnet.training import all_finite  # noqa: E402

VARIANTS = ("fnnet_step_unguarded", "fnnet_step", "fnnet_step_fit", "proposal_cond_guard")


def measure(config, reps: int) -> dict[str, dict[str, list[float]]]:
    steps = config.scan_steps
    rng = np.random.default_rng(0)
    xs = jax.numpy.asarray(
        rng.standard_normal((steps, config.batch, config.sizes[0]), dtype=np.float32)
    )
    ys = jax.numpy.asarray(
        rng.integers(0, config.sizes[-1], (steps, config.batch)).astype(np.int32)
    )
    variants = {v.name: v for v in all_variants(config, VARIANTS) if v.name in VARIANTS}
    programs, states = {}, {}
    for name, variant in variants.items():

        def many(state, xs, ys, step=variant.step):
            return jax.lax.scan(lambda s, batch: step(s, *batch), state, (xs, ys))

        programs[name] = jax.jit(many, donate_argnums=0)
        states[name], _ = programs[name](variant.init_state(), xs, ys)  # compile and warm up
        jax.block_until_ready(states[name])
    times = {name: {"wall": [], "cpu": []} for name in variants}
    times["per_epoch_extra"] = {"wall": [], "cpu": []}  # fit's once-per-epoch check and copy
    state = states["fnnet_step_fit"]
    check = jax.jit(
        lambda s: (all_finite((s.params, s.opt_state)), jax.tree_util.tree_map(jnp.copy, s))
    )
    jax.block_until_ready(check(state))
    for _ in range(reps):
        for name, program in programs.items():
            c0, t0 = time.process_time(), time.perf_counter()
            states[name], out = program(states[name], xs, ys)
            jax.block_until_ready((states[name], out))
            times[name]["cpu"].append((time.process_time() - c0) / steps)
            times[name]["wall"].append((time.perf_counter() - t0) / steps)
        c0, t0 = time.process_time(), time.perf_counter()
        jax.block_until_ready(check(states["fnnet_step_fit"]))
        times["per_epoch_extra"]["cpu"].append(time.process_time() - c0)
        times["per_epoch_extra"]["wall"].append(time.perf_counter() - t0)
    return times


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--configs", default="small,medium,wide")
    p.add_argument("--reps", type=int, default=15)
    args = p.parse_args(argv)
    import os

    print(f"load average {os.getloadavg()}; jax {jax.__version__}; {os.cpu_count()} CPUs")
    print(
        "| config | variant | wall/step (median) | CPU/step (median) | × unguarded, wall | × unguarded, CPU |"
    )
    print("|---|---|---|---|---|---|")
    for name in args.configs.split(","):
        config = CONFIGS[name]
        times = measure(config, args.reps)
        base = times["fnnet_step_unguarded"]
        for variant, t in times.items():
            ratio = {
                k: float(np.median(np.array(t[k]) / np.array(base[k]))) for k in ("wall", "cpu")
            }
            print(
                f"| {config.name} {config.describe()} | `{variant}` | {np.median(t['wall']) * 1e3:.3f} ms "
                f"| {np.median(t['cpu']) * 1e3:.3f} ms | {ratio['wall']:.3f} | {ratio['cpu']:.3f} |",
                flush=True,
            )
    print(f"load average at the end {os.getloadavg()}")


if __name__ == "__main__":
    main()
