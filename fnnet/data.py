"""Data helpers: key-driven shuffling and minibatching, train/test splits, standardisation, one-hot.

Every random choice comes from an explicit ``jax.random`` key: the same key gives the same
order, a different key a different one. ``shuffle`` and ``minibatches`` are pure ``jnp`` and
run inside ``jit``; ``minibatches`` stacks one epoch as ``(num_batches, batch_size, ...)`` so a
training loop can ``lax.scan`` over it::

    def epoch(state, key):
        return jax.lax.scan(train_step, state, fnnet.data.minibatches(key, x, y, 32))

``train_test_split`` runs on the host (class sizes are data-dependent) and is deterministic
given its key.
"""

from __future__ import annotations

import functools
from typing import Any, Iterator, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from fnnet._types import Array, PRNGKey


class Batches(NamedTuple):
    """One epoch of minibatches, stacked: ``x`` ``(num_batches, batch_size, ...)``, ``y`` likewise.

    ``mask`` ``(num_batches, batch_size)`` is True for real samples; it is False only for the
    padding rows of the last batch when ``drop_last=False`` (those rows repeat other samples).
    """

    x: Array
    y: Array
    mask: Array


class Standardization(NamedTuple):
    """Per-feature statistics fit on training data: ``z = (x - mean) / std``."""

    mean: Array
    std: Array


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _num_samples(arrays: tuple[Any, ...], names: tuple[str, ...]) -> int:
    """Common leading-axis length of ``arrays``; errors name the first that disagrees."""
    lengths = []
    for name, a in zip(names, arrays):
        shape = np.shape(a)
        if len(shape) == 0:
            raise ValueError(f"`{name}` must have a leading sample axis; got a scalar of shape ().")
        lengths.append(shape[0])
    for name, n in zip(names, lengths):
        if n != lengths[0]:
            raise ValueError(
                f"`{name}` has {n} samples but `{names[0]}` has {lengths[0]}: all arrays must "
                f"share the leading axis; got shapes {[tuple(np.shape(a)) for a in arrays]}."
            )
    return lengths[0]


def shuffle(key: PRNGKey, *arrays: Any) -> tuple[Array, ...]:
    """Permute ``arrays`` along axis 0 with one key-driven permutation shared by all.

    Args:
        key: a ``jax.random`` key; the permutation is ``jax.random.permutation(key, n)``.
        *arrays: arrays with the same leading length ``n``.

    Returns:
        A tuple with one permuted array per input, always a tuple (``(x,) = shuffle(key, x)``).
    """
    if not arrays:
        raise TypeError("`shuffle` needs at least one array after `key`; got none.")
    names = tuple(f"arrays[{i}]" for i in range(len(arrays)))
    _num_samples(arrays, names)
    return _permute(key, *(jnp.asarray(a) for a in arrays))


@jax.jit
def _permute(key: PRNGKey, *arrays: Array) -> tuple[Array, ...]:
    # Jitted so an eager call compiles once per shape instead of once per primitive.
    perm = jax.random.permutation(key, arrays[0].shape[0])
    return tuple(a[perm] for a in arrays)


def _check_batch_size(batch_size: Any, n: int) -> int:
    if not _is_int(batch_size) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive int; got {batch_size!r}.")
    if batch_size > n:
        raise ValueError(f"`batch_size` ({batch_size}) must be at most the number of samples ({n}).")
    return int(batch_size)


def minibatches(
    key: PRNGKey, x: Any, y: Any, batch_size: int, *, drop_last: bool = True
) -> Batches:
    """Shuffle ``(x, y)`` with ``key`` and stack one epoch as ``(num_batches, batch_size, ...)``.

    With ``drop_last=True`` there are ``n // batch_size`` full batches and the ``n % batch_size``
    samples left over after the shuffle are skipped this epoch (a different key skips different
    ones). With ``drop_last=False`` there are ``ceil(n / batch_size)`` batches and every sample
    appears exactly once; the last batch is padded to full size with repeats of other samples
    whose ``mask`` is False, so weight a per-example loss by ``mask`` for an exact epoch mean.
    Pure ``jnp`` (``n``, ``batch_size`` and ``drop_last`` are static): usable inside ``jit``.

    Args:
        key: a ``jax.random`` key.
        x: inputs ``(n, ...)``.
        y: targets ``(n, ...)`` (integer labels or one-hot rows).
        batch_size: samples per batch, ``1 <= batch_size <= n``.
        drop_last: skip the incomplete last batch (default) or pad it and mark it in ``mask``.

    Returns:
        ``Batches(x, y, mask)``; scanning over it with ``lax.scan`` yields one ``Batches`` of
        ``(batch_size, ...)`` arrays per step.
    """
    n = _num_samples((x, y), ("x", "y"))
    batch_size = _check_batch_size(batch_size, n)
    if not isinstance(drop_last, bool):
        raise TypeError(f"`drop_last` must be a bool; got {drop_last!r}.")
    return _stack_batches(key, jnp.asarray(x), jnp.asarray(y), batch_size, drop_last)


