"""Smoke tests of the recurrent examples: each runs a few steps end to end (``--quick``)."""

import numpy as np
import pytest


@pytest.mark.slow
def test_temporal_xor_quick(tmp_path, load_example):
    pytest.importorskip("matplotlib")
    error = load_example("temporal_xor").main(["--quick", "--out", str(tmp_path)])
    assert error.shape == (29,) and np.all((error >= 0) & (error <= 1))
    assert (tmp_path / "temporal_xor.png").exists()


@pytest.mark.slow
def test_rnn_mnist1d_quick(tmp_path, load_example):
    pytest.importorskip("mnist1d")
    result = load_example("rnn_mnist1d").main(
        ["--quick", "--model", "elman", "--out", str(tmp_path)]
    )
    assert result["parameters"] == 4918 and len(result["accuracy"]) == 2
    assert all(0.0 <= a <= 1.0 for a in result["accuracy"])
