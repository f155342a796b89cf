"""Small classification data sets: bundled (digits), generated offline (MNIST-1D), procedural.

Every loader returns ``Dataset(x, y, num_classes, name)`` with ``x`` float32 ``(n, features)``
and ``y`` int32 class ids ``(n,)``, as jax arrays; ``Split(train, test)`` pairs two of them.
``digits`` needs scikit-learn and ``mnist1d`` the ``mnist1d`` package, both optional extras
imported only when called. The procedural sets (``xor``, ``two_moons``, ``two_spirals``) need
nothing but a key: the same key gives the same data, and their classes are balanced (counts
differ by at most one) and shuffled.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import math
import os
import random
import tempfile
import zipfile
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from fnnet._checks import check_bool, check_int, check_real
from fnnet._types import Array, PRNGKey


class Dataset(NamedTuple):
    """Inputs ``x`` float32 ``(n, features)``, labels ``y`` int32 ``(n,)`` in ``[0, num_classes)``."""

    x: Array
    y: Array
    num_classes: int
    name: str


class Split(NamedTuple):
    """A train part and a test part of one data set."""

    train: Dataset
    test: Dataset


def _make(x: Any, y: Any, num_classes: int, name: str) -> Dataset:
    return Dataset(jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.int32), num_classes, name)


def digits() -> Dataset:
    """scikit-learn's bundled 8×8 handwritten digits: 1797 samples, 64 features in [0, 1], 10 classes.

    Pixel intensities 0..16 are divided by 16. Read from the copy shipped with scikit-learn (no
    download). Needs the optional extra: ``pip install "fnnet[datasets]"``.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:
        raise ImportError(
            'fnnet.data.digits needs scikit-learn, an optional extra: pip install "fnnet[datasets]"'
        ) from err
    x, y = load_digits(return_X_y=True)
    return _make(np.asarray(x) / 16.0, y, 10, "digits")


_MNIST1D: dict[str, Split] = {}  # generated this process, by cache name


def mnist1d(
    key: PRNGKey | None = None, *, num_samples: int | None = None, cache: bool = True
) -> Split:
    """The MNIST-1D benchmark, generated offline by the ``mnist1d`` package's own generator.

    Calls ``mnist1d.data.make_dataset`` with the package's ``get_dataset_args()`` defaults
    (5000 samples of length 40, 10 classes, seed 42, its own 80/20 split: 4000 train,
    1000 test); it never downloads. ``x`` is standardised by the generator over the whole
    set. The generator seeds numpy's and Python's global random state; both are restored
    afterwards.

    Generation takes a few seconds, so the result is cached: in this process (a second call
    returns the same arrays at once) and on disk, as ``mnist1d-<version>-<seed>-<n>.npz`` (the
    ``mnist1d`` package's version, the generator seed and ``num_samples``; a cached call does
    not import the package) in ``$FNNET_CACHE_DIR``, else ``$XDG_CACHE_HOME/fnnet/data``,
    else ``~/.cache/fnnet/data``. The file is written atomically, read without pickle, and
    regenerated if unreadable; an unwritable cache directory only costs the regeneration.
    Delete the files to reclaim the space (1.6 MB for the default set).

    Args:
        key: ``None`` for the package's default seed (the standard benchmark data), or a key
            from which a different generator seed is derived.
        num_samples: total samples before the split (default the package's 5000); the
            generator makes ``num_samples // 10`` per class, at least 10 in total.
        cache: use and fill both caches (default); ``False`` always generates and stores
            nothing.

    Returns:
        ``Split(train, test)``, the generator's own split.

    Needs the optional extra: ``pip install "fnnet[mnist1d]"``.
    """
    missing = ImportError(
        "fnnet.data.mnist1d needs the mnist1d package, an optional extra: "
        'pip install "fnnet[mnist1d]"'
    )
    try:
        version = importlib.metadata.version("mnist1d")
    except importlib.metadata.PackageNotFoundError:
        raise missing from None
    if num_samples is not None:
        num_samples = check_int("num_samples", num_samples, low=10)
    seed = None if key is None else int(jax.random.randint(key, (), 0, np.iinfo(np.int32).max))
    cache = check_bool("cache", cache)
    name = f"mnist1d-{version}-{'default' if seed is None else seed}-{num_samples or 'default'}.npz"
    if cache and name in _MNIST1D:
        return _MNIST1D[name]
    path = os.path.join(_cache_dir(), name)
    generated = _read_arrays(path) if cache else None
    if generated is None:
        generated = _generate_mnist1d(seed, num_samples, missing)
        if cache:
            _write_arrays(path, generated)
    split = Split(
        _make(generated["x"], generated["y"], 10, "mnist1d"),
        _make(generated["x_test"], generated["y_test"], 10, "mnist1d"),
    )
    if cache:
        _MNIST1D[name] = split
    return split


def _generate_mnist1d(
    seed: int | None, num_samples: int | None, missing: ImportError
) -> dict[str, np.ndarray]:
    """Run the package's generator, restoring numpy's and Python's global random state."""
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as err:
        raise missing from err
    args: Any = get_dataset_args()  # an ObjectView: fields set at run time, untyped
    if num_samples is not None:
        args.num_samples = num_samples
    if seed is not None:
        args.seed = seed
    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        made = make_dataset(args)
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
    return {k: np.asarray(made[k]) for k in ("x", "y", "x_test", "y_test")}


