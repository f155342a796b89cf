"""Every family against raw JAX, ``fnnet.autodiff``, Flax and PyTorch, in one process (issue 22).

    python benchmarks/families.py                 # every network (long: run it on a quiet machine)
    python benchmarks/families.py --quick         # every network, fewer and shorter rounds
    python benchmarks/families.py --smoke         # two tiny networks, 2 rounds (the test suite's)
    python benchmarks/families.py --cases lstm128,digits_cnn --variants raw_jax,fnnet_step

One *step* is forward + backward + Adam (lr 1e-3, β = (0.9, 0.999), ε = 1e-8) on one float32
minibatch, softmax cross-entropy on 10 logits. The networks are in ``family_cases.py``. JAX
variants, each compiled as a donated jitted step called in a Python loop (``loop``) and as one
jitted ``lax.scan`` of several steps (``scan``):

* ``raw_jax``: the reference, ``jax.value_and_grad`` of the network written in ``jnp``/``lax``,
  Adam written in ``jnp``;
* ``flax``: the Flax ``linen`` network (``OptimizedLSTMCell``/``GRUCell``/``SimpleCell`` in
  ``nn.RNN``, ``nn.Conv``, ``nn.Dense``), ``jax.value_and_grad``, the same Adam as raw JAX;
* ``fnnet_step``: ``fnnet.make_train_step(net.apply, softmax_cross_entropy, adam)``, what users
  run: hand rules, the non-finite guard, ``StepMetrics``;
* ``fnnet_step_autodiff``: the same with ``apply`` and the loss in ``fnnet.with_autodiff``
  (JAX differentiates fnnet's own forward);
* ``fnnet_bare``: fnnet's forward and hand rules with raw JAX's Adam (no guard, no metrics): the
  layers alone, comparable with ``raw_jax`` and ``flax`` op for op;
* ``fnnet_bare_autodiff``: its ``with_autodiff`` twin.

Peer: ``torch_eager``, PyTorch eager on CPU (``torch.set_num_threads``, default 2), the same
network (``nn.LSTM``/``nn.GRU``/``nn.RNN``, ``nn.Conv1d``/``nn.Conv2d``), ``F.cross_entropy``,
``optim.Adam(fused=True)``.

Every runner starts from the same weights (fnnet's ``init``, copied into Flax and PyTorch) and the
same batches: their first-step losses must agree (``equal work``; the report gives the largest
relative difference and the run fails if it exceeds ``--loss-tolerance``). Runners are timed in
interleaved rounds (harness.interleaved: A, B, C, A, B, C, ..., first runner rotating); the
statistic is the median time per step, with ratios against ``raw_jax`` in the same mode (PyTorch
against ``raw_jax``'s loop). Compile time (harness: AOT ``lower`` + ``compile``, and the first
call) is reported for the loop program (a first step) and the scan program (an epoch, as ``fit``
compiles one) beside raw JAX's.

Writes ``families.json`` (every sample) and ``families.md`` (tables, goals) to ``--out``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import json
import math
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import family_cases  # noqa: E402
import harness  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import peers  # noqa: E402
from jax_variants import B1, B2, EPS  # noqa: E402
from jax_variants import LEARNING_RATE as LR  # noqa: E402

import fnnet  # noqa: E402
from fnnet import losses  # noqa: E402

REFERENCE = "raw_jax"
ALL_VARIANTS = (
    "raw_jax",
    "flax",
    "fnnet_step",
    "fnnet_step_autodiff",
    "fnnet_bare",
    "fnnet_bare_autodiff",
)
QUICK_VARIANTS = ("raw_jax", "flax", "fnnet_step", "fnnet_step_autodiff")
GROUP_ORDER = ("recurrent", "conv", "mlp", "smoke")


class Variant(NamedTuple):  # the harness's JaxRunner reads these fields
    name: str
    description: str
    init_state: Any
    step: Any
    family: str


# ---------------------------------------------------------------- the steps


class AdamState(NamedTuple):
    params: Any
    mu: Any
    nu: Any
    count: jax.Array


def _adam_init(params) -> AdamState:
    zeros = lambda: jax.tree_util.tree_map(jnp.zeros_like, params)  # noqa: E731
    return AdamState(params, zeros(), zeros(), jnp.zeros((), jnp.int32))


def _adam_step(loss_of_params):
    """``jax.value_and_grad`` + Adam written in ``jnp`` (the raw-JAX and Flax step)."""

    def step(state: AdamState, x, y):
        loss, grads = jax.value_and_grad(loss_of_params)(state.params, x, y)
        count = state.count + 1
        t = count.astype(jnp.float32)
        c1, c2 = 1.0 - B1**t, 1.0 - B2**t
        tm = jax.tree_util.tree_map
        mu = tm(lambda m, g: B1 * m + (1.0 - B1) * g, state.mu, grads)
        nu = tm(lambda v, g: B2 * v + (1.0 - B2) * g * g, state.nu, grads)
        params = tm(
            lambda p, m, v: p - LR * (m / c1) / (jnp.sqrt(v / c2) + EPS), state.params, mu, nu
        )
        return AdamState(params, mu, nu, count), loss

    return step


def _cross_entropy(logits, y):
    log_p = jax.nn.log_softmax(logits, axis=-1)
    one_hot = jax.nn.one_hot(y, logits.shape[-1], dtype=logits.dtype)
    return -jnp.mean(jnp.sum(one_hot * log_p, axis=-1))


def _copy(tree):
    return jax.tree_util.tree_map(lambda a: jnp.array(a, copy=True), tree)


def jax_variants(case: family_cases.Case, params0, names: tuple[str, ...]) -> list[Variant]:
    """The JAX steps of ``case``, all from ``params0`` (fresh copies: the steps donate them)."""
    sce = losses.softmax_cross_entropy
    auto = fnnet.with_autodiff
    optimizer = fnnet.optimizers.adam(LR, B1, B2, EPS)
    key = jax.random.key(1)  # what fit would pass; these networks ignore it
    out: list[Variant] = []

    def library(apply, loss, family, name, description):
        train_step = fnnet.make_train_step(apply, loss, optimizer)

        def step(state, x, y):
            return train_step.step(state, (x, y), key)

        out.append(
            Variant(name, description, lambda: train_step.init(_copy(params0)), step, family)
        )

    def bare(apply, loss, family, name, description):
        def objective(params, x, y):
            return loss(apply(params, x), y)

        init = lambda: _adam_init(_copy(params0))  # noqa: E731
        out.append(Variant(name, description, init, _adam_step(objective), family))

    for name in names:
        if name == "raw_jax":
            bare(case.raw_forward, _cross_entropy, "reference", name, "jax.grad of the jnp/lax net")
        elif name == "flax" and case.flax is not None:
            apply, variables = case.flax(params0)
            out.append(
                Variant(
                    "flax",
                    "Flax linen, jax.grad, the same Adam",
                    lambda v=variables: _adam_init(_copy(v)),
                    _adam_step(lambda v, x, y: _cross_entropy(apply(v, x), y)),
                    "peer",
                )
            )
        elif name == "fnnet_step":
            library(case.net.apply, sce, "hand", name, "make_train_step: hand rules + guard")
        elif name == "fnnet_step_autodiff":
            library(auto(case.net.apply), auto(sce), "autodiff", name, "make_train_step, autodiff")
        elif name == "fnnet_bare":
            bare(case.net.apply, sce, "hand", name, "fnnet forward + hand rules, raw Adam")
        elif name == "fnnet_bare_autodiff":
            bare(auto(case.net.apply), auto(sce), "autodiff", name, "fnnet_bare with autodiff")
    return out


class TorchRunner(peers.TorchRunner):
    """PyTorch eager: the case's module, ``F.cross_entropy``, ``optim.Adam(fused=True)``
    (``peers.TorchRunner``'s step and timing with another model)."""

    def __init__(self, case, params0, x: np.ndarray, y: np.ndarray, threads: int) -> None:
        harness.Runner.__init__(self)
        import torch

        torch.set_num_threads(threads)
        self.torch = torch
        self.model, to_torch = case.torch(params0)
        self.opt, kind = peers.torch_adam(self.model.parameters(), LR)
        self.description = f"PyTorch {torch.__version__} eager, {threads} threads, Adam ({kind})"
        pool = min(len(x), 16)
        self.xs = [torch.from_numpy(np.asarray(to_torch(x[i]), np.float32)) for i in range(pool)]
        self.ys = [torch.from_numpy(np.asarray(y[i], np.int64)) for i in range(pool)]
        self.loss = None


# ---------------------------------------------------------------- one case


def make_data(case, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, *case.input_shape), dtype=np.float32)
    y = rng.integers(0, case.classes, size=(n, case.input_shape[0]), dtype=np.int32)
    return x, y


