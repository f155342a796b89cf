"""Markdown rendering of a results dictionary (see run.py for its layout)."""

from __future__ import annotations

from typing import Any


def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 1e-6:
        return f"{seconds * 1e9:.0f} ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.3g} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds:.3g} s"


def _mb(n: int | None) -> str:
    return "–" if n is None else f"{n / 2**20:.1f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def markdown(res: dict[str, Any]) -> str:
    m, s, g = res["machine"], res["settings"], res["gemm"]
    v = m["versions"]
    lines = [
        "# fnnet train-step benchmarks",
        "",
        f"Command: `{res['command']}`  ",
        f"Started {res['started_utc']}, took {res['duration_s']:.0f} s.",
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu_model']} ({', '.join(m['cpu_flags'])}); {m['cpu_count']} CPUs, "
        f"{m['cpus_available']} available to this process; {m['memory_gb']} GB",
        f"- load average at start {m['load_average_start']}, at end {m.get('load_average_end')}"
        + (" **(the machine was loaded: timings are noisy)**" if _loaded(m) else ""),
        f"- jax {v.get('jax')}, jaxlib {v.get('jaxlib')}, numpy {v.get('numpy')}, fnnet {v.get('fnnet')}, "
        f"torch {v.get('torch')}, scikit-learn {v.get('scikit-learn')}; Python {m['python']}",
        f"- XLA_FLAGS={m['xla_flags']!r}; env {m['env'] or '{}'}; torch threads {m['torch_threads']}",
        f"- {m['platform']}",
        "",
        "## GEMM limit",
        "",
        f"Peak float32 matmul (jitted `jnp.dot`, {g['start']['size']}², best of {g['start']['repeats']}): "
        f"**{g['peak_gflops']:.1f} GFLOP/s** (start {g['start']['gflops_best']:.1f}, end {g['end']['gflops_best']:.1f}"
        + (f"; `torch.mm` {g['torch']['gflops_best']:.1f}" if g.get("torch") else "")
        + "), the best rate seen in the run: at the start, at the end, and in every round of every "
        "configuration, where one matmul is timed among the variants. A configuration's *GEMM-limit step* "
        "is `6·B·Σ fan_in·fan_out` FLOPs at that rate; *% limit* is that time over the measured step time. "
        "*% matched* uses the median matmul rate of the configuration's own rounds instead: under load "
        "it compares like with like.",
        "",
        "## Train-step time",
        "",
        f"Float32, forward + backward + Adam on one minibatch. Median over {s['reps']} interleaved rounds "
        "(IQR in brackets). *× ref* is the time over the raw-JAX reference's in the same mode "
        "(peers: against raw JAX `loop`); below 1 is faster; *× ref (min)* is the ratio of the fastest "
        "rounds, the least disturbed by other load. `loop` = Python loop of a donated jitted "
        "step; `scan` = one compiled `lax.scan` of many steps per call.",
        "",
    ]
    for name, c in res["configs"].items():
        lines += [
            f"### {name}: {'-'.join(map(str, c['sizes']))} {c['activation']}, batch {c['batch']}",
            "",
            f"{c['num_params']:,} parameters, {c['flops_per_step'] / 1e6:.4g} MFLOP per step, GEMM-limit step "
            f"{fmt_time(c['gemm_limit_step_s'])}; scan length {c['scan_steps']}; load {c['load_average_start']} → "
            f"{c['load_average_end']}; first-step losses agree to {c['first_loss_spread']:.2g}; interleaved "
            f"matmul {c['gemm_interleaved']['gflops_median']:.1f} GFLOP/s median, "
            f"{c['gemm_interleaved']['gflops_best']:.1f} best.",
            "",
        ]
        rows = []
        for e in sorted(
            c["results"], key=lambda e: (e["library"] != "jax", e["mode"], e["median_s"])
        ):
            rows.append(
                [
                    f"`{e['variant']}`",
                    e["mode"],
                    f"{fmt_time(e['median_s'])} [{fmt_time(e['p25_s'])}, {fmt_time(e['p75_s'])}]",
                    f"{e['ratio_vs_reference']:.2f}"
                    if e["ratio_vs_reference"] is not None
                    else "–",
                    f"{e['ratio_of_minima']:.2f}" if e.get("ratio_of_minima") is not None else "–",
                    _pct(e["gemm_fraction"]),
                    _pct(e["gemm_fraction_matched"]),
                    f"{e['steps_per_s']:,.0f}",
                    f"{e['cpu_utilization_median']:.2f}"
                    if e["cpu_utilization_median"] is not None
                    else "–",
                ]
            )
        lines += _table(
            [
                "variant",
                "mode",
                "median/step [IQR]",
                "× ref",
                "× ref (min)",
                "% limit",
                "% matched",
                "steps/s",
                "CPU util",
            ],
            rows,
        )
        lines.append("")
    lines += [
        "## Compilation and memory",
        "",
        "`lower` = trace + lower, `compile` = XLA compile, `first` = first call after compiling (ms); "
        "sizes from `Compiled.memory_analysis()` (MB; args include the donated state and the batch, temp is "
        "XLA's scratch; its `peak_memory_in_bytes`, in the JSON, is not meaningful on CPU); *RSS Δ*: process "
        "growth while compiling and running the first call; "
        "*kernels* = HLO instructions the runtime executes per step (outside fusions; for `scan`, the "
        "loop body once), *fusions*, *dots* (inside fusions too), *copies*; *XLA GB* = bytes accessed by "
        "XLA's cost analysis (scan: body counted once).",
        "",
    ]
    rows = []
    for name, c in res["configs"].items():
        for e in c["results"]:
            i = e["compile"]
            rows.append(
                [
                    name,
                    f"`{e['variant']}`",
                    e["mode"],
                    f"{1e3 * i['lower_s']:.0f}" if "lower_s" in i else "–",
                    f"{1e3 * i['compile_s']:.0f}" if "compile_s" in i else "–",
                    f"{1e3 * i['first_call_s']:.1f}" if "first_call_s" in i else "–",
                    _mb(i.get("argument_size_bytes")),
                    _mb(i.get("temp_size_bytes")),
                    _mb(i.get("rss_delta_bytes")),
                    str(i.get("hlo_kernels", "–")),
                    str(i.get("hlo_fusions", "–")),
                    str(i.get("hlo_dots", "–")),
                    str(i.get("hlo_copies", "–")),
                    f"{i['xla_bytes_accessed'] / 1e9:.3g}" if "xla_bytes_accessed" in i else "–",
                ]
            )
    lines += _table(
        [
            "config",
            "variant",
            "mode",
            "lower ms",
            "compile ms",
            "first ms",
            "args MB",
            "temp MB",
            "RSS Δ MB",
            "kernels",
            "fusions",
            "dots",
            "copies",
            "XLA GB",
        ],
        rows,
    )
    lines += [
        "",
        "## Goals",
        "",
        f"Checked with a {100 * s['tolerance']:.0f}% noise allowance.",
        "",
    ]
    rows = []
    for goal in res["goals"]:
        value = (
            f"{100 * goal['value']:.1f}%"
            if "fraction" in goal["detail"]
            else f"{goal['value']:.3f}"
        )
        rows.append(
            [
                goal["goal"],
                goal["config"],
                goal["mode"],
                f"`{goal['subject']}`",
                f"`{goal['reference']}`",
                value,
                "yes" if goal["ok"] else "**no**",
            ]
        )
    lines += _table(
        ["goal", "config", "mode", "subject", "against", "time ratio / fraction", "met"], rows
    )
    sw = res.get("sweeps") or {}
    lines += [
        "",
        "## Sweep scaling",
        "",
        f"Status: {sw.get('status')}" + (f" (`{sw['command']}`)" if sw.get("command") else ""),
        "",
    ]
    if sw.get("markdown"):
        lines += [sw["markdown"].strip(), ""]
    lines += ["## Variants", ""]
    seen = set()
    for c in res["configs"].values():
        for e in c["results"]:
            if e["variant"] not in seen:
                seen.add(e["variant"])
                lines.append(f"- `{e['variant']}`: {e['description']}")
    lines.append("")
    return "\n".join(lines)


def _pct(fraction: float | None) -> str:
    if fraction is None:
        return "–"
    return f"{100 * fraction:.1f}%" if fraction >= 0.0005 else f"{100 * fraction:.2g}%"


def _loaded(m: dict) -> bool:
    cpus = m.get("cpus_available") or m.get("cpu_count") or 1
    loads = [m.get("load_average_start"), m.get("load_average_end")]
    return any(load and load[0] > 0.5 * cpus for load in loads)


if __name__ == "__main__":  # re-render: python benchmarks/report.py results.json > results.md
    import json
    import sys

    with open(sys.argv[1]) as f:
        sys.stdout.write(markdown(json.load(f)))
