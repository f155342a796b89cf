"""Compiled train-step benchmarks: fnnet against autodiff, raw JAX, PyTorch, scikit-learn and the
GEMM limit.

    python benchmarks/run.py              # full run (about 10-15 minutes on 2 cores)
    python benchmarks/run.py --quick      # all configurations, fewer rounds (about 2 minutes)
    python benchmarks/run.py --smoke      # tiny only, 2 rounds, no peers (the test suite's check)

Writes ``results.json`` and ``results.md`` to ``--out`` (default ``benchmarks/results/``).
See benchmarks/README.md for what is measured and how to read it.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import harness  # noqa: E402
import numpy as np  # noqa: E402
import report  # noqa: E402
from configs import CONFIGS, Config  # noqa: E402
from jax_variants import AUTODIFF_TWIN, FULL_VARIANTS, QUICK_VARIANTS, all_variants  # noqa: E402

SCHEMA_VERSION = 1
REFERENCE = "raw_jax"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--quick", action="store_true", help="fewer rounds and shorter rounds (about 2 minutes)"
    )
    p.add_argument(
        "--smoke",
        action="store_true",
        help="tiny configuration, raw_jax and fnnet_step only, 2 rounds, no peers, small GEMM (seconds)",
    )
    p.add_argument("--configs", default=None, help=f"comma-separated subset of {','.join(CONFIGS)}")
    p.add_argument(
        "--variants",
        default=None,
        help=f"comma-separated JAX variants, raw_jax always included (default: {','.join(FULL_VARIANTS)}; "
        f"quick: {','.join(QUICK_VARIANTS)})",
    )
    p.add_argument(
        "--modes", default="loop,scan", help="JAX compilation modes: loop, scan, or both (default)"
    )
    p.add_argument(
        "--reps", type=int, default=None, help="timed rounds per runner (default 15; quick 5)"
    )
    p.add_argument(
        "--target-seconds",
        type=float,
        default=None,
        help="wall time of one round per runner (default 0.25; quick 0.06)",
    )
    p.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    p.add_argument("--no-sklearn", action="store_true", help="skip scikit-learn even if installed")
    p.add_argument("--torch-threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    p.add_argument(
        "--gemm-size",
        type=int,
        default=None,
        help="square matmul size for the GEMM limit (default 2048)",
    )
    p.add_argument(
        "--gemm-repeats",
        type=int,
        default=None,
        help="timed matmuls, best taken (default 7; quick 4)",
    )
    p.add_argument(
        "--tolerance",
        type=float,
        default=0.05,
        help="noise allowance when checking goals (default 0.05 = 5%%)",
    )
    p.add_argument(
        "--sweeps", action="store_true", help="also run benchmarks/sweep_scaling.py if present"
    )
    p.add_argument(
        "--out", default=str(HERE / "results"), help="output folder (default benchmarks/results/)"
    )
    p.add_argument(
        "--figures",
        default=None,
        help="PNG folder (default benchmarks/figures/ with the default --out, else OUT/figures)",
    )
    args = p.parse_args(argv)
    if args.smoke:
        args.quick = True
        args.configs = args.configs or "tiny"
        args.variants = args.variants or "fnnet_step"
        args.reps = args.reps or 2
        args.target_seconds = args.target_seconds or 0.01
        args.gemm_size = args.gemm_size or 256
        args.gemm_repeats = args.gemm_repeats or 2
        args.no_torch = args.no_sklearn = True
    args.reps = args.reps or (5 if args.quick else 15)
    args.target_seconds = args.target_seconds or (0.06 if args.quick else 0.25)
    args.gemm_size = args.gemm_size or 2048
    args.gemm_repeats = args.gemm_repeats or (4 if args.quick else 7)
    names = args.configs.split(",") if args.configs else list(CONFIGS)
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        p.error(f"unknown configs {unknown}; choose from {list(CONFIGS)}")
    args.config_list = [CONFIGS[n] for n in names]
    args.mode_list = [m for m in args.modes.split(",") if m]
    if not set(args.mode_list) <= {"loop", "scan"} or not args.mode_list:
        p.error("--modes must be loop, scan or loop,scan")
    args.variant_list = (
        tuple(args.variants.split(","))
        if args.variants
        else (QUICK_VARIANTS if args.quick else FULL_VARIANTS)
    )
    return args


def log(msg: str) -> None:
    print(msg, flush=True)


def make_data(config: Config, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, config.batch, config.sizes[0]), dtype=np.float32)
    y = rng.integers(0, config.sizes[-1], size=(n, config.batch), dtype=np.int32)
    return x, y


def build_runners(
    config: Config, args: argparse.Namespace, peers: dict[str, bool]
) -> list[harness.Runner]:
    """The JAX variants in each mode, then the peers; the GEMM runner is added by run_config."""
    steps = config.quick_scan_steps if args.quick else config.scan_steps
    x, y = make_data(config, max(steps, 16))
    variants = all_variants(config, args.variant_list)
    runners: list[harness.Runner] = []
    for variant in variants:
        for mode in args.mode_list:
            runners.append(harness.JaxRunner(variant, mode, x, y, steps))
    if peers.get("torch") or peers.get("sklearn"):
        import peers as peer_mod

        params = variants[0].init_state().params  # raw_jax's copy of the shared initial params
        if peers.get("torch"):
            runners.append(peer_mod.TorchRunner(config, x, y, params, args.torch_threads))
        if peers.get("sklearn"):
            runners.append(peer_mod.SklearnRunner(config, x, y, params))
    return runners


def run_config(config: Config, args: argparse.Namespace, peers: dict[str, bool]) -> dict[str, Any]:
    log(f"[{config.name}] {config.describe()}: {config.step_flops / 1e6:.3g} MFLOP/step")
    load_start = harness.load_average()
    rss_start = harness.rss_bytes()
    t0 = time.perf_counter()
    runners = build_runners(config, args, peers)
    for r in runners:
        r.prepare()
        extra = f" compile {r.info['compile_s']:.2f}s" if "compile_s" in r.info else ""
        log(f"  prepared {r.key}:{extra} first call {r.info.get('first_call_s', 0) * 1e3:.1f} ms")
    rss_prepared = harness.rss_bytes()
    gemm = harness.GemmRunner(args.gemm_size)
    gemm.prepare()
    harness.interleaved([*runners, gemm], reps=args.reps, target_s=args.target_seconds, log=log)
    for r in (*runners, gemm):
        r.close()
    gemm_rates = [gemm.flops / t / 1e9 for t in gemm.samples]
    results = []
    for r in runners:
        entry = harness.runner_record(r)
        entry["steps_per_s"] = 1.0 / entry["median_s"]
        entry["gemm_fraction"] = None  # filled in by main() from the run's GEMM peak
        entry["gemm_fraction_matched"] = (
            config.step_flops / (np.median(gemm_rates) * 1e9) / entry["median_s"]
        )
        results.append(entry)
    by_key = {(e["variant"], e["mode"]): e for e in results}
    for e in results:
        ref_mode = e["mode"] if e["library"] == "jax" else "loop"
        ref = by_key.get((REFERENCE, ref_mode)) or by_key.get((REFERENCE, args.mode_list[0]))
        e["reference"] = f"{REFERENCE}/{ref['mode']}" if ref else None
        e["ratio_vs_reference"] = e["median_s"] / ref["median_s"] if ref else None
        e["ratio_of_minima"] = e["min_s"] / ref["min_s"] if ref else None  # least disturbed rounds
    out = {
        "name": config.name,
        "sizes": list(config.sizes),
        "activation": config.activation,
        "batch": config.batch,
        "num_params": config.num_params,
        "flops_per_step": config.step_flops,
        "gemm_limit_step_s": None,  # filled in by main()
        "gemm_interleaved": {
            "size": args.gemm_size,
            "gflops_samples": gemm_rates,
            "gflops_median": float(np.median(gemm_rates)),
            "gflops_best": max(gemm_rates),
        },
        "scan_steps": config.quick_scan_steps if args.quick else config.scan_steps,
        "load_average_start": load_start,
        "load_average_end": harness.load_average(),
        "rss_start_bytes": rss_start,
        "rss_prepared_bytes": rss_prepared,
        "seconds": time.perf_counter() - t0,
        "first_loss_spread": _loss_spread(results),
        "results": results,
    }
    log(
        f"  GEMM interleaved: median {np.median(gemm_rates):.1f}, best {max(gemm_rates):.1f} GFLOP/s"
    )
    for e in sorted(results, key=lambda e: (e["mode"], e["median_s"])):
        log(
            f"  {e['variant']:>22}/{e['mode']:<11} {report.fmt_time(e['median_s']):>9}/step"
            f"  x{e['ratio_vs_reference']:.2f} vs {e['reference']}"
            f"  {100 * e['gemm_fraction_matched']:.1f}% of the interleaved GEMM median"
        )
    del runners
    gc.collect()
    return out


def _loss_spread(results: list[dict]) -> float | None:
    """Largest difference between the first-step losses of the runners that share the initial
    params (every JAX variant and PyTorch): a correctness cross-check of the benchmark."""
    losses = [
        e["first_loss"]
        for e in results
        if e["library"] in ("jax", "torch") and e["first_loss"] is not None
    ]
    return float(max(losses) - min(losses)) if losses else None


def evaluate_goals(configs: dict[str, dict], tol: float) -> list[dict[str, Any]]:
    """Check fnnet's goals (README) against this run; ``ok`` allows ``tol`` relative noise."""
    goals = []

    def t(cfg, variant, mode):
        for e in configs[cfg]["results"]:
            if e["variant"] == variant and e["mode"] == mode:
                return e
        return None

    def add(goal, cfg, mode, subject, reference, ratio, ok, detail=""):
        goals.append(
            {
                "goal": goal,
                "config": cfg,
                "mode": mode,
                "subject": subject,
                "reference": reference,
                "value": ratio,
                "ok": bool(ok),
                "detail": detail,
            }
        )

    for cfg in configs:
        for hand, auto in AUTODIFF_TWIN.items():
            for mode in ("loop", "scan"):
                a, b = t(cfg, hand, mode), t(cfg, auto, mode)
                if a and b:
                    r = a["median_s"] / b["median_s"]
                    add(
                        "hand rules no slower than autodiff",
                        cfg,
                        mode,
                        hand,
                        auto,
                        r,
                        r <= 1 + tol,
                        "time ratio",
                    )
    for cfg in ("medium", "wide"):
        if cfg not in configs:
            continue
        for subject in ("fnnet_step", "fnnet_step_fit", "fnnet_serial", "fnnet_mlp"):
            for mode in ("loop", "scan"):
                a, b = t(cfg, subject, mode), t(cfg, REFERENCE, mode)
                if a and b:
                    r = a["median_s"] / b["median_s"]
                    add(
                        "at least as fast as raw JAX",
                        cfg,
                        mode,
                        subject,
                        REFERENCE,
                        r,
                        r <= 1 + tol,
                        "time ratio",
                    )
    if "wide" in configs:
        for subject in ("fnnet_step", "fnnet_step_fit", "fnnet_serial", "fnnet_mlp", REFERENCE):
            for mode in ("loop", "scan"):
                a = t("wide", subject, mode)
                if a:
                    f = a["gemm_fraction"]
                    add(
                        "wide at >= 85% of the GEMM limit",
                        "wide",
                        mode,
                        subject,
                        "GEMM peak",
                        f,
                        f >= 0.85,
                        f"fraction of the GEMM limit (load-matched: {100 * a['gemm_fraction_matched']:.1f}%)",
                    )
    for cfg in ("tiny", "small"):
        if cfg not in configs:
            continue
        for subject in ("fnnet_step", "fnnet_step_fit", "fnnet_serial", "fnnet_mlp"):
            a, b = t(cfg, subject, "scan"), t(cfg, REFERENCE, "scan")
            if a and b:
                r = a["median_s"] / b["median_s"]
                add(
                    "as fast as raw JAX under lax.scan",
                    cfg,
                    "scan",
                    subject,
                    REFERENCE,
                    r,
                    r <= 1 + tol,
                    "time ratio",
                )
    return goals