def _cache_dir() -> str:
    """Where generated data sets are kept on disk (see :func:`mnist1d`)."""
    if os.environ.get("FNNET_CACHE_DIR"):
        return os.environ["FNNET_CACHE_DIR"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "fnnet", "data")


def _read_arrays(path: str) -> dict[str, np.ndarray] | None:
    """The arrays of a cache file, or None if it is missing or unreadable (then regenerated)."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
        return None
    return arrays if set(arrays) == {"x", "y", "x_test", "y_test"} else None


def _write_arrays(path: str, arrays: dict[str, np.ndarray]) -> None:
    """Write a cache file atomically (temporary file, then rename); failures are ignored."""
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".mnist1d.", suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, allow_pickle=False, **arrays)  # read back without pickle too
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.remove(tmp)


def _check_n(n: Any) -> int:
    return check_int("n", n, low=2)  # one sample per class at least


def _check_nonnegative(name: str, value: Any) -> float:
    return float(check_real(name, value, low=0.0))


def _balanced_ids(key: PRNGKey, n: int, num_ids: int) -> Array:
    """``arange(n) % num_ids`` in a key-driven order: every id appears n // num_ids or one more times."""
    return jax.random.permutation(key, jnp.arange(n, dtype=jnp.int32) % num_ids)


def xor(key: PRNGKey, n: int, *, noise: float = 0.1) -> Dataset:
    """XOR: points around the corners of the unit square, label = ``x0 XOR x1`` of the corner.

    Corners ``(0,0)`` and ``(1,1)`` are class 0, ``(0,1)`` and ``(1,0)`` class 1; each corner gets
    ``n // 4`` or one more samples, plus Gaussian noise of standard deviation ``noise``
    (``n=4, noise=0`` is the truth table).
    """
    x, y = _xor(key, _check_n(n), _check_nonnegative("noise", noise))
    return Dataset(x, y, 2, "xor")


@functools.partial(jax.jit, static_argnums=1)  # one compilation per n, not per primitive
def _xor(key: PRNGKey, n: int, noise: float) -> tuple[Array, Array]:
    order_key, noise_key = jax.random.split(key)
    corner = _balanced_ids(order_key, n, 4)
    bits = jnp.stack([corner // 2, corner % 2], axis=1)
    x = bits.astype(jnp.float32) + noise * jax.random.normal(noise_key, (n, 2), jnp.float32)
    return x, bits[:, 0] ^ bits[:, 1]


def two_moons(key: PRNGKey, n: int, *, noise: float = 0.1) -> Dataset:
    """Two interleaving half circles of radius 1 with Gaussian noise of std ``noise``.

    Class 0 lies on ``(cos t, sin t)``, class 1 on ``(1 - cos t, 0.5 - sin t)``, with angles
    ``t`` uniform in ``[0, π]``.
    """
    x, y = _two_moons(key, _check_n(n), _check_nonnegative("noise", noise))
    return Dataset(x, y, 2, "two_moons")


@functools.partial(jax.jit, static_argnums=1)
def _two_moons(key: PRNGKey, n: int, noise: float) -> tuple[Array, Array]:
    order_key, angle_key, noise_key = jax.random.split(key, 3)
    label = _balanced_ids(order_key, n, 2)
    t = jax.random.uniform(angle_key, (n,), jnp.float32, 0.0, math.pi)
    outer = jnp.stack([jnp.cos(t), jnp.sin(t)], axis=1)
    inner = jnp.stack([1.0 - jnp.cos(t), 0.5 - jnp.sin(t)], axis=1)
    x = jnp.where(label[:, None] == 0, outer, inner)
    return x + noise * jax.random.normal(noise_key, (n, 2), jnp.float32), label


def two_spirals(key: PRNGKey, n: int, *, noise: float = 0.05, turns: float = 1.5) -> Dataset:
    """Two interleaved Archimedean spirals, each winding ``turns`` times out to radius 1.

    Class 0 lies on ``r (cos θ, sin θ)`` with ``θ = 2π · turns · r`` and ``r`` uniform in
    ``[0, 1]``; class 1 is class 0 rotated by π. Gaussian noise of std ``noise`` is added.
    """
    n, noise = _check_n(n), _check_nonnegative("noise", noise)
    turns = float(check_real("turns", turns, low=0.0, low_open=True))
    x, y = _two_spirals(key, n, noise, turns)
    return Dataset(x, y, 2, "two_spirals")


@functools.partial(jax.jit, static_argnums=1)
def _two_spirals(key: PRNGKey, n: int, noise: float, turns: float) -> tuple[Array, Array]:
    order_key, radius_key, noise_key = jax.random.split(key, 3)
    label = _balanced_ids(order_key, n, 2)
    r = jax.random.uniform(radius_key, (n,), jnp.float32)
    theta = (2.0 * math.pi * turns) * r
    sign = (1 - 2 * label).astype(jnp.float32)[:, None]  # +1 for class 0, -1 (rotation by π) for 1
    x = sign * (r[:, None] * jnp.stack([jnp.cos(theta), jnp.sin(theta)], axis=1))
    return x + noise * jax.random.normal(noise_key, (n, 2), jnp.float32), label
