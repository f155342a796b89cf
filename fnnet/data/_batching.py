"""Key-driven shuffling and minibatching.

Every random choice comes from an explicit ``jax.random`` key: the same key gives the same
order, a different key a different one. ``shuffle`` and ``minibatches`` are pure ``jnp`` and
run inside ``jit``; ``minibatches`` stacks one epoch as ``(num_batches, batch_size, ...)`` so a
training loop can ``lax.scan`` over it::

    def epoch(state, key):
        return jax.lax.scan(train_step, state, fnnet.data.minibatches(key, x, y, 32))
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from fnnet._checks import check_bool, check_int
from fnnet._types import Array, PRNGKey


class Batches(NamedTuple):
    """One epoch of minibatches, stacked: ``x`` ``(num_batches, batch_size, ...)``, ``y`` likewise.

    ``mask`` ``(num_batches, batch_size)`` is True for real samples; it is False only for the
    padding rows of the last batch when ``drop_last=False`` (those rows repeat other samples).
    """

    x: Array
    y: Array
    mask: Array


def _num_samples(arrays: tuple[Any, ...], names: tuple[str, ...]) -> int:
    """Common leading-axis length of ``arrays``; errors name the first that disagrees."""
    lengths = []
    for name, a in zip(names, arrays, strict=True):
        shape = np.shape(a)
        if len(shape) == 0:
            raise ValueError(f"`{name}` must have a leading sample axis; got a scalar of shape ().")
        lengths.append(shape[0])
    for name, n in zip(names, lengths, strict=True):
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

    Example:
        >>> import jax, jax.numpy as jnp
        >>> x, y = jnp.arange(4), jnp.arange(4) * 10
        >>> xs, ys = shuffle(jax.random.key(0), x, y)
        >>> bool(jnp.all(ys == xs * 10)), sorted(xs.tolist())
        (True, [0, 1, 2, 3])
    """
    if not arrays:
        raise TypeError("`shuffle` needs at least one array after `key`; got none.")
    _num_samples(arrays, tuple(f"arrays[{i}]" for i in range(len(arrays))))
    return _permute(key, *(jnp.asarray(a) for a in arrays))


@jax.jit
def _permute(key: PRNGKey, *arrays: Array) -> tuple[Array, ...]:
    # Jitted so an eager call compiles once per shape instead of once per primitive.
    perm = jax.random.permutation(key, arrays[0].shape[0])
    return tuple(a[perm] for a in arrays)


def _check_batch_size(batch_size: Any, n: int) -> int:
    batch_size = check_int("batch_size", batch_size, low=1)
    if batch_size > n:
        raise ValueError(
            f"`batch_size` ({batch_size}) must be at most the number of samples ({n})."
        )
    return batch_size


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

    Example:
        >>> import jax, jax.numpy as jnp
        >>> b = minibatches(jax.random.key(0), jnp.ones((5, 3)), jnp.arange(5), 2, drop_last=False)
        >>> b.x.shape, b.mask.sum(axis=1).tolist()
        ((3, 2, 3), [2, 2, 1])
    """
    n = _num_samples((x, y), ("x", "y"))
    batch_size = _check_batch_size(batch_size, n)
    drop_last = check_bool("drop_last", drop_last)
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
    drop_last = check_bool("drop_last", drop_last)
    (perm,) = _permute(key, jnp.arange(n))  # the permutation `shuffle` and `minibatches` use
    perm = np.asarray(perm)
    x, y = np.asarray(x), np.asarray(y)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        idx = perm[start : start + batch_size]
        yield jnp.asarray(x[idx]), jnp.asarray(y[idx])
