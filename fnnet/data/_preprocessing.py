"""Preprocessing: per-feature standardisation fit on training data only, and one-hot labels."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from fnnet._checks import check_floating, check_int, is_concrete
from fnnet._types import Array


class Standardization(NamedTuple):
    """Per-feature statistics fit on training data: ``z = (x - mean) / std``."""

    mean: Array
    std: Array


def _check_features(name: str, a: Any, like: Array | None) -> Array:
    a = check_floating(name, a)
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

    Example:
        >>> one_hot([2, 0], 3).tolist()
        [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """
    num_classes = check_int("num_classes", num_classes, low=1)
    labels = jnp.asarray(labels)
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise TypeError(f"`labels` must be integer class ids; got dtype {labels.dtype}.")
    if is_concrete(labels) and labels.size:
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= num_classes:
            raise ValueError(
                f"`labels` must lie in [0, {num_classes}) for `num_classes` = {num_classes}; "
                f"got values in [{low}, {high}]."
            )
    return jax.nn.one_hot(labels, num_classes, dtype=dtype)
