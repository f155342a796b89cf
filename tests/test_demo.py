"""Tests for the demo's command line: flag validation, help, tiny runs, a non-finite stop."""

import functools
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import fnnet
from fnnet import demo
from fnnet.gradcheck import assert_close

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def _cache_in_tmp(tmp_path_factory, monkeypatch):
    """The demo's default compilation cache goes to a temporary folder, never ~/.cache."""
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg")))


def _usage_error(argv, capsys):
    with pytest.raises(SystemExit) as info:
        demo.main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2, err
    assert err.count("\n") == 1 and err.startswith("python -m fnnet.demo: error: "), err
    return err


@pytest.mark.parametrize(
    "argv, flag, says",
    [
        (["--batch-size", "0"], "--batch-size", ">= 1; got 0"),
        (["--batch-size", "2.5"], "--batch-size", "expected int; got '2.5'"),
        (["--epochs", "0"], "--epochs", ">= 1; got 0"),
        (["--epochs", "-3"], "--epochs", ">= 1; got -3"),
        (["--hidden", "16", "0"], "--hidden", ">= 1; got 0"),
        (["--dropout", "1"], "--dropout", "< 1.0; got 1.0"),
        (["--dropout", "-0.1"], "--dropout", ">= 0.0; got -0.1"),
        (["--dropout", "nan"], "--dropout", "finite; got nan"),
        (["--input-dropout", "1.5"], "--input-dropout", "< 1.0; got 1.5"),
        (["--lr", "0"], "--lr", "> 0.0; got 0.0"),
        (["--lr=-1e-3"], "--lr", "> 0.0; got -0.001"),
        (["--lr", "nan"], "--lr", "finite; got nan"),
        (["--lr", "inf"], "--lr", "finite; got inf"),
        (["--lr", "fast"], "--lr", "expected float; got 'fast'"),
        (["--l2", "-1"], "--l2", ">= 0.0; got -1.0"),
        (["--dataset", "cifar"], "--dataset", "invalid choice: 'cifar'"),
        (["--model", "rnn"], "--model", "invalid choice: 'rnn'"),
        (
            ["--model", "gru"],
            "--model",
            "gru is not available for --dataset digits (it takes mlp, cnn)",
        ),
        (
            ["--dataset", "moons", "--model", "cnn"],
            "--model",
            "cnn is not available for --dataset moons (it takes mlp)",
        ),
        (
            ["--dataset", "mnist1d", "--model", "cnn", "--hidden", "8", "8"],
            "--hidden",
            "--model cnn takes one value; got 2",
        ),
        (
            ["--dataset", "mnist1d", "--model", "lstm", "--activation", "relu"],
            "--activation",
            "--model lstm has fixed gate activations; got relu",
        ),
        (
            ["--model", "cnn", "--optimizer", "adam", "--weight-decay", "0.1"],
            "--weight-decay",
            "only --optimizer adamw decays weights; got --optimizer adam",
        ),
        (["--weight-decay", "-1"], "--weight-decay", ">= 0.0; got -1.0"),
    ],
)
def test_bad_flags_exit_2_with_one_line_naming_the_flag(argv, flag, says, capsys, tmp_path):
    err = _usage_error([*argv, "--out", str(tmp_path)], capsys)
    assert f"argument {flag}" in err and says in err


def test_out_must_be_a_writable_folder(tmp_path, capsys):
    afile = tmp_path / "file.txt"
    afile.write_text("")
    for out in (afile, afile / "sub"):
        err = _usage_error(["--out", str(out)], capsys)
        assert "argument --out" in err and f"{afile} is a file, not a folder" in err
    assert demo.parse(["--out", str(tmp_path / "new" / "deeper")]).out.endswith("deeper")
    assert not (tmp_path / "new").exists()  # parsing creates nothing


def test_batch_larger_than_the_training_set_is_refused_before_training(tmp_path, capsys):
    err = _usage_error(
        ["--dataset", "moons", "--batch-size", "701", "--out", str(tmp_path)], capsys
    )
    assert "--batch-size: must be at most the 700 training samples of moons; got 701" in err
    assert not os.listdir(tmp_path)


