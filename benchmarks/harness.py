"""Timing machinery: runners for compiled JAX steps, interleaved medians, the GEMM limit,
compiled-program statistics (memory, op counts, fusions) and machine information.

A *runner* executes ``n`` units of work and returns the wall time; a unit is one train step
(Python loop of jitted steps, PyTorch, scikit-learn) or one compiled ``lax.scan`` call of
``steps_per_unit`` steps. All runners of a configuration are timed round-robin, A, B, C, A, B,
C, ... (the starting runner rotating each round), so that load on the machine falls on all of
them alike; each reports the median over rounds of the time per step.
"""

from __future__ import annotations

import collections
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

# ---------------------------------------------------------------- process measurements


def rss_bytes() -> int:
    """Current resident set size of this process (Linux; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


# ---------------------------------------------------------------- runners


class Runner:
    """Base class: ``run(n)`` does ``n`` units and returns seconds; subclasses set the fields."""

    name: str = ""
    mode: str = ""  # "loop" | "scan" | "eager" | "partial_fit"
    library: str = ""  # "jax" | "torch" | "sklearn"
    family: str = ""  # "reference" | "hand" | "autodiff" | "peer"
    description: str = ""
    steps_per_unit: int = 1

    def __init__(self) -> None:
        self.samples: list[float] = []  # seconds per step, one per timed round
        self.cpu: list[float] = []  # process CPU seconds / wall seconds per timed round
        self.units = 1
        self.info: dict[str, Any] = {}
        self.first_loss: float | None = None
        self.last_loss: float | None = None

    @property
    def key(self) -> str:
        return f"{self.name}/{self.mode}"

    def prepare(self) -> None:  # compile, first call; fill self.info
        raise NotImplementedError

    def run(self, n: int) -> float:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def timed(self, n: int) -> None:
        c0 = time.process_time()
        dt = self.run(n)
        cpu = time.process_time() - c0
        self.samples.append(dt / (n * self.steps_per_unit))
        self.cpu.append(cpu / dt if dt > 0 else float("nan"))


def _loss_value(out: Any) -> float:
    loss = getattr(out, "loss", out)
    return float(np.asarray(loss).reshape(-1)[-1])


class JaxRunner(Runner):
    """A JAX step, compiled either as one donated jitted step per call ("loop") or as a
    ``lax.scan`` of ``steps`` steps per call ("scan")."""

    library = "jax"

    def __init__(self, variant, mode: str, x: np.ndarray, y: np.ndarray, steps: int) -> None:
        super().__init__()
        self.variant = variant
        self.name, self.family, self.description = variant.name, variant.family, variant.description
        self.mode = mode
        step = variant.step
        if mode == "loop":
            self.fn = jax.jit(step, donate_argnums=0)
            pool = min(len(x), 16)
            self.xs = [jnp.asarray(x[i]) for i in range(pool)]
            self.ys = [jnp.asarray(y[i]) for i in range(pool)]
            self.steps_per_unit = 1
        elif mode == "scan":

            def many(state, xs, ys):
                return jax.lax.scan(lambda s, batch: step(s, *batch), state, (xs, ys))

            self.fn = jax.jit(many, donate_argnums=0)
            self.xs, self.ys = jnp.asarray(x[:steps]), jnp.asarray(y[:steps])
            self.steps_per_unit = steps
        else:
            raise ValueError(mode)
        self.state = None
        self.out = None

    def _args(self):
        if self.mode == "loop":
            return self.xs[0], self.ys[0]
        return self.xs, self.ys

    def prepare(self) -> None:
        rss0 = rss_bytes()
        self.state = self.variant.init_state()
        jax.block_until_ready(self.state)
        c0, t0 = time.process_time(), time.perf_counter()
        lowered = self.fn.lower(self.state, *self._args())
        t1 = time.perf_counter()
        compiled = lowered.compile()
        c2, t2 = time.process_time(), time.perf_counter()
        self.state, self.out = self.fn(self.state, *self._args())  # hits the compilation cache
        jax.block_until_ready((self.state, self.out))
        t3 = time.perf_counter()
        self.first_loss = _loss_value(self.out) if self.mode == "loop" else _first_of_scan(self.out)
        self.info = {
            "lower_s": t1 - t0,
            "compile_s": t2 - t1,
            "first_call_s": t3 - t2,
            "lower_compile_cpu_s": c2 - c0,  # process CPU time: less sensitive to machine load
            "rss_delta_bytes": rss_bytes() - rss0,
            **compiled_memory(compiled),
            **hlo_stats(compiled),
        }

    def run(self, n: int) -> float:
        fn, state, out = self.fn, self.state, self.out
        if self.mode == "loop":
            xs, ys = self.xs, self.ys
            pool = len(xs)
            t0 = time.perf_counter()
            for i in range(n):
                state, out = fn(state, xs[i % pool], ys[i % pool])
            jax.block_until_ready((state, out))
        else:
            xs, ys = self.xs, self.ys
            t0 = time.perf_counter()
            for _ in range(n):
                state, out = fn(state, xs, ys)
            jax.block_until_ready((state, out))
        dt = time.perf_counter() - t0
        self.state, self.out = state, out
        return dt

    def finish(self) -> None:
        if self.out is not None:
            self.last_loss = _loss_value(self.out)

    def close(self) -> None:
        self.finish()
        self.state = self.out = self.fn = None
        self.xs = self.ys = None


class GemmRunner(Runner):
    """The GEMM limit as one more runner in the round-robin: one unit is one jitted ``jnp.dot``
    of two ``n × n`` float32 matrices, so the limit is sampled under the same load as the
    variants. ``samples`` hold seconds per matmul."""

    name = "gemm_limit"
    mode = "jnp.dot"
    library = "jax"
    family = "limit"

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n
        self.description = f"jitted jnp.dot of two {n}x{n} float32 matrices"
        ka, kb = jax.random.split(jax.random.key(42))
        self.a = jax.random.normal(ka, (n, n), jnp.float32)
        self.b = jax.random.normal(kb, (n, n), jnp.float32)
        self.fn = jax.jit(jnp.dot)

    @property
    def flops(self) -> float:
        return 2.0 * self.n**3

    def prepare(self) -> None:
        self.fn(self.a, self.b).block_until_ready()

    def run(self, n: int) -> float:
        fn, a, b = self.fn, self.a, self.b
        t0 = time.perf_counter()
        for _ in range(n):
            out = fn(a, b)
        out.block_until_ready()
        return time.perf_counter() - t0

    def close(self) -> None:
        self.a = self.b = self.fn = None


def _first_of_scan(out: Any) -> float:
    loss = getattr(out, "loss", out)
    return float(np.asarray(loss).reshape(-1)[0])


# ---------------------------------------------------------------- compiled-program statistics


def compiled_memory(compiled: Any) -> dict[str, Any]:
    """Sizes from ``Compiled.memory_analysis()`` (bytes)."""
    try:
        m = compiled.memory_analysis()
    except Exception as e:  # noqa: BLE001 - backend-dependent
        return {"memory_analysis_error": repr(e)}
    if m is None:
        return {}
    out = {}
    for field in (
        "argument_size_in_bytes",
        "output_size_in_bytes",
        "alias_size_in_bytes",
        "temp_size_in_bytes",
        "generated_code_size_in_bytes",
        "peak_memory_in_bytes",
    ):
        value = getattr(m, field, None)
        if value is not None:
            out[field.replace("_in_bytes", "_bytes")] = int(value)
    return out


_TRIVIAL_OPS = {"parameter", "constant", "get-tuple-element", "tuple", "bitcast"}


def hlo_stats(compiled: Any) -> dict[str, Any]:
    """Op counts of the optimized HLO: kernels (non-trivial instructions outside fused
    computations, i.e. what the runtime executes one after the other), fusions, dots
    (including those inside fusions), copies; and XLA's cost analysis (flops, bytes accessed).
    For a ``lax.scan`` the loop body is counted once, and XLA's cost analysis counts it once."""
    text = compiled.as_text()
    callees = set(re.findall(r"(?:calls|to_apply)=%?([\w.\-]+)", text))
    ops: collections.Counter = collections.Counter()
    for chunk in re.split(r"\n(?=\S)", text):
        head = re.match(r"(?:ENTRY\s+)?%?([\w.\-]+)\s", chunk)
        if not head or head.group(1) in callees or head.group(1) == "HloModule":
            continue
        for line in chunk.splitlines()[1:]:
            op = re.search(r"=\s*(?:\([^=]*?\)|\S+)\s+([a-z][\w\-]*)\(", line)
            if op:
                ops[op.group(1)] += 1
    out = {
        "hlo_kernels": sum(n for op, n in ops.items() if op not in _TRIVIAL_OPS),
        "hlo_fusions": ops.get("fusion", 0),
        "hlo_copies": ops.get("copy", 0),
        "hlo_dots": len(re.findall(r"\sdot\(", text)),
        "hlo_ops": dict(sorted((op, n) for op, n in ops.items() if op not in _TRIVIAL_OPS)),
    }
    try:
        cost = compiled.cost_analysis()
        if isinstance(cost, (list, tuple)):
            cost = cost[0] if cost else {}
        for k_in, k_out in (
            ("flops", "xla_flops"),
            ("bytes accessed", "xla_bytes_accessed"),
            ("transcendentals", "xla_transcendentals"),
        ):
            if cost and k_in in cost:
                out[k_out] = float(cost[k_in])
    except Exception as e:  # noqa: BLE001
        out["cost_analysis_error"] = repr(e)
    return out