def run_sweeps(args: argparse.Namespace, name: str = "sweep_scaling.py") -> dict[str, Any]:
    """Hook for a sweep benchmark (benchmarks/sweep_scaling.py, sweep_fastpath.py): run as a
    subprocess with ``--quick`` when this run is quick and ``--out`` this run's folder;
    its exit code, the tail of its output and the JSON and markdown it wrote (sweep_scaling.json,
    sweep_scaling.md) are recorded."""
    script = HERE / name
    if not script.exists():
        return {"status": "absent", "script": str(script)}
    out_dir = Path(args.out) / "sweeps"
    out_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(script), *(["--quick"] if args.quick else []), "--out", str(out_dir)]
    log(f"[sweeps] {shlex.join(cmd)}")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    entry: dict[str, Any] = {
        "status": "ok" if proc.returncode == 0 else "failed",
        "command": shlex.join(cmd),
        "returncode": proc.returncode,
        "seconds": time.perf_counter() - t0,
        "stdout_tail": proc.stdout[-4000:],
        "stderr_tail": proc.stderr[-4000:],
        "json": {},
    }
    for path in sorted(out_dir.glob("*.json")):
        try:
            entry["json"][path.name] = json.loads(path.read_text())
        except (OSError, ValueError):
            pass
    entry["markdown"] = "\n".join(p.read_text() for p in sorted(out_dir.glob("*.md")))
    return entry


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = _dt.datetime.now(_dt.timezone.utc)
    t_start = time.perf_counter()
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)

    import peers as peer_mod

    peers = {
        "torch": (not args.no_torch) and peer_mod.torch_available(),
        "sklearn": (not args.no_sklearn) and peer_mod.sklearn_available(),
    }
    machine = harness.machine_info(args.torch_threads if peers["torch"] else None)
    command = shlex.join(
        ["python", "benchmarks/run.py", *(argv if argv is not None else sys.argv[1:])]
    )
    log(
        f"fnnet benchmarks: {machine['cpu_model']}, {machine['cpus_available']} CPUs, load {machine['load_average_start']}"
    )
    log(f"peers: {', '.join(k for k, v in peers.items() if v) or 'none'}")

    gemm_start = harness.gemm_peak(args.gemm_size, args.gemm_repeats)
    log(f"GEMM ({args.gemm_size}^2 float32 jnp.dot): {gemm_start['gflops_best']:.1f} GFLOP/s best")

    configs: dict[str, dict] = {}
    for config in args.config_list:
        configs[config.name] = run_config(config, args, peers)

    gemm_end = harness.gemm_peak(args.gemm_size, args.gemm_repeats)
    # the limit: the best matmul rate seen anywhere in this run (start, end, interleaved rounds)
    peak = max(
        [
            gemm_start["gflops_best"],
            gemm_end["gflops_best"],
            *(c["gemm_interleaved"]["gflops_best"] for c in configs.values()),
        ]
    )
    for c in configs.values():
        c["gemm_limit_step_s"] = c["flops_per_step"] / (peak * 1e9)
        for e in c["results"]:
            e["gemm_fraction"] = c["gemm_limit_step_s"] / e["median_s"]
    torch_gemm = (
        harness.torch_gemm_peak(args.gemm_size, args.gemm_repeats) if peers["torch"] else None
    )
    log(f"GEMM at the end: {gemm_end['gflops_best']:.1f} GFLOP/s; limit used {peak:.1f} GFLOP/s")

    results: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "command": command,
        "started_utc": started.isoformat(timespec="seconds"),
        "duration_s": None,
        "settings": {
            "quick": args.quick,
            "smoke": args.smoke,
            "configs": [c.name for c in args.config_list],
            "modes": args.mode_list,
            "reps": args.reps,
            "target_seconds": args.target_seconds,
            "tolerance": args.tolerance,
            "peers": peers,
            "dtype": "float32",
            "optimizer": "adam(1e-3, 0.9, 0.999, 1e-8)",
            "loss": "softmax cross-entropy, integer labels",
        },
        "machine": machine,
        "gemm": {"start": gemm_start, "end": gemm_end, "peak_gflops": peak, "torch": torch_gemm},
        "configs": configs,
        "goals": evaluate_goals(configs, args.tolerance),
        "sweeps": run_sweeps(args) if args.sweeps else {"status": "not requested (--sweeps)"},
        "sweep_fastpath": (
            run_sweeps(args, "sweep_fastpath.py") if args.sweeps else {"status": "not requested"}
        ),
    }
    machine["load_average_end"] = harness.load_average()
    results["duration_s"] = time.perf_counter() - t_start
    (out_dir / "results.json").write_text(
        json.dumps(results, indent=1, default=_json_default) + "\n"
    )
    (out_dir / "results.md").write_text(report.markdown(results))
    log(
        f"wrote {out_dir / 'results.json'} and {out_dir / 'results.md'} in {results['duration_s']:.0f} s"
    )
    try:  # the figures (matplotlib, the `examples` extra): benchmarks/figures/*.png
        import plots

        default_out = Path(args.out).resolve() == (HERE / "results").resolve()
        figures = args.figures or (HERE / "figures" if default_out else out_dir / "figures")
        for path in plots.write_all(out_dir, Path(figures)):
            log(f"wrote {path}")
    except ImportError as err:
        log(f"figures skipped: {err}")
    return 0


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


if __name__ == "__main__":
    sys.exit(main())
