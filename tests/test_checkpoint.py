"""Tests for fnnet.checkpoint: round trips by key path, mismatch errors, corruption, atomicity."""

import json
import os
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fnnet import checkpoint


class Params(NamedTuple):
    w: jax.Array
    b: jax.Array


class AdamState(NamedTuple):
    count: jax.Array
    mu: tuple
    nu: tuple


def _state(key):
    """Params, optimizer state, step, RNG keys and scalars, with distinct non-trivial values."""
    params = (
        Params(
            jnp.arange(6.0, dtype=jnp.float32).reshape(2, 3),
            jnp.array([0.5, -1.5, 2.5], jnp.float32),
        ),
        {"out": Params(jnp.full((3, 1), 0.25, jnp.float32), jnp.array([-3.0], jnp.float32))},
    )
    moments = jax.tree.map(lambda p: p * 0.1, params)
    return {
        "params": params,
        "opt_state": AdamState(
            jnp.array(12, jnp.int32), moments, jax.tree.map(lambda m: m * m, moments)
        ),
        "step": jnp.array(7, jnp.int32),
        "key": key,
        "keys": jax.random.split(key, 3),
        "learning_rate": 0.125,
        "epoch": 4,
        "host": np.arange(5, dtype=np.int64),
        "half": jnp.array([1.5, -2.0], jnp.bfloat16),
        "empty": jnp.zeros((0, 4), jnp.float32),
    }


def _template(tree):
    """Same structure, shapes and dtypes, different values (keys from another seed)."""

    def blank(leaf):
        if isinstance(leaf, jax.Array) and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            return (
                jax.random.split(jax.random.key(99), leaf.shape)
                if leaf.shape
                else jax.random.key(99)
            )
        if isinstance(leaf, (int, float)):
            return type(leaf)(0)
        return np.zeros_like(leaf) if isinstance(leaf, np.ndarray) else jnp.zeros_like(leaf)

    return jax.tree.map(blank, tree)


def _assert_same(loaded, original):
    assert jax.tree.structure(loaded) == jax.tree.structure(jax.tree.map(jnp.asarray, original))
    for (path, a), b in zip(
        jax.tree_util.tree_flatten_with_path(loaded)[0], jax.tree.leaves(original)
    ):
        if isinstance(b, jax.Array) and jax.dtypes.issubdtype(b.dtype, jax.dtypes.prng_key):
            assert a.dtype == b.dtype, path
            np.testing.assert_array_equal(jax.random.key_data(a), jax.random.key_data(b))
            continue
        b = jnp.asarray(b) if isinstance(b, (int, float)) else b
        assert a.shape == b.shape and a.dtype == b.dtype, path
        np.testing.assert_array_equal(np.asarray(a, np.float64), np.asarray(b, np.float64))


def test_round_trip_restores_every_leaf(tmp_path, key):
    state = _state(key)
    path = tmp_path / "ckpt.npz"
    checkpoint.save(path, state)
    loaded = checkpoint.load(path, like=_template(state))
    _assert_same(loaded, state)
    assert isinstance(loaded["opt_state"], AdamState) and isinstance(loaded["params"][0], Params)
    assert isinstance(loaded["host"], np.ndarray) and isinstance(loaded["params"][0].w, jax.Array)
    assert loaded["epoch"].shape == () and loaded["epoch"].dtype == jnp.int32
    assert loaded["learning_rate"].dtype == jnp.float32
    # The restored key draws the same numbers as the saved one.
    np.testing.assert_array_equal(
        jax.random.normal(loaded["key"], (3,)), jax.random.normal(key, (3,))
    )