@functools.partial(jax.jit, static_argnums=(3, 4))
def _stack_batches(key: PRNGKey, x: Array, y: Array, batch_size: int, drop_last: bool) -> Batches:
    n = x.shape[0]
    num_batches = n // batch_size if drop_last else -(-n // batch_size)
    total = num_batches * batch_size
    perm = jax.random.permutation(key, n)
    # Positions past n wrap around to the start of the permutation: real samples, masked out.
    idx = perm[jnp.arange(total) % n]
    mask = jnp.arange(total) < n
    return Batches(
        x[idx].reshape((num_batches, batch_size) + x.shape[1:]),
        y[idx].reshape((num_batches, batch_size) + y.shape[1:]),
        mask.reshape(num_batches, batch_size),
    )


def iterate_batches(
    key: PRNGKey, x: Any, y: Any, batch_size: int, *, drop_last: bool = False
) -> Iterator[tuple[Array, Array]]:
    """Python iterator over shuffled ``(x_batch, y_batch)`` pairs for host-side loops.

    Same order as :func:`minibatches` with the same key. With ``drop_last=False`` (default)
    the last batch is smaller when ``batch_size`` does not divide ``n``; no padding, no mask.
    """
    n = _num_samples((x, y), ("x", "y"))
    batch_size = _check_batch_size(batch_size, n)
    (perm,) = _permute(key, jnp.arange(n))  # the permutation `shuffle` and `minibatches` use
    perm = np.asarray(perm)
    x, y = np.asarray(x), np.asarray(y)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        idx = perm[start : start + batch_size]
        yield jnp.asarray(x[idx]), jnp.asarray(y[idx])


def _host_rng(key: PRNGKey) -> np.random.Generator:
    """A numpy generator seeded deterministically from ``key`` (for host-only algorithms)."""
    seed_words = np.asarray(jax.random.bits(key, (4,), jnp.uint32))
    return np.random.default_rng(np.random.SeedSequence(seed_words.tolist()))


def _stratified_test_counts(counts: np.ndarray, num_test: int) -> np.ndarray:
    """Split ``num_test`` over classes in proportion to ``counts`` (largest-remainder rounding)."""
    quota = counts * (num_test / counts.sum())
    take = np.floor(quota).astype(np.int64)
    # Hand the remaining places to the largest fractional parts; ties go to the smaller class id.
    order = np.argsort(-(quota - take), kind="stable")
    take[order[: num_test - take.sum()]] += 1
    return take


def train_test_split(
    key: PRNGKey, x: Any, y: Any, *, test_fraction: float = 0.3, stratify: bool = True
) -> tuple[tuple[Array, Array], tuple[Array, Array]]:
    """Split ``(x, y)`` into shuffled train and test parts, deterministically given ``key``.

    The test part gets ``round(n * test_fraction)`` samples. With ``stratify=True`` (integer
    labels ``y`` of shape ``(n,)``) every class contributes in proportion to its count, so each
    class's share differs from ``test_fraction`` by less than one sample; the remainder places
    go to the classes with the largest fractional quotas. Runs on the host with a numpy
    generator seeded from ``key``; not jittable.

    Args:
        key: a ``jax.random`` key.
        x: inputs ``(n, ...)``.
        y: targets ``(n, ...)``; integer class labels ``(n,)`` when ``stratify=True``.
        test_fraction: fraction of samples in the test part, in ``(0, 1)``.
        stratify: keep class proportions equal in both parts.

    Returns:
        ``((x_train, y_train), (x_test, y_test))`` as jax arrays, each part in shuffled order.
    """
    n = _num_samples((x, y), ("x", "y"))
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float, np.floating)):
        raise TypeError(f"`test_fraction` must be a float in (0, 1); got {test_fraction!r}.")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"`test_fraction` must be in (0, 1); got {test_fraction!r}.")
    num_test = int(round(n * test_fraction))
    if not 1 <= num_test <= n - 1:
        raise ValueError(
            f"`test_fraction` = {test_fraction} of {n} samples gives {num_test} test samples; "
            f"both parts need at least one sample."
        )
    rng = _host_rng(key)
    if stratify:
        labels = np.asarray(y)
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(
                f"`y` must be integer class labels of shape (n,) when `stratify=True`; got "
                f"shape {labels.shape} dtype {labels.dtype} (pass `stratify=False` otherwise)."
            )
        classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
        take = _stratified_test_counts(counts, num_test)
        test_idx = np.concatenate(
            [rng.permutation(np.flatnonzero(inverse == c))[: take[c]] for c in range(len(classes))]
        )
        is_test = np.zeros(n, dtype=bool)
        is_test[test_idx] = True
        test_idx = rng.permutation(np.flatnonzero(is_test))
        train_idx = rng.permutation(np.flatnonzero(~is_test))
    else:
        perm = rng.permutation(n)
        test_idx, train_idx = perm[:num_test], perm[num_test:]
    x, y = np.asarray(x), np.asarray(y)  # gather on the host: no compilation per shape
    return (
        (jnp.asarray(x[train_idx]), jnp.asarray(y[train_idx])),
        (jnp.asarray(x[test_idx]), jnp.asarray(y[test_idx])),
    )


