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

from fnnet._checks import check_at_most_rows, check_bool
from fnnet._data_checks import num_rows
from fnnet._types import Array, PRNGKey


class Batches(NamedTuple):
    """One epoch of minibatches, stacked: every array of ``x`` and ``y`` as
    ``(num_batches, batch_size, ...)``.

    ``x`` and ``y`` have the structure of the inputs and targets given (an array, or any pytree
    of arrays such as ``(x, lengths)``). ``mask`` ``(num_batches, batch_size)`` is True for real
    samples; it is False only for the padding rows of the last batch when ``drop_last=False``
    (those rows repeat other samples).
    """

    x: Any
    y: Any
    mask: Array


def as_arrays(tree: Any) -> Any:
    """Every leaf of ``tree`` as a ``jax.Array`` (the structure unchanged)."""
    return jax.tree_util.tree_map(jnp.asarray, tree)


def take_rows(tree: Any, index: Any) -> Any:
    """Rows ``index`` of every array of ``tree``."""
    return jax.tree_util.tree_map(lambda a: a[index], tree)


def shuffle(key: PRNGKey, *arrays: Any) -> tuple[Any, ...]:
    """Permute ``arrays`` along axis 0 with one key-driven permutation shared by all.

    Args:
        key: a ``jax.random`` key; the permutation is ``jax.random.permutation(key, n)``.
        *arrays: arrays (or pytrees of arrays, e.g. ``(x, lengths)``) whose every array has
            the same leading length ``n``.

    Returns:
        A tuple with one permuted input per argument, always a tuple (``(x,) = shuffle(key, x)``).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> x, y = jnp.arange(4), jnp.arange(4) * 10
        >>> xs, ys = shuffle(jax.random.key(0), x, y)
        >>> bool(jnp.all(ys == xs * 10)), sorted(xs.tolist())
        (True, [0, 1, 2, 3])
    """
    if not arrays:
        raise TypeError("`shuffle` needs at least one array after `key`; got none.")
    num_rows(*((f"arrays[{i}]", a) for i, a in enumerate(arrays)))
    return _permute(key, *(as_arrays(a) for a in arrays))


@jax.jit
def _permute(key: PRNGKey, *trees: Any) -> tuple[Any, ...]:
    # Jitted so an eager call compiles once per shape instead of once per primitive.
    perm = jax.random.permutation(key, jax.tree_util.tree_leaves(trees)[0].shape[0])
    return tuple(take_rows(t, perm) for t in trees)


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
        x: inputs ``(n, ...)``: an array, or a pytree of arrays batched on their leading axis
            (e.g. ``(sequences, lengths)``), all with ``n`` rows.
        y: targets ``(n, ...)`` (integer labels or one-hot rows), or a pytree of them.
        batch_size: samples per batch, ``1 <= batch_size <= n``.
        drop_last: skip the incomplete last batch (default) or pad it and mark it in ``mask``.

    Returns:
        ``Batches(x, y, mask)`` with ``x`` and ``y`` of the structure given; scanning over it
        with ``lax.scan`` yields one ``Batches`` of ``(batch_size, ...)`` arrays per step.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> b = minibatches(jax.random.key(0), jnp.ones((5, 3)), jnp.arange(5), 2, drop_last=False)
        >>> b.x.shape, b.mask.sum(axis=1).tolist()
        ((3, 2, 3), [2, 2, 1])
        >>> lengths = jnp.array([3, 1, 2, 3, 2])
        >>> b = minibatches(jax.random.key(0), (jnp.ones((5, 3, 4)), lengths), jnp.arange(5), 2)
        >>> b.x[0].shape, b.x[1].shape
        ((2, 2, 3, 4), (2, 2))
    """
    n = num_rows(("x", x), ("y", y))
    batch_size = check_at_most_rows("batch_size", batch_size, n, data="x")
    drop_last = check_bool("drop_last", drop_last)
    return _stack_batches(key, as_arrays(x), as_arrays(y), batch_size, drop_last)


@functools.partial(jax.jit, static_argnums=(3, 4))
def _stack_batches(key: PRNGKey, x: Any, y: Any, batch_size: int, drop_last: bool) -> Batches:
    n = jax.tree_util.tree_leaves(x)[0].shape[0]
    num_batches = n // batch_size if drop_last else -(-n // batch_size)
    total = num_batches * batch_size
    perm = jax.random.permutation(key, n)
    # Positions past n wrap around to the start of the permutation: real samples, masked out.
    idx = perm[jnp.arange(total) % n]
    mask = jnp.arange(total) < n

    def stack(a: Array) -> Array:
        return a[idx].reshape((num_batches, batch_size) + a.shape[1:])

    return Batches(
        jax.tree_util.tree_map(stack, x),
        jax.tree_util.tree_map(stack, y),
        mask.reshape(num_batches, batch_size),
    )


def iterate_batches(
    key: PRNGKey, x: Any, y: Any, batch_size: int, *, drop_last: bool = False
) -> Iterator[tuple[Any, Any]]:
    """Python iterator over shuffled ``(x_batch, y_batch)`` pairs for host-side loops.

    Same order as :func:`minibatches` with the same key; ``x`` and ``y`` may be pytrees as
    there. With ``drop_last=False`` (default) the last batch is smaller when ``batch_size``
    does not divide ``n``; no padding, no mask.
    """
    n = num_rows(("x", x), ("y", y))
    batch_size = check_at_most_rows("batch_size", batch_size, n, data="x")
    drop_last = check_bool("drop_last", drop_last)
    (perm,) = _permute(key, jnp.arange(n))  # the permutation `shuffle` and `minibatches` use
    perm = np.asarray(perm)
    x, y = jax.tree_util.tree_map(np.asarray, (x, y))
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        idx = perm[start : start + batch_size]
        yield as_arrays(take_rows(x, idx)), as_arrays(take_rows(y, idx))