def run_case(case, args, log) -> dict[str, Any]:
    steps = case.quick_scan_steps if args.quick else case.scan_steps
    x, y = make_data(case, max(steps, 16))
    params0 = case.net.init(jax.random.key(0), case.input_shape)
    runners: list[harness.Runner] = []
    for variant in jax_variants(case, params0, args.variant_list):
        for mode in args.mode_list:
            runners.append(harness.JaxRunner(variant, mode, x, y, steps))
    if args.torch and case.torch is not None:
        runners.append(TorchRunner(case, params0, x, y, args.torch_threads))
    for r in runners:
        log(f"  prepare {r.key}")
        r.prepare()
    harness.interleaved(
        runners, reps=args.reps, target_s=args.target_seconds, log=log, pause=args.pause
    )
    for r in runners:
        if hasattr(r, "finish"):
            r.finish()
    entries = [_entry(r) for r in runners]
    for r in runners:
        r.close()
    _ratios(entries)
    reference = next((e for e in entries if e["key"] == f"{REFERENCE}/loop"), entries[0])
    spread = max(
        abs(e["first_loss"] - reference["first_loss"]) / max(abs(reference["first_loss"]), 1e-12)
        for e in entries
    )
    return {
        "name": case.name,
        "group": case.group,
        "description": case.description,
        "input_shape": list(case.input_shape),
        "scan_steps": steps,
        "num_params": int(sum(a.size for a in jax.tree_util.tree_leaves(params0))),
        "first_loss_spread": spread,
        "load_average": harness.load_average(),
        "results": entries,
    }


