"""Multi-device: a member-sharded sweep equals the single-device sweep and really is split; the
data-parallel step and epoch equal the single-device ones. Runs on 8 emulated CPU devices in a
subprocess (``tests/multidevice_checks.py``): this process stays single-device.
"""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import pytest

from fnnet import parallel
from fnnet._checks import check_mesh

HELPER = os.path.join(os.path.dirname(__file__), "multidevice_checks.py")


@pytest.fixture(scope="module")
def checks():
    # Unoptimised XLA code compiles ~2.5x faster; both sides of every comparison share it.
    flags = (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip()
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS=flags)
    done = subprocess.run(
        [sys.executable, HELPER], capture_output=True, text=True, env=env, timeout=900
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_sharded_sweep_equals_single_device(checks):
    s = checks["sweep"]
    assert s["devices"] == 8
    # float32 on another per-device vmapped width / summation order: fnnet's one tolerance
    assert s["close"] == "" and s["val_loss_matches_run"] == "", s
    assert s["same_best"]


@pytest.mark.slow
def test_sweep_member_axis_is_split_across_devices(checks):
    s = checks["sweep"]
    assert s["chunk_size"] == 16
    for layout, shape in ((s["val_loss_layout"], [2]), (s["weights_layout"], [2, 3, 2])):
        assert layout["spec"] in (["members"], [["members"]]), layout
        assert not layout["replicated"]
        assert layout["shards"] == 8 and layout["devices"] == 8
        assert layout["shard_shapes"] == [shape]  # 16 members / 8 devices = 2 each


@pytest.mark.slow
def test_data_parallel_step_equals_single_device(checks):
    d = checks["data"]
    assert d["step_close"] == "" and d["loss_close"] == "", d
    assert d["params_layout"]["replicated"] and d["params_layout"]["shards"] == 8
    assert d["batch_layout"]["shard_shapes"] == [[2, 3]] and d["batch_layout"]["devices"] == 8


@pytest.mark.slow
def test_data_parallel_epoch_equals_single_device(checks):
    d = checks["data"]
    assert d["epoch_close"] == "", d
    assert d["epoch_all_reduces"] > 0  # XLA, not fnnet, sums the per-device gradient parts
    assert d["epoch_params_layout"]["replicated"]


@pytest.mark.slow
def test_fit_with_mesh_equals_single_device(checks):
    f = checks["fit"]
    assert f["close"] == "" and f["val_close"] == "", f
    assert f["params_layout"]["replicated"] and f["params_layout"]["devices"] == 8


@pytest.mark.slow
def test_pytree_data_on_a_mesh_equals_one_device(checks):
    p = checks["pytree"]
    assert p["fit_close"] == "" and p["fit_val_close"] == "", p
    assert p["step_close"] == "" and p["sweep_close"] == "", p
    assert p["lengths_layout"]["shard_shapes"] == [[2]]  # the lengths split by rows too


def test_single_device_helpers_and_errors():
    mesh = parallel.device_mesh("data")
    assert mesh.axis_names == ("data",) and mesh.size == jax.device_count() == 1
    explicit = jax.make_mesh((1,), ("members",))  # explicit axes by default in jax 0.10
    assert all(t == jax.sharding.AxisType.Auto for t in check_mesh(explicit).axis_types)
    with pytest.raises(TypeError, match="`mesh`"):
        parallel.replicate({"a": 1.0}, "cpu")
    with pytest.raises(ValueError, match="`num_devices`"):
        parallel.device_mesh("data", num_devices=2)
    with pytest.raises(TypeError, match="`step`"):
        parallel.data_parallel_step("step", mesh)
    with pytest.raises(ValueError, match=r"`batch` leaf \['x'\] must have a leading axis"):
        parallel.shard_leading({"x": jnp.ones(())}, mesh, name="batch")


@pytest.mark.slow
def test_uneven_batch_is_a_clear_error(checks):
    assert (
        "`batch` must have" in checks["data"]["uneven_error"]
        and "8 devices" in checks["data"]["uneven_error"]
    )