def test_file_is_plain_npz_named_by_key_path(tmp_path, key):
    state = _state(key)
    path = tmp_path / "ckpt.npz"
    checkpoint.save(path, state)
    with np.load(path, allow_pickle=False) as npz:  # readable without pickle
        names = set(npz.files)
        header = json.loads(str(npz["__fnnet_checkpoint__"]))
        np.testing.assert_array_equal(npz["['params'][0].w"], state["params"][0].w)
        np.testing.assert_array_equal(
            npz["['opt_state'].mu[1]['out'].b"], state["opt_state"].mu[1]["out"].b
        )
        np.testing.assert_array_equal(npz["['keys']"], jax.random.key_data(state["keys"]))
    expected = {jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(state)[0]}
    assert names == expected | {"__fnnet_checkpoint__"}
    assert header["version"] == checkpoint._FORMAT_VERSION
    assert header["leaves"]["['key']"]["key_impl"] == str(jax.random.key_impl(key))


def test_non_default_key_impl_round_trips(tmp_path):
    key = jax.random.key(5, impl="rbg")
    checkpoint.save(tmp_path / "k.npz", {"key": key})
    loaded = checkpoint.load(tmp_path / "k.npz", like={"key": jax.random.key(0, impl="rbg")})
    np.testing.assert_array_equal(jax.random.key_data(loaded["key"]), jax.random.key_data(key))
    with pytest.raises(
        ValueError, match=r"\['key'\].*expected PRNG key implementation threefry2x32, got rbg"
    ):
        checkpoint.load(tmp_path / "k.npz", like={"key": jax.random.key(0)})


def test_shape_dtype_struct_template(tmp_path):
    tree = {"w": jnp.ones((2, 3), jnp.float32), "step": jnp.array(3, jnp.int32)}
    checkpoint.save(tmp_path / "c.npz", tree)
    like = jax.eval_shape(lambda: tree)
    _assert_same(checkpoint.load(tmp_path / "c.npz", like), tree)


def test_single_array_tree(tmp_path):
    checkpoint.save(tmp_path / "a.npz", jnp.arange(3.0))
    np.testing.assert_array_equal(
        checkpoint.load(tmp_path / "a.npz", like=jnp.zeros(3)), np.arange(3.0)
    )


# --- mismatches ------------------------------------------------------------------------------


@pytest.fixture
def saved(tmp_path):
    tree = {
        "a": jnp.zeros((2, 3), jnp.float32),
        "b": (jnp.zeros(4, jnp.int32), jnp.zeros((), jnp.float32)),
    }
    path = tmp_path / "ckpt.npz"
    checkpoint.save(path, tree)
    return path, tree


def test_missing_key_path_is_named(saved):
    path, tree = saved
    like = dict(tree, c=jnp.zeros(2, jnp.float32), d=jnp.zeros(1, jnp.float32))
    with pytest.raises(
        ValueError,
        match=r"key path \['c'\]: expected an array of shape \(2,\) dtype float32, got none.*2 key path",
    ):
        checkpoint.load(path, like)


def test_extra_key_path_is_named(saved):
    path, tree = saved
    with pytest.raises(
        ValueError, match=r"key path \['b'\]\[1\]: the file has this key path .*but `like` does not"
    ):
        checkpoint.load(path, {"a": tree["a"], "b": (tree["b"][0],)})


def test_first_shape_mismatch_is_named(saved):
    path, tree = saved
    like = {"a": jnp.zeros((3, 2), jnp.float32), "b": (jnp.zeros(5, jnp.int32), tree["b"][1])}
    with pytest.raises(
        ValueError, match=r"key path \['a'\]: expected shape \(3, 2\), got \(2, 3\)"
    ) as info:
        checkpoint.load(path, like)
    assert str(path) in str(info.value)


def test_dtype_mismatch_is_named(saved):
    path, tree = saved
    like = {"a": tree["a"], "b": (jnp.zeros(4, jnp.float32), tree["b"][1])}
    with pytest.raises(
        ValueError, match=r"key path \['b'\]\[0\]: expected dtype float32, got int32"
    ):
        checkpoint.load(path, like)


def test_key_where_template_has_plain_array(tmp_path, key):
    checkpoint.save(tmp_path / "k.npz", {"key": key})
    with pytest.raises(
        ValueError, match=r"\['key'\].*expected PRNG key implementation None, got threefry2x32"
    ):
        checkpoint.load(tmp_path / "k.npz", like={"key": jnp.zeros(2, jnp.uint32)})