def _entry(r: harness.Runner) -> dict[str, Any]:
    entry = harness.runner_record(r)
    info = entry["compile"] = dict(r.info)
    info["total_s"] = sum(info.get(k, 0.0) for k in ("lower_s", "compile_s", "first_call_s"))
    nan = float("nan")
    entry["key"] = r.key
    # process CPU seconds per step (all threads): steadier than wall time on a loaded machine
    cpu = [t * u for t, u in zip(r.samples, r.cpu)]
    entry["cpu_median_s"] = float(np.median(cpu)) if cpu else float("nan")
    entry["first_loss"] = nan if r.first_loss is None else float(r.first_loss)
    entry["last_loss"] = nan if r.last_loss is None else float(r.last_loss)
    return entry


def _ratios(entries: list[dict]) -> None:
    by_key = {e["key"]: e for e in entries}
    for e in entries:
        ref = by_key.get(f"{REFERENCE}/{e['mode']}") or by_key.get(f"{REFERENCE}/loop")
        if ref is None:
            e["ratio"] = e["ratio_min"] = e["compile_ratio"] = float("nan")
            continue
        e["reference"] = ref["key"]
        e["ratio"] = e["median_s"] / ref["median_s"]
        e["ratio_min"] = e["min_s"] / ref["min_s"]
        e["cpu_ratio"] = e.get("cpu_median_s", math.nan) / ref.get("cpu_median_s", math.nan)
        # compile goals on process CPU time (lower + compile): wall time rides on machine load
        rc = ref["compile"].get("lower_compile_cpu_s", 0.0)
        mine = e["compile"].get("lower_compile_cpu_s")
        e["compile_ratio"] = mine / rc if rc and mine and e["library"] == "jax" else None


# ---------------------------------------------------------------- goals