# ---------------------------------------------------------------- interleaved timing


def calibrate(runner: Runner, target_s: float, max_units: int = 1_000_000) -> int:
    """Units per timed round so that a round takes about ``target_s`` (at least one unit)."""
    n = 1
    while True:
        dt = runner.run(n)
        if dt >= target_s / 4 or n >= max_units:
            break
        n = min(max_units, n * 4)
    return max(1, min(max_units, round(n * target_s / max(dt, 1e-9))))


def interleaved(
    runners: list[Runner],
    *,
    reps: int,
    target_s: float,
    warmup_units: int = 1,
    log: Callable[[str], None] = lambda s: None,
    pause: float = 0.0,
) -> None:
    """Warm up and calibrate every runner, then time ``reps`` rounds, A, B, C, A, B, C, ...,
    rotating the first runner each round. Fills ``runner.samples`` (seconds per step).
    ``pause`` seconds of sleep before each timed round (untimed) let the previous runner's
    thread pool go idle: XLA's and PyTorch's worker threads spin a while after their work, and
    on 2 cores they would slow whichever runner comes next."""
    for r in runners:
        r.run(warmup_units)
        r.units = calibrate(r, target_s)
    log("  units per round: " + ", ".join(f"{r.key}={r.units}x{r.steps_per_unit}" for r in runners))
    n = len(runners)
    for rep in range(reps):
        for i in range(n):
            r = runners[(rep + i) % n]
            if pause:
                time.sleep(pause)
            r.timed(r.units)