def _check_features(name: str, a: Any, like: Array | None) -> Array:
    a = jnp.asarray(a)
    if not jnp.issubdtype(a.dtype, jnp.floating):
        raise TypeError(f"`{name}` must have a floating dtype; got {a.dtype}.")
    if a.ndim < 1:
        raise ValueError(f"`{name}` must have shape (n, ...features); got shape {a.shape}.")
    if like is not None and (a.shape[1:] != like.shape[1:] or a.dtype != like.dtype):
        raise ValueError(
            f"`{name}` must have shape (n, *{like.shape[1:]}) and dtype {like.dtype} like "
            f"`train_x`; got shape {a.shape} dtype {a.dtype}."
        )
    return a


@jax.jit
def apply_standardization(stats: Standardization, x: Any) -> Array:
    """``(x - stats.mean) / stats.std`` for new data (e.g. at inference), same dtype as ``x``."""
    x = jnp.asarray(x)
    return (x - stats.mean.astype(x.dtype)) / stats.std.astype(x.dtype)


def standardize(train_x: Any, *others: Any) -> tuple[tuple[Array, ...], Standardization]:
    """Standardise features with mean and std fit on ``train_x`` only, applied to every array.

    Statistics are per feature over axis 0. A feature that is constant in ``train_x`` (std 0)
    gets ``std = 1`` and its exact constant as ``mean``, so it maps to 0 instead of NaN/inf.
    Pure ``jnp``: usable inside ``jit``.

    Args:
        train_x: floating training inputs ``(n, ...features)``.
        *others: more arrays ``(m, ...features)`` of the same dtype (validation, test).

    Returns:
        ``((train_z, *others_z), Standardization(mean, std))``.

    Example:
        >>> import jax.numpy as jnp
        >>> (tr, te), stats = standardize(jnp.array([[0.0], [2.0]]), jnp.array([[4.0]]))
        >>> tr.ravel().tolist(), te.ravel().tolist()
        ([-1.0, 1.0], [3.0])
    """
    train_x = _check_features("train_x", train_x, None)
    if train_x.shape[0] < 1:
        raise ValueError(f"`train_x` must hold at least one sample; got shape {train_x.shape}.")
    others = tuple(_check_features(f"others[{i}]", a, train_x) for i, a in enumerate(others))
    return _standardize(train_x, *others)


@jax.jit
def _standardize(train_x: Array, *others: Array) -> tuple[tuple[Array, ...], Standardization]:
    constant = jnp.all(train_x == train_x[:1], axis=0)
    mean = jnp.where(constant, train_x[0], train_x.mean(axis=0))
    std = jnp.where(constant, jnp.ones((), train_x.dtype), train_x.std(axis=0))
    stats = Standardization(mean, std)
    return tuple(apply_standardization(stats, a) for a in (train_x, *others)), stats


def one_hot(labels: Any, num_classes: int, *, dtype: Any = jnp.float32) -> Array:
    """One-hot rows ``(..., num_classes)`` from integer ``labels``.

    Concrete labels outside ``[0, num_classes)`` are an error; under ``jit`` (traced labels)
    they cannot be checked and give all-zero rows, as ``jax.nn.one_hot`` does.
    """
    if not _is_int(num_classes) or num_classes < 1:
        raise ValueError(f"`num_classes` must be a positive int; got {num_classes!r}.")
    labels = jnp.asarray(labels)
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise TypeError(f"`labels` must be integer class ids; got dtype {labels.dtype}.")
    if not isinstance(labels, jax.core.Tracer) and labels.size:
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= num_classes:
            raise ValueError(
                f"`labels` must lie in [0, {num_classes}) for `num_classes` = {num_classes}; "
                f"got values in [{low}, {high}]."
            )
    return jax.nn.one_hot(labels, num_classes, dtype=dtype)




def check_pair(name: str, pair: Any) -> tuple[Array, Array]:
    """Validate a data pair ``(x, y)`` with as many rows of inputs as of targets."""
    if not (isinstance(pair, tuple) and len(pair) == 2):
        raise TypeError(f"`{name}` must be a pair (x, y); got {type(pair).__name__}.")
    x, y = jnp.asarray(pair[0]), jnp.asarray(pair[1])
    if x.ndim < 1 or y.ndim < 1 or x.shape[0] != y.shape[0]:
        raise ValueError(f"`{name}` inputs and targets must have the same number of rows; got x {x.shape} and y {y.shape}.")
    return x, y

__all__ = [
    "check_pair",
    "Batches",
    "Standardization",
    "shuffle",
    "minibatches",
    "iterate_batches",
    "train_test_split",
    "standardize",
    "apply_standardization",
    "one_hot",
]