def test_unsupported_leaf_is_named(tmp_path):
    with pytest.raises(
        TypeError, match=r"`tree` leaf \['f'\] must be an array or a Python scalar; got str"
    ):
        checkpoint.save(tmp_path / "x.npz", {"f": "text"})
    assert os.listdir(tmp_path) == []


# --- corrupted files -------------------------------------------------------------------------


def test_truncated_file_names_the_path(saved):
    path, tree = saved
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(
        ValueError, match=r"is not a readable fnnet checkpoint \(corrupted, truncated"
    ) as info:
        checkpoint.load(path, tree)
    assert str(path) in str(info.value)


def test_flipped_byte_is_caught_by_the_zip_checksum(tmp_path):
    tree = {"w": jnp.arange(1000.0, dtype=jnp.float32)}
    path = tmp_path / "ckpt.npz"
    checkpoint.save(path, tree)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the 4000 bytes of array data
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="Bad CRC-32") as info:
        checkpoint.load(path, tree)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all" * 10])
def test_garbage_file_names_the_path(tmp_path, content):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="not a readable fnnet checkpoint") as info:
        checkpoint.load(path, {"a": jnp.zeros(1)})
    assert str(path) in str(info.value)


def test_foreign_npz_and_npy_are_rejected(tmp_path):
    np.savez(tmp_path / "other.npz", a=np.zeros(1))
    with pytest.raises(ValueError, match="no fnnet checkpoint header"):
        checkpoint.load(tmp_path / "other.npz", {"a": jnp.zeros(1)})
    np.save(tmp_path / "array.npy", np.zeros(1))
    with pytest.raises(ValueError, match="a bare .npy array"):
        checkpoint.load(tmp_path / "array.npy", {"a": jnp.zeros(1)})


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        checkpoint.load(tmp_path / "nope.npz", {"a": jnp.zeros(1)})


def test_save_into_a_missing_or_readonly_directory_names_the_path(tmp_path):
    missing = tmp_path / "run" / "ckpt.npz"
    with pytest.raises(
        FileNotFoundError, match=r"`path` '.*run/ckpt.npz': its directory .* does not exist"
    ) as err:
        checkpoint.save(missing, {"a": jnp.zeros(1)})
    assert ".tmp" not in str(err.value)  # not tempfile's hidden temporary
    readonly = tmp_path / "ro"
    readonly.mkdir()
    readonly.chmod(0o500)
    for directory in (str(readonly), "/sys"):  # root ignores permission bits, not /sys
        target = os.path.join(directory, "ckpt.npz")
        try:
            checkpoint.save(target, {"a": jnp.zeros(1)})
        except PermissionError as err:
            says = f"`path` '{target}': its directory '{directory}' does not accept a new file"
            assert says in str(err) and ".tmp" not in str(err)
            break
        os.remove(target)
    else:
        pytest.skip("no unwritable directory available")
    readonly.chmod(0o700)


def test_newer_format_version_is_rejected(tmp_path):
    header = json.dumps(
        {"format": "fnnet.checkpoint", "version": checkpoint._FORMAT_VERSION + 1, "leaves": {}}
    )
    np.savez(tmp_path / "new.npz", __fnnet_checkpoint__=np.array(header))
    with pytest.raises(ValueError, match=f"format version {checkpoint._FORMAT_VERSION + 1}"):
        checkpoint.load(tmp_path / "new.npz", {})


# --- atomic writes ---------------------------------------------------------------------------


def _crash_midway(file, **arrays):
    file.write(b"PK\x03\x04 half of a zip archive")
    raise RuntimeError("simulated crash while writing")


def _crash_at_fsync(fd):
    raise OSError("simulated crash before the data reached the disk")


