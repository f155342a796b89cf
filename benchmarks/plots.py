"""The benchmark figures (PNG), drawn from the JSON the benchmark scripts write.

* ``step_times.png``: per-step time of every variant and peer, one panel per configuration
  (median and interquartile range, log scale), from ``run.py``'s ``results.json``;
* ``sweep_cost.png``: a sweep's cost per member against the number of members K, from
  ``sweep_fastpath.json`` (and ``sweep_scaling.json`` when present).

``python benchmarks/run.py`` calls :func:`write_all` at its end; by hand:
``python benchmarks/plots.py [--results DIR] [--figures DIR]`` (default
``benchmarks/results`` → ``benchmarks/figures``). Needs matplotlib (the ``examples`` extra).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def step_times(results: dict, path: Path) -> Path:
    """One horizontal bar per (variant, mode), per configuration: median, IQR whiskers."""
    plt = _pyplot()
    configs = results["configs"]
    fig, axes = plt.subplots(1, len(configs), figsize=(4.2 * len(configs), 5.2), squeeze=False)
    colors = {"jax": "tab:blue", "torch": "tab:red", "sklearn": "tab:green"}
    for ax, (name, config) in zip(axes[0], configs.items()):
        rows = sorted(config["results"], key=lambda e: e["median_s"], reverse=True)
        labels = [f"{e['variant']} ({e['mode']})" for e in rows]
        med = [e["median_s"] * 1e6 for e in rows]
        lo = [max(m - e.get("p25_s", e["median_s"]) * 1e6, 0) for m, e in zip(med, rows)]
        hi = [max(e.get("p75_s", e["median_s"]) * 1e6 - m, 0) for m, e in zip(med, rows)]
        bar_colors = []
        for e in rows:
            color = colors.get(e.get("library", "jax"), "tab:gray")
            if e["variant"] == "raw_jax":
                color = "black"
            bar_colors.append(color)
        ax.barh(range(len(rows)), med, xerr=[lo, hi], color=bar_colors, alpha=0.8)
        ax.set_yticks(range(len(rows)), labels, fontsize=7)
        ax.set_xscale("log")
        ax.set_xlabel("µs per step (median, IQR)")
        shape = "-".join(map(str, config.get("sizes", [])))
        load = config.get("load_average_start", ["?"])[0]
        ax.set_title(
            f"{name}: {shape} {config.get('activation', '')}, batch {config.get('batch', '?')}"
            f" (load {load})",
            fontsize=8,
        )
        ax.grid(axis="x", which="both", alpha=0.3)
    fig.suptitle(
        f"Train step (forward + backward + Adam), float32; black = raw JAX; "
        f"{results.get('started_utc', '')}",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def sweep_cost(fastpath: dict | None, scaling: dict | None, path: Path) -> Path:
    """ms per member against K, one line per runner (fast path, fallback, raw JAX, sequential)."""
    plt = _pyplot()
    panels = [p for p in (("small MLP, 200 Adam steps", fastpath),) if p[1]]
    if scaling:
        panels += [(f"{m['config']} ({m['epochs']} epochs)", m) for m in scaling["results"]]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    for ax, (title, data) in zip(axes[0], panels):
        if "runner" in data["rows"][0]:  # sweep_fastpath.json
            names = sorted({r["runner"] for r in data["rows"]})
            for name in names:
                rows = sorted(
                    (r for r in data["rows"] if r["runner"] == name), key=lambda r: r["members"]
                )
                ks = [r["members"] for r in rows]
                if name == "sequential":
                    ax.axhline(
                        rows[0]["ms_per_member"], color="black", ls="--", label="sequential runs"
                    )
                    ax.axhline(
                        rows[0]["cpu_ms_per_member"], color="gray", ls=":", label="sequential (CPU)"
                    )
                    continue
                ax.plot(ks, [r["ms_per_member"] for r in rows], "o-", label=f"{name} (wall)")
                if name == "fnnet_shared":
                    ax.plot(ks, [r["cpu_ms_per_member"] for r in rows], "s:", label=f"{name} (CPU)")
        else:  # sweep_scaling.json
            ks = [r["members"] for r in data["rows"]]
            ax.plot(ks, [r["sweep_ms_per_member"] for r in data["rows"]], "o-", label="fnnet sweep")
            ax.plot(
                ks, [r["sequential_ms_per_member"] for r in data["rows"]], "k--", label="sequential"
            )
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("members K")
        ax.set_ylabel("ms per member")
        ax.set_title(title, fontsize=9)
        ax.grid(which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write_all(results_dir: Path, figures_dir: Path) -> list[Path]:
    """Draw every figure whose data exists under ``results_dir``; returns the files written."""
    figures_dir.mkdir(parents=True, exist_ok=True)
    written = []
    results = _read(results_dir / "results.json")
    if results and results.get("configs"):
        written.append(step_times(results, figures_dir / "step_times.png"))
    fastpath = _read(results_dir / "sweeps" / "sweep_fastpath.json")
    scaling = _read(results_dir / "sweeps" / "sweep_scaling.json")
    if fastpath or scaling:
        written.append(sweep_cost(fastpath, scaling, figures_dir / "sweep_cost.png"))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default=str(HERE / "results"))
    parser.add_argument("--figures", default=str(HERE / "figures"))
    args = parser.parse_args(argv)
    for path in write_all(Path(args.results), Path(args.figures)):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