def test_help_shows_defaults_and_presets(capsys):
    with pytest.raises(SystemExit) as info:
        demo.main(["--help"])
    assert info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # undo the line wrapping
    assert "--seed SEED seed of the split, init and batches (default: 0)" in text
    assert "(default: out)" in text and "(default: digits)" in text and "(default: mlp)" in text
    assert "learning rate > 0 (default: the preset)" in text
    assert "(default: None)" not in text
    for line in (  # the recipes of the README, docs/conv.md and docs/recurrent.md
        "digits/mlp: --hidden 512, --activation relu, --optimizer adam, --lr 0.001, --epochs 100, "
        "--batch-size 32, --dropout 0.5, --input-dropout 0.2 (cosine)",
        "digits/cnn: --hidden 32, --activation relu, --optimizer adamw, --lr 0.003, "
        "--weight-decay 0.05, --epochs 60, --batch-size 32, --dropout 0.3 (cosine)",
        "mnist1d/mlp: --hidden 100 100, --activation relu, --optimizer adam, --lr 0.01, "
        "--epochs 150, --batch-size 100 (residual)",
        "mnist1d/cnn: --hidden 64, --activation relu, --optimizer adamw, --lr 0.02, "
        "--weight-decay 0.05, --epochs 60, --batch-size 50 (cosine)",
        "mnist1d/gru: --hidden 6, --optimizer adam, --lr 0.01, --epochs 150, --batch-size 100 ",
        "mnist1d/lstm: --hidden 6, --optimizer adam, --lr 0.01, --epochs 150, --batch-size 100 ",
        "mnist1d/elman: --hidden 6, --activation tanh, --optimizer adam, --lr 0.01, --epochs 150, "
        "--batch-size 100 ",
    ):
        assert line in text, line