def goals(cases: dict[str, dict], tol: float) -> list[dict[str, Any]]:
    """Issue 22's targets, each checked where its runners ran (``tol``: noise allowance)."""
    out = []

    def median(case, key):
        e = next((e for e in cases[case]["results"] if e["key"] == key), None)
        return None if e is None else e["median_s"]

    def check(goal, case, subject, value, limit):
        out.append(
            {
                "goal": goal,
                "case": case,
                "subject": subject,
                "value": value,
                "limit": limit,
                "ok": value <= limit * (1 + tol),
            }
        )

    for name, case in cases.items():
        results = case["results"]
        modes = sorted({e["mode"] for e in results if e["library"] == "jax"})
        for mode in modes:  # hand rule at least as fast as autodiff of its forward
            for hand, twin in (
                ("fnnet_step", "fnnet_step_autodiff"),
                ("fnnet_bare", "fnnet_bare_autodiff"),
            ):
                h, a = median(name, f"{hand}/{mode}"), median(name, f"{twin}/{mode}")
                if h and a:
                    check("hand ≤ autodiff", name, f"{hand}/{mode} ÷ {twin}/{mode}", h / a, 1.0)
            flax = median(name, f"flax/{mode}")
            if case["group"] == "recurrent" and flax:
                for hand in ("fnnet_step", "fnnet_bare"):
                    h = median(name, f"{hand}/{mode}")
                    if h:
                        check(
                            "recurrent ≤ Flax", name, f"{hand}/{mode} ÷ flax/{mode}", h / flax, 1.0
                        )
        torch = median(name, "torch_eager/eager")
        if name.startswith("lstm") and torch:
            for mode in modes:
                h = median(name, f"fnnet_step/{mode}")
                if h:
                    check("LSTM ≤ 1.2× PyTorch", name, f"fnnet_step/{mode} ÷ torch", h / torch, 1.2)
        if name == "digits_cnn":
            h, raw = median(name, "fnnet_step/loop"), median(name, "raw_jax/loop")
            if h and raw:
                check(
                    "digits ≤ 0.8× raw loop", name, "fnnet_step/loop ÷ raw_jax/loop", h / raw, 0.8
                )
            if h and torch:
                check("digits ≥ 2× PyTorch", name, "fnnet_step/loop ÷ torch", h / torch, 0.5)
        for e in results:  # compile time of fnnet's step ≤ raw JAX's (first step, epoch program)
            if e["variant"] == "fnnet_step" and e.get("compile_ratio"):
                check(
                    "compile ≤ raw",
                    name,
                    f"fnnet_step/{e['mode']} compile CPU time ÷ raw_jax's",
                    e["compile_ratio"],
                    1.0,
                )
    return out


# ---------------------------------------------------------------- report


