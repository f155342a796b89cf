"""Smoke tests of the recurrent examples: each runs a few steps end to end (``--quick``)."""

import importlib.util
import pathlib

import numpy as np
import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_temporal_xor_quick(tmp_path):
    pytest.importorskip("matplotlib")
    error = _load("temporal_xor").main(["--quick", "--out", str(tmp_path)])
    assert error.shape == (29,) and np.all((error >= 0) & (error <= 1))
    assert (tmp_path / "temporal_xor.png").exists()


@pytest.mark.slow
def test_rnn_mnist1d_quick(tmp_path):
    pytest.importorskip("mnist1d")
    result = _load("rnn_mnist1d").main(["--quick", "--model", "elman", "--out", str(tmp_path)])
    assert result["parameters"] == 4918 and len(result["accuracy"]) == 2
    assert all(0.0 <= a <= 1.0 for a in result["accuracy"])