def summarize(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    q = statistics.quantiles(s, n=4, method="inclusive") if len(s) >= 2 else [s[0]] * 3
    return {
        "median_s": statistics.median(s),
        "p25_s": q[0],
        "p75_s": q[2],
        "min_s": s[0],
        "max_s": s[-1],
    }


def runner_record(r: Runner) -> dict[str, Any]:
    """What every report keeps of a timed runner: identity, the median and spread of its
    per-step time, every sample, its first and last loss, and its compile information."""
    return {
        "variant": r.name,
        "mode": r.mode,
        "library": r.library,
        "family": r.family,
        "description": r.description,
        "steps_per_unit": r.steps_per_unit,
        "units_per_round": r.units,
        "rounds": len(r.samples),
        **summarize(r.samples),
        "cpu_utilization_median": float(np.nanmedian(r.cpu)) if r.cpu else None,
        "first_loss": r.first_loss,
        "last_loss": r.last_loss,
        "samples_s": r.samples,
        "cpu_utilization": r.cpu,  # per round, as samples_s
        "compile": r.info,
    }


# ---------------------------------------------------------------- the GEMM limit


def gemm_peak(n: int, repeats: int) -> dict[str, Any]:
    """Peak float32 matmul throughput of jitted ``jnp.dot`` on ``n × n`` matrices: best of
    ``repeats`` timed calls (after one warm-up) and their median."""
    ka, kb = jax.random.split(jax.random.key(42))
    a = jax.random.normal(ka, (n, n), jnp.float32)
    b = jax.random.normal(kb, (n, n), jnp.float32)
    dot = jax.jit(jnp.dot)
    dot(a, b).block_until_ready()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        dot(a, b).block_until_ready()
        times.append(time.perf_counter() - t0)
    flops = 2.0 * n**3
    return {
        "size": n,
        "repeats": repeats,
        "best_s": min(times),
        "median_s": statistics.median(times),
        "gflops_best": flops / min(times) / 1e9,
        "gflops_median": flops / statistics.median(times) / 1e9,
    }


def torch_gemm_peak(n: int, repeats: int) -> dict[str, Any] | None:
    """The same measurement with ``torch.mm`` (informational), if torch is importable."""
    try:
        import torch
    except ImportError:
        return None
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g)
    b = torch.randn(n, n, generator=g)
    torch.mm(a, b)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - t0)
    return {
        "size": n,
        "repeats": repeats,
        "best_s": min(times),
        "gflops_best": 2.0 * n**3 / min(times) / 1e9,
    }


