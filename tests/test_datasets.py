"""Tests for fnnet.data's data sets: bundled digits, offline MNIST-1D, procedural sets."""

import random
import re
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fnnet import data
from fnnet.gradcheck import assert_close

PROCEDURAL = [data.xor, data.two_moons, data.two_spirals]


def _check_contract(ds, n, features, num_classes):
    assert isinstance(ds, data.Dataset)
    assert ds.x.shape == (n, features) and ds.y.shape == (n,)
    assert ds.x.dtype == jnp.float32 and ds.y.dtype == jnp.int32
    assert ds.num_classes == num_classes
    assert set(np.unique(np.asarray(ds.y)).tolist()) <= set(range(num_classes))
    assert np.all(np.isfinite(np.asarray(ds.x)))


# --- procedural ------------------------------------------------------------------------------


@pytest.mark.parametrize("make", PROCEDURAL, ids=lambda f: f.__name__)
def test_procedural_contract_balance_and_reproducibility(make, key):
    n = 101  # odd, so one class has one more sample; one size keeps compilations few
    ds = make(key, n)
    _check_contract(ds, n, 2, 2)
    assert ds.name == make.__name__
    counts = np.bincount(np.asarray(ds.y), minlength=2)
    assert counts.sum() == n and abs(int(counts[0]) - int(counts[1])) <= 1
    again, other = make(key, n), make(jax.random.key(1), n)
    np.testing.assert_array_equal(ds.x, again.x)
    np.testing.assert_array_equal(ds.y, again.y)
    assert not np.array_equal(ds.x, other.x)


@pytest.mark.parametrize("make", PROCEDURAL, ids=lambda f: f.__name__)
def test_procedural_classes_are_shuffled(make, key):
    y = np.asarray(make(key, 101).y)
    assert 0 < y[:50].sum() < 50  # not all of one class first


def test_xor_noise_free_is_the_truth_table(key):
    ds = data.xor(key, 101, noise=0.0)
    x, y = np.asarray(ds.x), np.asarray(ds.y)
    assert set(np.unique(x).tolist()) == {0.0, 1.0}
    np.testing.assert_array_equal(y, np.logical_xor(x[:, 0] > 0.5, x[:, 1] > 0.5))
    corners = np.bincount((2 * x[:, 0] + x[:, 1]).astype(int), minlength=4)
    assert corners.max() - corners.min() <= 1
    table = data.xor(key, 4, noise=0.0)
    assert sorted(map(tuple, np.asarray(table.x).tolist())) == [(0, 0), (0, 1), (1, 0), (1, 1)]


def test_xor_noise_has_requested_standard_deviation(key):
    ds = data.xor(key, 101, noise=0.2)
    x = np.asarray(ds.x, np.float64)
    residual = x - np.round(np.clip(x, 0.0, 1.0))
    assert 0.15 < residual.std() < 0.25


def test_two_moons_noise_free_lies_on_the_half_circles(key):
    ds = data.two_moons(key, 101, noise=0.0)
    x, y = np.asarray(ds.x), np.asarray(ds.y)  # float32: compared with the float32 row
    outer, inner = x[y == 0], x[y == 1]
    assert_close(np.hypot(outer[:, 0], outer[:, 1]), np.ones(len(outer), np.float32))
    assert np.all(outer[:, 1] >= -1e-6)
    radius = np.hypot(np.float32(1) - inner[:, 0], np.float32(0.5) - inner[:, 1])
    assert_close(radius, np.ones(len(inner), np.float32))
    assert np.all(inner[:, 1] <= 0.5 + 1e-6)


def test_two_spirals_noise_free_follow_archimedean_spirals(key):
    turns = 1.5
    ds = data.two_spirals(key, 101, noise=0.0, turns=turns)
    x, y = np.asarray(ds.x, np.float64), np.asarray(ds.y)
    x = np.where((y == 1)[:, None], -x, x)  # undo class 1's rotation by π
    r = np.hypot(x[:, 0], x[:, 1])
    assert r.max() <= 1.0 + 1e-6
    angle_error = np.angle(np.exp(1j * (np.arctan2(x[:, 1], x[:, 0]) - 2 * np.pi * turns * r)))
    # tolerance: the angle of a float32 point at radius r is known to ~6e-8 / r, and the
    # smallest of 101 uniform radii is ~1e-3, so the angle error may reach ~1e-4 (not rounding
    # of one result, which the one table covers)
    np.testing.assert_allclose(angle_error, 0.0, atol=1e-4)


def test_procedural_errors(key):
    with pytest.raises(ValueError, match="`n` must be an int >= 2"):
        data.xor(key, 1)
    with pytest.raises(ValueError, match="`noise` must be >= 0.0; got -0.1"):
        data.two_moons(key, 10, noise=-0.1)
    with pytest.raises(ValueError, match="`turns` must be > 0.0; got 0.0"):
        data.two_spirals(key, 10, turns=0)
    with pytest.raises(TypeError, match="`noise` must be a real number or a 0-d array; got .0.1."):
        data.two_spirals(key, 10, noise="0.1")


# --- optional extras -------------------------------------------------------------------------