def _t(s: float) -> str:
    if not math.isfinite(s):
        return "–"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        "# fnnet families against raw JAX, autodiff, Flax and PyTorch",
        "",
        f"`{results['command']}` on {results['date']}; {m['cpu_model']}, "
        f"{m['cpus_available']} CPUs available, load average {m['load_average_start']} at the "
        f"start and {results['load_average_end']} at the end; jax {m['versions'].get('jax')}, "
        f"flax {results['flax_version'] or '–'}, torch {m['versions'].get('torch')}.",
        "",
        "Median time per train step (forward, backward, Adam); `×` is against `raw_jax` in the "
        "same mode (PyTorch: against `raw_jax` loop), below 1 faster. Compile wall = lower + "
        "compile + first call of the program (loop: one step; scan: the epoch program); compile "
        "CPU = the process CPU time of lower + compile, and its ratio to raw JAX's (the goal).",
        "",
        "## Summary",
        "",
        "| network | raw loop | raw scan | fnnet step, loop | fnnet step, scan | fnnet bare, scan "
        "| autodiff step, scan | Flax loop | Flax scan | PyTorch eager | equal work |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    cols = (
        "raw_jax/loop",
        "raw_jax/scan",
        "fnnet_step/loop",
        "fnnet_step/scan",
        "fnnet_bare/scan",
        "fnnet_step_autodiff/scan",
        "flax/loop",
        "flax/scan",
        "torch_eager/eager",
    )
    for name, case in results["cases"].items():
        by = {e["key"]: e for e in case["results"]}
        cells = []
        for key in cols:
            e = by.get(key)
            if e is None:
                cells.append("–")
            elif key.startswith("raw_jax"):
                cells.append(_t(e["median_s"]))
            else:
                cells.append(f"{_t(e['median_s'])} ({e['ratio']:.2f}×)")
        spread = case["first_loss_spread"]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {spread:.1e} |")
    lines += [
        "",
        "Process CPU time per step (all threads; steadier than wall time when other jobs share "
        "the cores), same columns:",
        "",
        "| network | " + " | ".join(cols) + " |",
        "| --- |" + " --- |" * len(cols),
    ]
    for name, case in results["cases"].items():
        by = {e["key"]: e for e in case["results"]}
        cells = []
        for key in cols:
            e = by.get(key)
            if e is None or "cpu_median_s" not in e:
                cells.append("–")
            elif key.startswith("raw_jax"):
                cells.append(_t(e["cpu_median_s"]))
            else:
                cells.append(f"{_t(e['cpu_median_s'])} ({e['cpu_ratio']:.2f}×)")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Compile time",
        "",
        "Process CPU seconds of `lower` + `compile`: the loop program (a first step) and the "
        "scan program (an epoch of steps, as `fit` compiles it); ratios against raw JAX's.",
        "",
        "| network | raw loop | fnnet step, loop | autodiff step, loop | Flax loop | raw scan "
        "| fnnet step, scan | autodiff step, scan | Flax scan |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, case in results["cases"].items():
        by = {e["key"]: e for e in case["results"]}
        cells = []
        for mode in ("loop", "scan"):
            for variant in ("raw_jax", "fnnet_step", "fnnet_step_autodiff", "flax"):
                e = by.get(f"{variant}/{mode}")
                cpu = None if e is None else e["compile"].get("lower_compile_cpu_s")
                if cpu is None:
                    cells.append("–")
                elif variant == "raw_jax":
                    cells.append(f"{cpu:.2f} s")
                else:
                    cells.append(f"{cpu:.2f} s ({e['compile_ratio']:.2f}×)")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Goals",
        "",
        "| goal | network | ratio | limit | met |",
        "|---|---|---|---|---|",
    ]
    for g in results["goals"]:
        lines.append(
            f"| {g['goal']} | {g['case']} | {g['subject']} = {g['value']:.2f} | {g['limit']} | "
            f"{'yes' if g['ok'] else '**no**'} |"
        )
    for name, case in results["cases"].items():
        lines += [
            "",
            f"## {name}",
            "",
            f"{case['description']}; {case['num_params']:,} parameters, {case['scan_steps']} "
            f"steps per scan call; first-loss spread {case['first_loss_spread']:.1e}; load "
            f"{case['load_average']}.",
            "",
            "| variant | mode | median/step [IQR] | × raw | × raw (min) | CPU util | compile "
            "wall | compile CPU | × raw | temp MB | first loss |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for e in sorted(case["results"], key=lambda e: (e["mode"], e["median_s"])):
            c = e["compile"]
            cr = e.get("compile_ratio")
            temp = c.get("temp_size_bytes")
            lines.append(
                f"| `{e['variant']}` | {e['mode']} | {_t(e['median_s'])} [{_t(e['p25_s'])}, "
                f"{_t(e['p75_s'])}] | {e['ratio']:.2f} | {e['ratio_min']:.2f} | "
                f"{e.get('cpu_utilization_median') or math.nan:.2f} | {_t(c['total_s'])} | "
                f"{_t(c.get('lower_compile_cpu_s', math.nan))} | "
                f"{'–' if not cr else f'{cr:.2f}'} | "
                f"{'–' if temp is None else f'{temp / 1e6:.1f}'} | {e['first_loss']:.6f} |"
            )
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="fewer variants, rounds and scan steps")
    p.add_argument("--smoke", action="store_true", help="two tiny networks, 2 rounds (seconds)")
    p.add_argument("--cases", default=None, help="comma-separated networks (default: all)")
    p.add_argument("--groups", default=None, help="comma-separated: recurrent, conv, mlp")
    p.add_argument("--variants", default=None, help=f"JAX variants, from {','.join(ALL_VARIANTS)}")
    p.add_argument("--modes", default="loop,scan", help="loop, scan, or both (default)")
    p.add_argument("--reps", type=int, default=None, help="timed rounds (default 9; quick 5)")
    p.add_argument(
        "--target-seconds", type=float, default=None, help="one round's time (0.4; quick 0.15)"
    )
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--no-flax", action="store_true")
    p.add_argument("--torch-threads", type=int, default=2)
    p.add_argument(
        "--pause",
        type=float,
        default=0.05,
        help="seconds of idle before each timed round, so spinning worker threads of the "
        "previous runner (XLA's, PyTorch's OpenMP) do not slow the next (default 0.05)",
    )
    p.add_argument("--tolerance", type=float, default=0.05, help="noise allowance on goals")
    p.add_argument(
        "--loss-tolerance",
        type=float,
        default=1e-4,
        help="largest relative difference of first losses (equal work) before the run fails",
    )
    p.add_argument("--out", default=str(HERE / "results" / "families"))
    p.add_argument("--report", default=None, help="only re-render FILE (a families.json)")
    args = p.parse_args(argv)
    registry = family_cases.all_cases()
    if args.smoke:
        args.quick = True
        args.cases = args.cases or "lstm_smoke,conv_smoke"
        args.reps = args.reps or 2
        args.target_seconds = args.target_seconds or 0.01
        args.variants = args.variants or "raw_jax,fnnet_step"
        args.no_torch = args.no_flax = True
    args.reps = args.reps or (5 if args.quick else 9)
    args.target_seconds = args.target_seconds or (0.15 if args.quick else 0.4)
    if args.cases:
        names = args.cases.split(",")
        unknown = [n for n in names if n not in registry]
        if unknown:
            p.error(f"unknown cases {unknown}; choose from {list(registry)}")
    else:
        groups = args.groups.split(",") if args.groups else ["recurrent", "conv", "mlp"]
        names = [n for n in registry if not n.endswith("_smoke")]
        names = [n for n in names if _group_of(n) in groups]
    args.case_names = names
    variants = args.variants.split(",") if args.variants else None
    variants = variants or list(QUICK_VARIANTS if args.quick else ALL_VARIANTS)
    if REFERENCE not in variants:
        variants.insert(0, REFERENCE)
    unknown = [v for v in variants if v not in ALL_VARIANTS]
    if unknown:
        p.error(f"unknown variants {unknown}; choose from {list(ALL_VARIANTS)}")
    if args.no_flax or not _importable("flax"):
        variants = [v for v in variants if v != "flax"]
    args.variant_list = tuple(variants)
    args.mode_list = [m for m in args.modes.split(",") if m]
    if not args.mode_list or not set(args.mode_list) <= {"loop", "scan"}:
        p.error("--modes must be loop, scan or loop,scan")
    args.torch = not args.no_torch and _importable("torch")
    return args