# ---------------------------------------------------------------- machine information


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _cpu_flags() -> list[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    wanted = (
                        "sse4_2",
                        "avx",
                        "avx2",
                        "fma",
                        "avx512f",
                        "avx512_bf16",
                        "avx512_vnni",
                        "amx_tile",
                    )
                    return [f for f in wanted if f in flags]
    except OSError:
        pass
    return []


def _version(module: str) -> str | None:
    try:
        from importlib import metadata

        return metadata.version(module)
    except Exception:  # noqa: BLE001
        return None


def machine_info(torch_threads: int | None) -> dict[str, Any]:
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = None
    try:
        with open("/proc/meminfo") as f:
            mem_kb = int(f.readline().split()[1])
    except (OSError, ValueError, IndexError):
        mem_kb = 0
    env_keys = (
        "XLA_FLAGS",
        "JAX_PLATFORMS",
        "JAX_ENABLE_X64",
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "OMP_WAIT_POLICY",
        "KMP_BLOCKTIME",
        "TF_CPP_MIN_LOG_LEVEL",
    )
    info: dict[str, Any] = {
        "cpu_model": _cpu_model(),
        "cpu_flags": _cpu_flags(),
        "cpu_count": os.cpu_count(),
        "cpus_available": affinity,
        "memory_gb": round(mem_kb / 2**20, 1),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "versions": {
            m: _version(m) for m in ("jax", "jaxlib", "numpy", "fnnet", "torch", "scikit-learn")
        },
        "jax_devices": [str(d) for d in jax.devices()],
        "env": {k: os.environ.get(k) for k in env_keys if os.environ.get(k) is not None},
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "torch_threads": torch_threads,
        "load_average_start": load_average(),
    }
    try:
        import threadpoolctl

        info["blas_threadpools"] = [
            {k: p.get(k) for k in ("internal_api", "num_threads", "version", "threading_layer")}
            for p in threadpoolctl.threadpool_info()
        ]
    except Exception:  # noqa: BLE001 - optional
        pass
    return info