@pytest.mark.parametrize("target, crash", [("savez", _crash_midway), ("fsync", _crash_at_fsync)])
def test_crash_mid_write_keeps_the_old_checkpoint(tmp_path, monkeypatch, target, crash):
    path = tmp_path / "ckpt.npz"
    old = {"w": jnp.arange(4.0, dtype=jnp.float32)}
    checkpoint.save(path, old)
    module = np if target == "savez" else os
    monkeypatch.setattr(module, target, crash)
    with pytest.raises((RuntimeError, OSError), match="simulated crash"):
        checkpoint.save(path, {"w": jnp.full(4, 9.0, jnp.float32)})
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["ckpt.npz"]  # no temporary file left behind
    np.testing.assert_array_equal(checkpoint.load(path, like=old)["w"], old["w"])


def test_save_overwrites_the_previous_checkpoint(tmp_path):
    path = tmp_path / "ckpt.npz"
    checkpoint.save(path, {"w": jnp.zeros(2, jnp.float32)})
    checkpoint.save(path, {"w": jnp.ones(2, jnp.float32)})
    assert os.listdir(tmp_path) == ["ckpt.npz"]
    np.testing.assert_array_equal(
        checkpoint.load(path, {"w": jnp.zeros(2, jnp.float32)})["w"], np.ones(2)
    )


# --- writers killed mid-write (kill -9) and live concurrent writers --------------------------

_WRITER = """
import os, sys
import numpy as np
from fnnet import checkpoint

real_fsync = os.fsync

def pause(fd):  # the data are written but not yet renamed into place: hold here
    os.fsync = real_fsync
    print("writing", flush=True)
    sys.stdin.readline()
    real_fsync(fd)

os.fsync = pause
checkpoint.save(sys.argv[1], {"w": np.full(200_000, float(sys.argv[2]))})
print("saved", flush=True)
"""


def _start_writer(path, value):
    """A separate process that stops inside ``save`` after writing its temporary file."""
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path), str(value)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout.readline() == "writing\n"
    return proc


def _temps(directory):
    return sorted(name for name in os.listdir(directory) if name.endswith(".tmp"))


@pytest.mark.parametrize("next_call", ["save", "load"])
def test_stale_temporary_of_a_killed_writer_is_removed_live_ones_stay(tmp_path, next_call):
    import signal

    path = tmp_path / "ckpt.npz"
    old = {"w": np.zeros(200_000)}
    checkpoint.save(path, old)
    killed = _start_writer(path, 1.0)
    (stale,) = _temps(tmp_path)
    assert f".{os.getpid()}." not in stale and f".{killed.pid}." in stale  # named after its writer
    assert os.path.getsize(tmp_path / stale) > 1_000_000
    killed.send_signal(signal.SIGKILL)
    killed.communicate()  # reaps it and closes its pipes
    live = _start_writer(path, 2.0)
    (live_temp,) = set(_temps(tmp_path)) - {stale}
    # Look-alikes that are not this checkpoint's dead temporaries: another checkpoint's, another
    # host's (whose processes cannot be checked from here), an old-style name without a pid.
    others = [
        stale.replace(".ckpt.npz.", ".other.npz.", 1),
        stale.replace(stale.split(".")[3], "some-other-host", 1),
        ".ckpt.npz.abc123_x.tmp",
    ]
    for name in others:
        (tmp_path / name).write_bytes(b"x")
    try:
        if next_call == "save":
            checkpoint.save(path, {"w": np.full(200_000, 3.0)})
        else:
            np.testing.assert_array_equal(checkpoint.load(path, old)["w"], old["w"])
        assert sorted(_temps(tmp_path)) == sorted([live_temp, *others])  # only the dead one went
        live.stdin.write("go\n")
        live.stdin.flush()
        assert live.stdout.readline() == "saved\n"  # the live writer's rename still works
        live.communicate(timeout=60)
    finally:
        if live.poll() is None:
            live.kill()
            live.communicate()
    assert live.returncode == 0
    np.testing.assert_array_equal(checkpoint.load(path, old)["w"], np.full(200_000, 2.0))
    assert sorted(_temps(tmp_path)) == sorted(others)