def test_presets_fill_the_flags_not_given():
    args = demo.parse(["--dataset", "mnist1d", "--lr", "0.5"])
    preset = demo.PRESETS["mnist1d", "mlp"]
    assert args.lr == 0.5 and args.epochs == preset["epochs"] and args.hidden == preset["hidden"]
    assert args.residual is True and args.input_dropout == preset["input_dropout"]
    args = demo.parse(["--dataset", "mnist1d", "--model", "cnn", "--epochs", "2"])
    assert (args.optimizer, args.lr, args.weight_decay, args.cosine) == ("adamw", 2e-2, 5e-2, True)
    assert (args.epochs, args.batch_size, args.hidden, args.residual) == (2, 50, (64,), False)
    args = demo.parse(["--model", "cnn", "--optimizer", "adam", "--dropout", "0"])
    assert (args.optimizer, args.weight_decay, args.dropout, args.lr) == ("adam", 0.0, 0.0, 3e-3)
    args = demo.parse(["--dataset", "mnist1d", "--model", "elman"])
    assert (args.activation, args.epochs * 4000 // args.batch_size) == ("tanh", 6000)
    assert demo.parse(["--dataset", "mnist1d", "--model", "gru"]).activation is None


def test_inputs_per_model():
    digits = fnnet.data.digits().x
    train, test = np.asarray(digits[:1000]), np.asarray(digits[1000:])
    images = demo.prepare("digits", "cnn", test, train)  # pixels kept in [0, 1], as images
    np.testing.assert_array_equal(images, test.reshape(-1, 8, 8, 1))
    standard = np.asarray(demo.prepare("digits", "mlp", train, train))  # training statistics
    exact = train.astype(np.float64)  # the reference in float64; the table's float32 row
    scale = np.where(exact.std(0) > 0, exact.std(0), 1.0)
    assert_close(standard, (exact - exact.mean(0)) / scale)
    series = np.zeros((3, 40))
    assert demo.prepare("mnist1d", "gru", series, series).shape == (3, 40, 1)
    assert demo.prepare("mnist1d", "mlp", series, series) is series


def test_tiny_run_writes_metrics_and_says_where(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["--dataset", "moons", "--epochs", "2", "--hidden", "4", "--batch-size", "300"]
    assert demo.main([*argv, "--input-dropout", "0.1", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("2 epochs (4 steps), dropout 0.0, input dropout 0.1"), lines[0]
    assert lines[1].startswith("epoch 1/2") and lines[2].startswith("epoch 2/2")  # fit's lines
    assert lines[-1] == f"wrote {out / 'metrics.json'}"
    with open(out / "metrics.json") as f:
        metrics = json.load(f)
    assert metrics["steps"] == metrics["steps_planned"] == 4 and metrics["epochs"] == 2
    assert metrics["nonfinite"] is None and 0.0 <= metrics["test_accuracy"] <= 1.0


_mnist1d = functools.cache(fnnet.data.mnist1d)  # generated once for the whole module


_RNN = "adam lr 0.01, batch 100, 1 epochs (40 steps), dropout 0.0"


@pytest.mark.parametrize(
    "dataset, model, parameters, steps, line",
    [  # parameters: conv k·c_in·c_out + c_out per layer; PyTorch's counts for the RNNs
        ("digits", "cnn", 320 + 9248 + 18496 + 2570, 39, "cnn width 32 relu ({:,} parameters), "
         "adamw lr 0.003 cosine, weight decay 0.05, batch 32, 1 epochs (39 steps), dropout 0.3"),
        ("mnist1d", "cnn", 192 + 6208 + 12352 + 3210, 80, "cnn width 64 relu ({:,} parameters), "
         "adamw lr 0.02 cosine, weight decay 0.05, batch 50, 1 epochs (80 steps), dropout 0.0"),
        ("mnist1d", "gru", 5134, 40, "bidirectional gru, 6 units per direction ({:,} parameters), "
         + _RNN),
        ("mnist1d", "lstm", 5242, 40, "bidirectional lstm, 6 units per direction ({:,} "
         "parameters), " + _RNN),
        ("mnist1d", "elman", 4918, 40, "bidirectional elman tanh, 6 units per direction ({:,} "
         "parameters), " + _RNN),
    ],
)  # fmt: skip
def test_tiny_run_of_each_model(dataset, model, parameters, steps, line, tmp_path, capsys,
                                monkeypatch):  # fmt: skip
    monkeypatch.setattr(fnnet.data, "mnist1d", _mnist1d)
    argv = ["--dataset", dataset, "--model", model, "--epochs", "1", "--quiet"]
    assert demo.main([*argv, "--out", str(tmp_path)]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert f"test), {line.format(parameters)}, input dropout 0.0" in first, first
    with open(tmp_path / "metrics.json") as f:
        metrics = json.load(f)
    assert (metrics["dataset"], metrics["model"], metrics["parameters"]) == (
        dataset, model, parameters,
    )  # fmt: skip
    assert metrics["steps"] == metrics["steps_planned"] == steps and metrics["epochs"] == 1
    assert metrics["nonfinite"] is None and 0.2 < metrics["test_accuracy"] <= 1.0  # chance: 0.1


def test_nonfinite_stop_is_the_last_line_and_exits_nonzero(tmp_path, capsys):
    # Adam moves every weight by ~lr in its first step: the second step's logits overflow.
    argv = ["--dataset", "moons", "--epochs", "2", "--hidden", "4", "--batch-size", "100"]
    assert demo.main([*argv, "--lr", "1e30", "--quiet", "--out", str(tmp_path)]) == 1
    last = capsys.readouterr().out.splitlines()[-1]
    with open(tmp_path / "metrics.json") as f:
        metrics = json.loads(f.read())  # strict JSON: a NaN test loss is written as null
    stop = metrics["nonfinite"]
    assert stop is not None and last.startswith(f"stopped at step {stop['step']} (epoch 1) of 14")
    assert "non-finite" in last and "last finite parameters" in last
    assert metrics["steps"] == stop["step"] < metrics["steps_planned"] == 14
    assert metrics["epochs"] == 1


def test_command_line_exit_status():
    result = subprocess.run(
        [sys.executable, "-m", "fnnet.demo", "--epochs", "0"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr == (
        "python -m fnnet.demo: error: argument --epochs: must be an int >= 1; got 0. (see --help)\n"
    )


def test_cache_folder_defaults_and_switch(tmp_path, capsys, monkeypatch):
    assert demo.parse([]).cache_dir == os.path.join(os.environ["XDG_CACHE_HOME"], "fnnet", "jax")
    assert demo.parse(["--no-cache"]).cache_dir is None
    assert demo.parse(["--cache-dir", str(tmp_path)]).cache_dir == str(tmp_path)
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path / "jax"))  # JAX's own variable
    assert demo.parse([]).cache_dir == str(tmp_path / "jax")
    err = _usage_error(["--no-cache", "--cache-dir", str(tmp_path)], capsys)
    assert "argument --no-cache: not allowed with --cache-dir" in err


@pytest.mark.slow
def test_second_run_loads_every_program_from_the_cache(tmp_path):
    """The first run fills the cache folder; the second compiles nothing new (no new entry)."""
    cache = tmp_path / "cache"
    argv = ["--dataset", "moons", "--epochs", "1", "--hidden", "4", "--quiet"]
    entries = []
    for _ in range(2):
        result = subprocess.run(
            [sys.executable, "-m", "fnnet.demo", *argv, "--cache-dir", str(cache)],
            capture_output=True,
            text=True,
            check=False,
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": ROOT},
            timeout=300,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        assert f"compilation cache {cache})" in result.stdout
        entries.append(sorted(os.listdir(cache)))
    assert len(entries[0]) > 0 and entries[1] == entries[0]
