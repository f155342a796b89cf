"""Multi-host training on one machine: two processes joined by ``jax.distributed.initialize``.

Each process (``tests/multihost_worker.py``) has two CPU devices of its own; the coordinator
listens on the loopback interface and cross-process collectives go over gloo (JAX's CPU
default). Both processes run ``fnnet.fit(..., mesh=)`` data-parallel over all four devices and
a member-sharded ``fnnet.sweep.run``; a third process runs the same jobs alone on one device as
the reference. See ``docs/multihost.md``.
"""

import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from fnnet.gradcheck import assert_close

WORKER = os.path.join(os.path.dirname(__file__), "multihost_worker.py")
TIMEOUT = 240  # seconds per process; a loaded 2-core CI machine runs the three in ~40 s


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(args, log):
    env = dict(os.environ, XLA_FLAGS="", JAX_PLATFORMS="cpu")
    return subprocess.Popen(
        [sys.executable, WORKER, *map(str, args)], stdout=log, stderr=subprocess.STDOUT, env=env
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Start the reference and the two distributed processes at once; their saved results."""
    out = tmp_path_factory.mktemp("multihost")
    port = _free_port()
    jobs = {
        "single": [out / "single.npz"],
        "p0": [out / "p0.npz", port, 0, 2, 2],
        "p1": [out / "p1.npz", port, 1, 2, 2],
    }
    logs = {name: open(out / f"{name}.log", "w") for name in jobs}
    procs = {name: _launch(args, logs[name]) for name, args in jobs.items()}
    try:
        for proc in procs.values():
            proc.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        pass
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for log in logs.values():
            log.close()
    for name, proc in procs.items():
        text = (out / f"{name}.log").read_text()[-4000:]
        assert proc.returncode == 0, f"{name} exited with {proc.returncode}:\n{text}"
    return {name: dict(np.load(args[0])) for name, args in jobs.items()}


@pytest.mark.slow
def test_processes_form_one_four_device_system(runs):
    for index, name in enumerate(("p0", "p1")):
        r = runs[name]
        assert int(r["process_index"]) == index
        assert int(r["process_count"]) == 2
        assert int(r["device_count"]) == 4
        assert int(r["local_device_count"]) == 2
    assert int(runs["single"]["process_count"]) == 1
    assert int(runs["single"]["device_count"]) == 1


def _assert_same(a: dict, b: dict, prefix: str):
    """The arrays named ``prefix*`` agree to rounding (the cross-process reductions sum in
    another order than one device's)."""
    names = sorted(k for k in b if k.startswith(prefix))
    assert names and names == sorted(k for k in a if k.startswith(prefix))
    for name in names:
        assert_close(a[name], b[name], err_msg=name)


@pytest.mark.slow
def test_data_parallel_fit_across_processes_equals_one_process(runs):
    single = runs["single"]
    assert int(single["fit_steps_taken"]) == 3 * (64 // 16)
    assert np.all(np.isfinite(single["fit_val_loss"]))
    for name in ("p0", "p1"):  # every process returns the whole (replicated) result
        _assert_same(runs[name], single, "fit_")


@pytest.mark.slow
def test_member_sharded_sweep_across_processes_equals_one_process(runs):
    single = runs["single"]
    assert single["sweep_val_loss"].shape == (4, 2)
    assert len(np.unique(single["sweep_val_loss"])) == 8  # the members differ
    for name in ("p0", "p1"):  # members trained on the other process come back too
        _assert_same(runs[name], single, "sweep_param_")
        _assert_same(runs[name], single, "sweep_loss")
        _assert_same(runs[name], single, "sweep_val_loss")
        np.testing.assert_array_equal(runs[name]["sweep_steps_taken"], single["sweep_steps_taken"])
        np.testing.assert_array_equal(runs[name]["sweep_best_index"], single["sweep_best_index"])
        assert int(runs[name]["sweep_chunk_size"]) == 8
