"""``fit``'s argument checks: everything is refused before the first step, with its name."""

from __future__ import annotations

import os
import tempfile
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from fnnet._checks import (
    check_at_most_rows,
    check_bool,
    check_callable,
    check_finite_rows,
    check_key,
    check_mesh,
    check_optimizer,
    check_positive_int,
    is_concrete,
)
from fnnet._data_checks import as_pair, labelled_leaves, num_rows

_OPT_OUT = "pass allow_nonfinite_data=True to let the non-finite guard skip or stop at it instead"


def check_data(
    data: Any, validation: Any, *, allow_nonfinite_data: bool
) -> tuple[Any, Any, tuple[Any, Any] | None]:
    """The training pair and optional validation pair (pytrees batched on their rows, or
    Datasets): rows, per-row shapes, finite values."""
    x, y = as_pair("data", data)
    if num_rows(("data inputs", x)) == 0:
        raise ValueError("`data` is empty: 0 rows; fit needs examples.")
    val = None if validation is None else as_pair("validation", validation, like=(x, y))
    if val is not None and num_rows(("validation inputs", val[0])) == 0:
        raise ValueError("`validation` is empty: 0 rows; pass None instead.")
    if not check_bool("allow_nonfinite_data", allow_nonfinite_data):
        for name, pair in (("data", (x, y)), ("validation", val)):
            for part, tree in zip(("inputs", "targets"), pair or ()):
                for label, leaf in labelled_leaves(f"{name} {part}", tree):
                    check_finite_rows(label.replace("`", ""), leaf, hint=_OPT_OUT)
    return x, y, val


def check_finite_params(params: Any) -> None:
    """Concrete initial parameters are all finite (training never starts from NaN or ±inf)."""
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        if is_concrete(leaf) and jnp.issubdtype(jnp.result_type(leaf), jnp.inexact):
            bad = ~np.isfinite(np.asarray(leaf))
            if bad.any():
                raise ValueError(
                    f"`params`{jax.tree_util.keystr(path)} (shape {np.shape(leaf)}) has "
                    f"{int(bad.sum())} non-finite value(s); initialise it again."
                )


def check_checkpoint_dir(path: str | os.PathLike) -> None:
    """The checkpoint's directory exists and a file can be created in it."""
    directory = os.path.dirname(os.path.abspath(os.fspath(path)))
    if not os.path.isdir(directory):
        raise ValueError(
            f"`checkpoint_path` {os.fspath(path)!r}: directory {directory!r} does not exist."
        )
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as err:
        raise ValueError(
            f"`checkpoint_path` {os.fspath(path)!r}: directory {directory!r} is not writable "
            f"({err.strerror})."
        ) from err


def check_fit_args(
    apply: Any,
    loss: Any,
    optimizer: Any,
    n: int,
    *,
    key: Any,
    epochs: Any,
    batch_size: Any,
    has_validation: bool,
    patience: Any,
    flags: dict[str, Any],
    checkpoint_path: Any,
    checkpoint_every: Any,
    resume: bool,
    mesh: Any,
) -> Any:
    """Everything but the data; returns the mesh with automatic axes (or None)."""
    check_callable("apply", apply, example="net.apply")
    check_callable("loss", loss, example="fnnet.losses.softmax_cross_entropy")
    check_optimizer("optimizer", optimizer)
    check_key("key", key)
    check_positive_int("epochs", epochs)
    check_positive_int("checkpoint_every", checkpoint_every)
    check_at_most_rows("batch_size", batch_size, n, data="data")
    for name, value in flags.items():
        check_bool(name, value)
    if patience is not None:
        if not has_validation:
            raise ValueError(
                f"`patience` needs `validation` data; got patience={patience!r}, validation=None."
            )
        check_positive_int("patience", patience)
    if checkpoint_path is not None:
        check_checkpoint_dir(checkpoint_path)
    elif resume:
        raise ValueError("`resume=True` needs a `checkpoint_path`.")
    if mesh is None:
        return None
    mesh = check_mesh(mesh)
    if batch_size % mesh.size:
        raise ValueError(
            f"`batch_size` ({batch_size}) must be divisible by the number of devices in `mesh` "
            f"({mesh.size})."
        )
    return mesh
