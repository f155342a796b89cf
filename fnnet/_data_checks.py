"""Data given as pytrees batched on their rows: the checks of ``fnnet.data``, ``fit`` and sweeps.

Inputs and targets are each an array or any pytree of arrays (``(x, lengths)``, a dict of
features), every array with the same leading (row) length. ``fit`` and sweeps take the pair
``(inputs, targets)``, or a ``fnnet.data.Dataset`` standing for ``(dataset.x, dataset.y)``.
Errors name the argument, the part and the key path of the array at fault: ```data` inputs[1]
has 63 rows but `data` inputs[0] has 64``. A shared private module, as ``_checks``: every unit
may import it (``fnnet.data`` included, so a Dataset is recognised by its fields, not by an
import of its class).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from fnnet._checks import is_concrete

_DATASET = ("x", "y", "num_classes", "name")  # fnnet.data.Dataset's fields
_SPLIT = ("train", "test")  # fnnet.data.Split's


def _label(name: str, path: Any) -> str:
    """How an error names one array: ``x[1]`` for a leaf of ``x``, ``data inputs[1]`` for a
    leaf of the inputs of the argument ``data`` (the argument's name in backticks)."""
    argument, _, part = name.partition(" ")
    where = jax.tree_util.keystr(path)
    return f"`{argument}{where}`" if not part else f"`{argument}` {part}{where}"


def labelled_leaves(name: str, tree: Any) -> list[tuple[str, Any]]:
    """``(label, leaf)`` for every array of ``tree``, labelled by ``name`` and its key path."""
    leaves = jax.tree_util.tree_leaves_with_path(tree)
    if not leaves:
        raise ValueError(f"{_label(name, ())} must hold at least one array; got {tree!r}.")
    return [(_label(name, path), leaf) for path, leaf in leaves]


def num_rows(*named: tuple[str, Any]) -> int:
    """The leading (row) length shared by every array of the named pytrees.

    ``named`` are ``(name, tree)`` pairs, ``name`` an argument (``"x"``) or an argument and a
    part (``"data inputs"``); the first leaf without a leading axis or with another length is
    named by its key path in the error (```data` inputs[1]``), with every shape.
    """
    labelled = [item for name, tree in named for item in labelled_leaves(name, tree)]
    for label, leaf in labelled:
        if not np.shape(leaf):
            list_hint = (
                " (a list is a pytree of its elements: pass np.asarray(...) for a list of numbers)"
                if label.rstrip("`").endswith("]")
                else ""
            )
            raise ValueError(
                f"{label} must have a leading row axis; got a scalar of shape (){list_hint}."
            )
    first_label, first = labelled[0]
    n = np.shape(first)[0]
    for label, leaf in labelled[1:]:
        if np.shape(leaf)[0] != n:
            shapes = ", ".join(f"{lab} {tuple(np.shape(a))}" for lab, a in labelled)
            raise ValueError(
                f"{label} has {np.shape(leaf)[0]} rows but {first_label} has {n}: every array "
                f"must share the leading (row) axis; got {shapes}."
            )
    return int(n)


def _numeric(label: str, leaf: Any) -> jax.Array:
    try:
        array = jnp.asarray(leaf)
    except TypeError:
        raise TypeError(
            f"{label} must be a numeric array; got dtype {np.asarray(leaf).dtype}."
        ) from None
    return array


def as_pair(name: str, data: Any, *, like: tuple[Any, Any] | None = None) -> tuple[Any, Any]:
    """``data`` as ``(inputs, targets)`` pytrees of ``jax.Array``, rows checked leaf by leaf.

    Args:
        name: the argument's name (``"data"``, ``"validation"``).
        data: a pair ``(inputs, targets)`` or a ``Dataset``.
        like: the training pair a validation pair must match: the same tree structure and,
            leaf by leaf, the same shape after the rows.

    Returns:
        ``(inputs, targets)`` with the structure given and every leaf a ``jax.Array``.
    """
    fields = getattr(data, "_fields", None) if isinstance(data, tuple) else None
    if fields == _DATASET:
        data = (data[0], data[1])  # Dataset(x, y, ...)
    elif fields == _SPLIT:
        raise TypeError(
            f"`{name}` must be a pair (inputs, targets) or a Dataset; got a Split: pass its "
            f"`.train` (and its `.test` as `validation`)."
        )
    if not (isinstance(data, tuple) and len(data) == 2):
        raise TypeError(
            f"`{name}` must be a pair (inputs, targets) or a fnnet.data.Dataset; got "
            f"{type(data).__name__}"
            + (f" of length {len(data)}." if isinstance(data, (tuple, list)) else ".")
        )
    parts = (f"{name} inputs", f"{name} targets")
    num_rows(*zip(parts, data, strict=True))
    pair = tuple(
        jax.tree_util.tree_unflatten(
            jax.tree_util.tree_structure(tree),
            [_numeric(label, leaf) for label, leaf in labelled_leaves(part, tree)],
        )
        for part, tree in zip(parts, data, strict=True)
    )
    if like is not None:
        for part, tree, reference in zip(("inputs", "targets"), pair, like, strict=True):
            _check_like(name, part, tree, reference)
    return pair


def _check_like(name: str, part: str, tree: Any, reference: Any) -> None:
    """``tree`` has ``reference``'s structure and, per leaf, its shape after the rows."""
    structure, expected = (
        jax.tree_util.tree_structure(tree),
        jax.tree_util.tree_structure(reference),
    )
    if structure != expected:
        raise ValueError(
            f"`{name}` {part} must have the structure of the training {part}; got {structure}, "
            f"expected {expected}."
        )
    for (label, leaf), (_, train) in zip(
        labelled_leaves(f"{name} {part}", tree), labelled_leaves(f"data {part}", reference)
    ):
        if leaf.shape[1:] != train.shape[1:]:
            raise ValueError(
                f"{label} must have the training {part}' shape per row {train.shape[1:]}; got "
                f"shape {leaf.shape} (training: {train.shape})."
            )


def check_labels(
    apply: Any,
    params: Any,
    inputs: Any,
    targets: list[tuple[str, Any]],
    *,
    key: Any,
    batch_size: int,
    model: str = "apply",
) -> None:
    """Concrete integer class labels lie in ``[0, width)``, ``width`` the model's output width.

    Targets are class labels where training scores them so (``fnnet.training.accuracy``): one
    integer array of one dimension less than the outputs. The outputs' shape comes from
    ``jax.eval_shape`` of one batch of ``inputs`` (nothing is computed; ``params`` may be
    traced); 1-based labels would otherwise train on a NaN loss without naming the labels.

    Args:
        apply: ``apply(params, x, *, key, training)``.
        params: the model's parameters.
        inputs: the training inputs (a pytree batched on its rows).
        targets: ``(name, y)`` pairs, e.g. ``[("data", y), ("validation", val_y)]``.
        key: the key ``apply`` is called with in training.
        batch_size: the rows of one training batch.
        model: how the message names the model (``"apply"``, ``"model"``).
    """
    targets = [(name, y) for name, y in targets if _concrete_integers(y)]
    if not targets:
        return
    batch = jax.tree_util.tree_map(
        lambda a: jax.ShapeDtypeStruct((batch_size,) + a.shape[1:], a.dtype), inputs
    )
    outputs = jax.eval_shape(lambda p, x: apply(p, x, key=key, training=True), params, batch)
    if not hasattr(outputs, "shape") or len(outputs.shape) < 2:
        return
    width = outputs.shape[-1]
    for name, y in targets:
        if y.ndim != len(outputs.shape) - 1 or y.size == 0:
            continue
        values = np.asarray(y)
        bad = (values < 0) | (values >= width)
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            low, high = values.min(), values.max()
            hint = " They look 1-based: pass `y - 1`." if low >= 1 and high == width else ""
            raise ValueError(
                f"`{name}` targets must be class labels in [0, {width}) for the {width} outputs "
                f"of `{model}`; got {values[where]} at row {where[0]} ({int(bad.sum())} out of "
                f"range, values in [{low}, {high}]).{hint}"
            )


def _concrete_integers(y: Any) -> bool:
    return (
        isinstance(y, (jax.Array, np.ndarray))
        and is_concrete(y)
        and jnp.issubdtype(y.dtype, jnp.integer)
    )
