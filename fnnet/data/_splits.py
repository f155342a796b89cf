"""Train/test splits, stratified by class, deterministic given a key.

``train_test_split`` runs on the host (class sizes are data-dependent) with a numpy generator
seeded from the ``jax.random`` key, so the same key always gives the same split.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from fnnet._checks import check_bool, check_real
from fnnet._data_checks import num_rows
from fnnet._types import PRNGKey
from fnnet.data._batching import as_arrays, take_rows


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
) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
    """Split ``(x, y)`` into shuffled train and test parts, deterministically given ``key``.

    The test part gets ``round(n * test_fraction)`` samples. With ``stratify=True`` (integer
    labels ``y`` of shape ``(n,)``) every class contributes in proportion to its count, so each
    class's share differs from ``test_fraction`` by less than one sample; the remainder places
    go to the classes with the largest fractional quotas. Runs on the host with a numpy
    generator seeded from ``key``; not jittable.

    Args:
        key: a ``jax.random`` key.
        x: inputs ``(n, ...)``: an array or a pytree of arrays with ``n`` rows each
            (e.g. ``(sequences, lengths)``).
        y: targets ``(n, ...)`` (or a pytree of them); one array of integer class labels
            ``(n,)`` when ``stratify=True``.
        test_fraction: fraction of samples in the test part, in ``(0, 1)``.
        stratify: keep class proportions equal in both parts.

    Returns:
        ``((x_train, y_train), (x_test, y_test))`` as jax arrays with the structure of ``x``
        and ``y``, each part in shuffled order.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> y = jnp.array([0] * 6 + [1] * 4)
        >>> (x_tr, y_tr), (x_te, y_te) = train_test_split(jax.random.key(0), y[:, None], y,
        ...                                                test_fraction=0.5)
        >>> sorted(y_te.tolist()), x_tr.shape
        ([0, 0, 0, 1, 1], (5, 1))
    """
    n = num_rows(("x", x), ("y", y))
    check_real("test_fraction", test_fraction, low=0.0, high=1.0, low_open=True, high_open=True)
    stratify = check_bool("stratify", stratify)
    num_test = int(round(n * float(test_fraction)))
    if not 1 <= num_test <= n - 1:
        raise ValueError(
            f"`test_fraction` = {test_fraction} of {n} samples gives {num_test} test samples; "
            f"both parts need at least one sample."
        )
    rng = _host_rng(key)
    if stratify:
        leaves = jax.tree_util.tree_leaves(y)
        labels = np.asarray(leaves[0])
        if len(leaves) != 1 or labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            got = (
                f"shape {labels.shape} dtype {labels.dtype}"
                if len(leaves) == 1
                else f"a pytree of {len(leaves)} arrays"
            )
            raise ValueError(
                f"`y` must be one array of integer class labels of shape (n,) when "
                f"`stratify=True`; got {got} (pass `stratify=False` otherwise)."
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
    host = jax.tree_util.tree_map(np.asarray, (x, y))  # gather on the host: no compilation
    return as_arrays(take_rows(host, train_idx)), as_arrays(take_rows(host, test_idx))
