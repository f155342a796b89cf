"""Smoke test of the benchmark harness (benchmarks/run.py): it runs, and writes well-formed
results. No timing is asserted: speed is the benchmark's business, not the test suite's."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fnnet.gradcheck import assert_close

RUN = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"


def _run(out: Path, *extra: str) -> dict:
    proc = subprocess.run(
        [sys.executable, str(RUN), "--out", str(out), *extra],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert (out / "results.md").read_text().startswith("# fnnet train-step benchmarks")
    return results


def _check_entry(entry: dict) -> None:
    for field in (
        "median_s",
        "p25_s",
        "p75_s",
        "steps_per_s",
        "gemm_fraction",
        "ratio_vs_reference",
    ):
        assert math.isfinite(entry[field]) and entry[field] > 0, (
            entry["variant"],
            field,
            entry[field],
        )
    assert entry["p25_s"] <= entry["median_s"] <= entry["p75_s"]
    assert entry["rounds"] == len(entry["samples_s"]) >= 1
    assert math.isfinite(entry["last_loss"])


@pytest.mark.skipif(not RUN.exists(), reason="benchmarks/ not present")
def test_smoke_run_writes_json_and_markdown(tmp_path):
    results = _run(tmp_path, "--smoke")
    assert results["schema"] == 1
    assert results["settings"]["smoke"] and results["settings"]["configs"] == ["tiny"]
    machine = results["machine"]
    for field in ("cpu_model", "cpu_count", "versions", "xla_flags", "load_average_start"):
        assert field in machine
    assert machine["versions"]["jax"]
    assert results["gemm"]["peak_gflops"] > 0

    tiny = results["configs"]["tiny"]
    assert tiny["sizes"] == [2, 2, 2] and tiny["batch"] == 1
    assert tiny["flops_per_step"] == 6 * 1 * (2 * 2 + 2 * 2)
    keys = {(e["variant"], e["mode"]) for e in tiny["results"]}
    assert {
        ("raw_jax", "loop"),
        ("raw_jax", "scan"),
        ("fnnet_step", "loop"),
        ("fnnet_step", "scan"),
    } <= keys
    for entry in tiny["results"]:
        _check_entry(entry)
        assert entry["compile"]["compile_s"] > 0 and entry["compile"]["hlo_kernels"] > 0
    ref = [e for e in tiny["results"] if e["variant"] == "raw_jax"]
    assert all(e["ratio_vs_reference"] == 1.0 for e in ref)
    # every variant starts from the same params and batch: the first losses must agree
    assert tiny["first_loss_spread"] < 1e-5

    goals = results["goals"]
    assert goals and all(
        {"goal", "config", "mode", "subject", "value", "ok"} <= set(g) for g in goals
    )

    md = (tmp_path / "results.md").read_text()
    for heading in (
        "## Machine",
        "## GEMM limit",
        "### tiny",
        "## Compilation and memory",
        "## Goals",
    ):
        assert heading in md
    assert "| `fnnet_step` | scan |" in md


@pytest.mark.slow
@pytest.mark.skipif(
    not (importlib.util.find_spec("torch") or importlib.util.find_spec("sklearn")),
    reason="no optional peer (torch, scikit-learn) installed",
)
def test_peers_run(tmp_path):
    results = _run(
        tmp_path,
        "--configs",
        "tiny",
        "--variants",
        "raw_jax",
        "--modes",
        "loop",
        "--reps",
        "2",
        "--target-seconds",
        "0.01",
        "--gemm-size",
        "256",
        "--gemm-repeats",
        "2",
    )
    entries = {e["variant"]: e for e in results["configs"]["tiny"]["results"]}
    for name, available in results["settings"]["peers"].items():
        variant = {"torch": "torch_eager", "sklearn": "sklearn_mlp"}[name]
        assert (variant in entries) == available
        if available:
            _check_entry(entries[variant])
            assert entries[variant]["reference"] == "raw_jax/loop"
    if "torch_eager" in entries:  # the same initial params and batch as the JAX variants
        torch_loss, jax_loss = (entries[v]["first_loss"] for v in ("torch_eager", "raw_jax"))
        assert_close(np.float32(torch_loss), np.float32(jax_loss))  # float32 losses (JSON floats)


FAMILIES = RUN.parent / "families.py"


@pytest.mark.skipif(not FAMILIES.exists(), reason="benchmarks/ not present")
def test_families_smoke_run_checks_equal_work(tmp_path):
    """issue 22's one command: every runner of a network starts from the same weights and batch
    (first losses agree), ratios are against raw JAX in the same mode, and the report is written."""
    proc = subprocess.run(
        [sys.executable, str(FAMILIES), "--smoke", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((tmp_path / "families.json").read_text())
    assert set(results["cases"]) == {"lstm_smoke", "conv_smoke"}
    for case in results["cases"].values():
        assert case["first_loss_spread"] < 1e-5
        keys = {e["key"] for e in case["results"]}
        assert {"raw_jax/loop", "raw_jax/scan", "fnnet_step/loop", "fnnet_step/scan"} <= keys
        for entry in case["results"]:
            assert entry["p25_s"] <= entry["median_s"] <= entry["p75_s"]
            assert math.isfinite(entry["ratio"]) and entry["ratio"] > 0
            assert math.isfinite(entry["last_loss"])
            assert entry["compile"]["lower_compile_cpu_s"] > 0
            if entry["variant"] == "raw_jax":
                assert entry["ratio"] == 1.0
    assert any(g["goal"] == "compile ≤ raw" for g in results["goals"])
    md = (tmp_path / "families.md").read_text()
    assert "## Summary" in md and "## lstm_smoke" in md and "## Goals" in md