def _warm_up() -> None:
    """Trace, differentiate and compile a small scanned program once, so that JAX's one-time
    start-up costs do not land on the compile time of whichever runner comes first."""

    def loss(w, xs):
        return jax.lax.scan(lambda h, x: (jnp.tanh(h @ w + x), None), xs[0], xs)[0].sum()

    w, xs = jnp.eye(4), jnp.ones((3, 2, 4))
    jax.block_until_ready(jax.jit(jax.grad(loss)).lower(w, xs).compile()(w, xs))
    jax.block_until_ready(
        jax.jit(jax.grad(lambda w, x: loss(w, x[None]))).lower(w, xs[0]).compile()(w, xs[0])
    )


def _group_of(name: str) -> str:
    if name.startswith(("lstm", "gru", "elman", "bigru")):
        return "recurrent"
    if name.startswith(("conv", "digits")):
        return "conv"
    return "mlp"


def _importable(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report:  # re-render a finished run (goals re-checked with --tolerance)
        results = json.loads(Path(args.report).read_text())
        results["goals"] = goals(results["cases"], args.tolerance)
        print(markdown(results))
        return 0
    log = lambda s: print(s, flush=True)  # noqa: E731
    registry = family_cases.all_cases()
    machine = harness.machine_info(args.torch_threads if args.torch else None)
    started = time.perf_counter()
    flax_version = None
    if "flax" in args.variant_list:
        import flax

        flax_version = flax.__version__
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cases: dict[str, dict] = {}
    results: dict[str, Any] = {}
    _warm_up()
    for name in args.case_names:
        case = registry[name]()
        log(f"{name}: {case.description}")
        cases[name] = run_case(case, args, log)
        gc.collect()
        by = {e["key"]: e for e in cases[name]["results"]}
        log(
            "  "
            + ", ".join(f"{k}={_t(e['median_s'])} ({e['ratio']:.2f}×)" for k, e in by.items())
            + f"; first-loss spread {cases[name]['first_loss_spread']:.1e}"
        )
        results = {  # written after every network: a long run leaves what it measured
            "schema": 1,
            "command": "python benchmarks/families.py "
            + " ".join(sys.argv[1:] if argv is None else argv),
            "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "settings": {
                k: getattr(args, k)
                for k in ("quick", "smoke", "reps", "target_seconds", "tolerance", "torch_threads")
            }
            | {"cases": args.case_names, "variants": list(args.variant_list)}
            | {"modes": args.mode_list},
            "machine": machine,
            "flax_version": flax_version,
            "cases": cases,
            "goals": goals(cases, args.tolerance),
            "load_average_end": harness.load_average(),
            "wall_s": time.perf_counter() - started,
        }
        (out / "families.json").write_text(json.dumps(results, indent=1, default=str))
        (out / "families.md").write_text(markdown(results))
    log(f"wrote {out / 'families.md'} and families.json in {results['wall_s']:.0f} s")
    bad = {n: c["first_loss_spread"] for n, c in cases.items()}
    bad = {n: s for n, s in bad.items() if not s <= args.loss_tolerance}
    if bad:
        log(f"UNEQUAL WORK: first losses differ by more than {args.loss_tolerance}: {bad}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