def test_digits():
    sk_datasets = pytest.importorskip("sklearn.datasets")
    ds = data.digits()
    _check_contract(ds, 1797, 64, 10)
    assert ds.name == "digits"
    x = np.asarray(ds.x)
    assert x.min() == 0.0 and x.max() == 1.0
    np.testing.assert_array_equal(x * 16, np.round(x * 16))  # pixel intensities 0..16
    reference = sk_datasets.load_digits()
    np.testing.assert_array_equal(np.bincount(np.asarray(ds.y)), np.bincount(reference.target))


def test_mnist1d_offline_generation_matches_package_generator(key):
    mnist1d_data = pytest.importorskip("mnist1d.data")
    numpy_state, python_state = np.random.get_state(), random.getstate()
    split = data.mnist1d(num_samples=200)
    assert isinstance(split, data.Split)
    _check_contract(split.train, 160, 40, 10)
    _check_contract(split.test, 40, 40, 10)
    # Global random state of numpy and Python is left as it was.
    after = np.random.get_state()
    assert after[0] == numpy_state[0] and np.array_equal(after[1], numpy_state[1])
    assert random.getstate() == python_state
    args = mnist1d_data.get_dataset_args()
    args.num_samples = 200
    reference = mnist1d_data.make_dataset(args)
    np.testing.assert_array_equal(split.train.x, reference["x"].astype(np.float32))
    np.testing.assert_array_equal(split.test.y, reference["y_test"].astype(np.int32))
    np.random.set_state(numpy_state)
    random.setstate(python_state)
    keyed, keyed_again = data.mnist1d(key, num_samples=100), data.mnist1d(key, num_samples=100)
    np.testing.assert_array_equal(keyed.train.x, keyed_again.train.x)
    assert not np.array_equal(keyed.train.x, data.mnist1d(num_samples=100).train.x)
    with pytest.raises(ValueError, match="`num_samples` must be an int >= 10"):
        data.mnist1d(num_samples=5)


@pytest.fixture(autouse=True)
def mnist1d_cache(monkeypatch, tmp_path):
    """An empty MNIST-1D cache for every test: on disk under tmp_path (never the user's), none
    in this process. Returns the directory, the generator's calls and a way to forget the
    in-process cache (as a new process would)."""
    from fnnet.data import _datasets

    monkeypatch.setenv("FNNET_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(_datasets, "_MNIST1D", {})
    calls = []
    try:
        import mnist1d.data as mnist1d_data
    except ImportError:
        mnist1d_data = None
    if mnist1d_data is not None:
        generate = mnist1d_data.make_dataset

        def counted(args):
            calls.append(args.num_samples)
            return generate(args)

        monkeypatch.setattr(mnist1d_data, "make_dataset", counted)
    return tmp_path / "cache", calls, lambda: monkeypatch.setattr(_datasets, "_MNIST1D", {})


def test_mnist1d_is_generated_once_then_cached_in_process_and_on_disk(mnist1d_cache, monkeypatch):
    pytest.importorskip("mnist1d.data")
    directory, calls, forget = mnist1d_cache
    first = data.mnist1d(num_samples=120)
    assert calls == [120]
    (path,) = directory.iterdir()
    assert path.name.startswith("mnist1d-") and path.suffix == ".npz"
    assert data.mnist1d(num_samples=120) is first  # in process: no work at all
    forget()  # a new process: read from disk, not generated again, the package not imported
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "mnist1d.data", None)  # `import mnist1d.data` would fail
        again = data.mnist1d(num_samples=120)
    assert calls == [120]
    for a, b in zip(again, first, strict=True):
        np.testing.assert_array_equal(a.x, b.x)
        np.testing.assert_array_equal(a.y, b.y)
        assert a.x.dtype == b.x.dtype and a.y.dtype == b.y.dtype
    data.mnist1d(num_samples=130)  # other arguments, another file
    assert calls == [120, 130] and len(list(directory.iterdir())) == 2
    data.mnist1d(num_samples=120, cache=False)  # always generates, stores nothing new
    assert calls == [120, 130, 120] and len(list(directory.iterdir())) == 2


def test_mnist1d_cache_survives_a_corrupt_file_and_an_unwritable_directory(
    mnist1d_cache, monkeypatch
):
    pytest.importorskip("mnist1d.data")
    directory, calls, forget = mnist1d_cache
    reference = data.mnist1d(num_samples=120)
    (path,) = directory.iterdir()
    path.write_bytes(b"not an npz")
    forget()
    regenerated = data.mnist1d(num_samples=120)
    assert calls == [120, 120]
    np.testing.assert_array_equal(regenerated.train.x, reference.train.x)
    assert np.load(path)["x"].shape == (96, 40)  # rewritten whole
    monkeypatch.setenv("FNNET_CACHE_DIR", "/sys/fnnet-cache")  # nobody can create files there
    forget()
    np.testing.assert_array_equal(data.mnist1d(num_samples=120).test.y, reference.test.y)
    assert calls == [120, 120, 120]
    assert not [p for p in directory.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize(
    "module, call, extra",
    [
        ("sklearn.datasets", data.digits, "fnnet[datasets]"),
        ("mnist1d.data", data.mnist1d, "fnnet[mnist1d]"),
    ],
)
def test_missing_extra_names_the_pip_extra(monkeypatch, module, call, extra):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` raise ImportError
    with pytest.raises(ImportError, match=re.escape(f'pip install "{extra}"')):
        call()
