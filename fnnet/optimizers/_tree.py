"""Tree utilities: structure checks with both trees in the message, the global norm, and the
weights-only mask (a leaf is a weight iff ``ndim >= 2``, or the user's ``mask=``) shared by the
decoupled decays and the loss penalties of :mod:`fnnet.regularizers`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from fnnet._types import Array, Params
from fnnet.optimizers._hyperparams import hyperparam_dtype

Mask = Any  # a pytree of Python bools with the params' structure


def _check_structure(tree: Any, reference: Any, name: str, reference_name: str) -> None:
    tree_def = jax.tree_util.tree_structure(tree)
    reference_def = jax.tree_util.tree_structure(reference)
    if tree_def != reference_def:
        raise TypeError(
            f"`{name}` must have the tree structure of `{reference_name}`: {reference_name} tree "
            f"{reference_def}, {name} tree {tree_def}."
        )


def check_same_tree(
    tree: Any, reference: Any, *, name: str = "grads", reference_name: str = "params"
) -> None:
    """Raise unless ``tree`` has ``reference``'s tree structure and leaf shapes.

    Raises:
        TypeError: for a structure mismatch; the message shows both structures.
        ValueError: for a leaf whose shape differs, named by its key path.
    """
    _check_structure(tree, reference, name, reference_name)
    leaves = jax.tree_util.tree_leaves_with_path(tree)
    for (path, leaf), ref in zip(leaves, jax.tree_util.tree_leaves(reference)):
        if jnp.shape(leaf) != jnp.shape(ref):
            raise ValueError(
                f"`{name}` leaf {jax.tree_util.keystr(path)} has shape {jnp.shape(leaf)} but the "
                f"`{reference_name}` leaf has shape {jnp.shape(ref)}."
            )


def check_state_tree(updates: Any, moments: Any) -> None:
    """Check ``updates`` against a moment tree made by ``init`` (structure, shapes and dtypes)."""
    check_same_tree(updates, moments, name="grads", reference_name="params given to init")
    leaves = jax.tree_util.tree_leaves_with_path(updates)
    for (path, g), m in zip(leaves, jax.tree_util.tree_leaves(moments)):
        if jnp.result_type(g) != m.dtype:
            raise TypeError(
                f"`grads` leaf {jax.tree_util.keystr(path)} has dtype {jnp.result_type(g)} but "
                f"the optimizer state (from the params given to init) has {m.dtype}."
            )


def global_norm(tree: Any) -> Array:
    """``sqrt(Σ_leaves Σ x²)``, computed in float32 (float64 if any leaf is float64)."""
    dtype = hyperparam_dtype(tree)
    leaves = jax.tree_util.tree_leaves(tree)
    squares = [jnp.sum(jnp.square(jnp.asarray(x).astype(dtype))) for x in leaves]
    return jnp.sqrt(sum(squares, jnp.zeros((), dtype)))


def weight_mask(params: Params, mask: Mask | Callable[[Params], Mask] | None = None) -> Mask:
    """Which leaves of ``params`` count as weights (decayed and penalized): a bool pytree.

    The default rule: ``True`` for leaves with ``ndim >= 2`` (weights, convolution kernels),
    ``False`` otherwise (biases, PReLU slopes, scalars). Call it on one model's params, not on
    params stacked for a sweep (stacking adds an axis, so a stacked bias would look like a
    weight); inside ``jax.vmap`` the leaves are unstacked. Given ``mask``, the decays' and
    penalties' ``mask=`` argument, it returns that mask instead, checked against ``params``.

    Args:
        params: the parameter pytree.
        mask: ``None`` for the default rule, a pytree of Python bools with the structure of
            ``params``, or a function ``params ->`` such a pytree.

    Returns:
        A pytree of Python bools with the structure of ``params``.

    Raises:
        TypeError: if the mask's structure differs from the params' (both are shown), or a leaf
            is not a Python bool.

    Example:
        >>> import jax, fnnet
        >>> from fnnet.optimizers import weight_mask
        >>> net = fnnet.serial(fnnet.Dense(8, fnnet.activations.relu), fnnet.Dense(2))
        >>> weight_mask(net.init(jax.random.key(0), 4))
        (DenseParams(w=True, b=False), DenseParams(w=True, b=False))
    """
    if mask is None:
        return jax.tree_util.tree_map(lambda leaf: bool(jnp.ndim(leaf) >= 2), params)
    if callable(mask):
        mask = mask(params)
    _check_structure(mask, params, "mask", "params")
    flags = jax.tree_util.tree_leaves(mask)
    bad = [f for f in flags if not isinstance(f, (bool, np.bool_))]
    if bad:
        raise TypeError(
            f"`mask` leaves must be Python bools (static: they select leaves, they are not "
            f"traced); got {type(bad[0]).__name__} {bad[0]!r}."
        )
    return jax.tree_util.tree_map(bool, mask)
