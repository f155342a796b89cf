"""The checks of the layer contract (docs/architecture.md), shared by every layer family.

``layers``, ``recurrent``, ``networks`` and ``classic``'s RBF layer check their shapes and
inputs here: an ``init`` shape, the batched rank of spatial and sequence inputs (the unbatched
rank is refused with its fix), a dense-like input and its ``(w, b)`` parameters. A shared
private module, as ``_checks``: every unit may import it. Each check names the argument, what
was expected and what came.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from fnnet._checks import check_floating, is_int


def check_shape(name: str, shape: Any) -> tuple[int, ...]:
    """A shape: a non-empty tuple of non-negative ints, or an int ``n``, meaning ``(n,)``."""
    if is_int(shape) and shape >= 0:
        return (int(shape),)
    try:
        dims = tuple(shape)
    except TypeError:
        dims = ()
    if not dims or not all(is_int(d) and d >= 0 for d in dims):
        raise ValueError(
            f"`{name}` must be a feature count (int) or a non-empty shape tuple of "
            f"non-negative ints; got {shape!r}."
        )
    return tuple(int(d) for d in dims)


def check_batched(name: str, shape: Any, axes: tuple[str, ...]) -> tuple[int, ...]:
    """A batch-first shape of rank ``len(axes)`` (``axes`` names them, batch first), for a layer
    that takes batched input only (docs/architecture.md, the layer contract).

    ``name`` is ``"x"`` (an array's shape) or ``"input_shape"`` (an ``init`` shape); the fixes
    the message gives are written for that. A shape one axis short is the unbatched rank, which
    also reads as a batch missing its last axis: the message names both and their fixes.
    """
    shape = check_shape(name, shape)
    if len(shape) == len(axes):
        return shape
    layout = f"({', '.join(axes)})"
    message = f"`{name}` must have rank {len(axes)}, {layout}; got shape {shape}."
    if len(shape) == len(axes) - 1:
        if name == "input_shape":
            one, last = f"{(1, *shape)}", f"{(*shape, 1)}"
        else:
            one, last = f"`{name}[None]`", f"`{name}[..., None]`"
        message += (
            f" This layer takes batched input only: for one example, add the batch axis, {one} "
            f"(to map over examples, jax.vmap a function that adds it); for a batch without "
            f"a {axes[-1]} axis, add that axis, {last}."
        )
    raise ValueError(message)


def check_features(name: str, x: Any, features: int, dtype: Any) -> jax.Array:
    """The input of a dense-like layer: floating, ``(batch, features)`` or one example
    ``(features,)``, of the parameters' ``dtype``; returns ``jnp.asarray(x)``."""
    x = check_floating(name, x)
    if x.ndim not in (1, 2):
        raise ValueError(
            f"`{name}` must have shape (batch, {features}) or ({features},); got shape {x.shape}."
        )
    if x.shape[-1] != features:
        raise ValueError(
            f"`{name}` has {x.shape[-1]} features but the layer expects {features}: "
            f"`{name}`.shape = {x.shape}, w.shape = ({features}, ...)."
        )
    if x.dtype != dtype:
        raise TypeError(
            f"`{name}` has dtype {x.dtype} but the layer's parameters are {dtype}; "
            f"cast one to the other."
        )
    return x


def check_affine_params(name: str, params: Any) -> tuple[Any, Any]:
    """``(w, b)`` of an affine map: a 2-d weight ``(fan_in, fan_out)`` and a bias ``(fan_out,)``
    of one floating dtype (``DenseParams``); returns the pair."""
    if not (isinstance(params, tuple) and len(params) == 2):
        raise TypeError(
            f"`{name}` must be DenseParams(w, b); got {jax.tree_util.tree_structure(params)}."
        )
    w, b = params
    if getattr(w, "ndim", None) != 2 or getattr(b, "ndim", None) != 1 or b.shape[0] != w.shape[1]:
        raise ValueError(
            f"`{name}` must hold w of shape (fan_in, fan_out) and b of shape (fan_out,); got "
            f"w.shape = {getattr(w, 'shape', None)}, b.shape = {getattr(b, 'shape', None)}."
        )
    if w.dtype != b.dtype or not jnp.issubdtype(w.dtype, jnp.floating):
        raise TypeError(
            f"`{name}` must be floating and of one dtype; got w {w.dtype}, b {b.dtype}."
        )
    return w, b


def check_mlp_input(
    params: Any, x: Any, num_layers: int, *, batch: bool = False
) -> tuple[tuple, jax.Array]:
    """An MLP's ``params`` (``num_layers`` chained ``(w, b)`` pairs) and its input ``x``.

    ``x`` is ``(batch, fan_in)`` or one example ``(fan_in,)``; with ``batch=True`` (a loss over
    the examples of a batch) a batch only. Returns ``(pairs, x)``: the ``(w, b)`` pairs (the
    caller wraps them as ``DenseParams``) and ``jnp.asarray(x)``; the errors name the layer and
    both shapes.
    """
    if not isinstance(params, tuple) or len(params) != num_layers:
        raise TypeError(
            f"`params` must be a tuple of {num_layers} DenseParams; got "
            f"{jax.tree_util.tree_structure(params)}."
        )
    pairs = tuple(check_affine_params(f"params[{i}]", p) for i, p in enumerate(params))
    for i in range(1, num_layers):
        if pairs[i][0].shape[0] != pairs[i - 1][0].shape[1]:
            raise ValueError(
                f"`params[{i}].w` has shape {pairs[i][0].shape} but layer {i - 1} has "
                f"{pairs[i - 1][0].shape[1]} outputs."
            )
    fan_in = pairs[0][0].shape[0]
    x = check_features("x", x, fan_in, pairs[0][0].dtype)
    if batch and x.ndim != 2:
        raise ValueError(f"`x` must be a batch (batch, {fan_in}); got shape {x.shape}.")
    return pairs, x
