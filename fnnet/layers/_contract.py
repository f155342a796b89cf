"""The layer contract, ``Layer(init, apply)``, and the layers that only compose or wrap others.

The contract every layer follows::

    layer = Layer(init, apply)
    params = layer.init(key, input_shape)            # the shape of a batch, as apply takes it
    y = layer.apply(params, x, *, key=None, training=False)

``key`` in ``init`` is a ``jax.random.key`` (an int seed is refused with the fix).
``input_shape`` is the shape of a batch ``x`` would have (an int ``n`` means ``(n,)``), and
each ``init`` checks it as its ``apply`` checks ``x``. ``x`` is batch-major: ``(batch,
features)``, ``(batch, *spatial, channels)``, ``(batch, time, features)``. Only the dense
layers also take one vector ``(features,)`` (its rank cannot be mistaken for a batch); the
spatial and sequence layers and ``Flatten`` refuse the unbatched rank with the fix (``x[None]``,
or ``jax.vmap`` of a function that adds the axis). ``key`` in ``apply`` feeds layers that draw randomness (dropout, RReLU) and is
ignored by the others; ``training`` switches those layers between their training and inference
behaviour. Both are keyword-only, and an unknown keyword is a ``TypeError``. ``apply`` returns
one array. Parameters are plain pytrees: ``Dense``'s are ``DenseParams(w, b)``, ``serial``'s a
tuple of its layers' params in order. Shape arithmetic lives in ``apply`` only: ``serial.init``
reads each layer's output shape and dtype off ``jax.eval_shape`` of its ``apply``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from fnnet._checks import check_activation, check_key, check_layer
from fnnet._layer_checks import check_shape
from fnnet._types import ActivationFn, Array, Params, PRNGKey


class Layer(NamedTuple):
    """A layer: ``init(key, input_shape) -> params`` and ``apply(params, x, *, key, training)``."""

    init: Callable[..., Params]
    apply: Callable[..., Array]


class SerialLayer(NamedTuple):
    """What :func:`serial` returns: the ``Layer`` pair, then the composed ``layers`` in order
    (read by ``fnnet.diagnostics.diagnose`` for per-layer statistics)."""

    init: Callable[..., tuple]
    apply: Callable[..., Array]
    layers: tuple


def no_params(key: PRNGKey, input_shape: Any) -> tuple:
    """``init`` of a parameter-free layer that takes any shape: checks ``key`` and
    ``input_shape``, returns ``()``."""
    check_key("key", key)
    check_shape("input_shape", input_shape)
    return ()


def Activation(fn: ActivationFn) -> Layer:
    """A parameter-free layer applying ``fn`` elementwise (e.g. after a linear ``Dense``)."""
    fn = check_activation("fn", fn)

    def apply(
        params: tuple, x: Array, *, key: PRNGKey | None = None, training: bool = False
    ) -> Array:
        del params, key, training
        return fn(jnp.asarray(x))

    return Layer(no_params, apply)


def Residual(layer: Layer) -> Layer:
    """Skip connection ``a = x + layer(x)`` around a layer with matching input and output shapes.

    Backward: the cotangent reaching ``x`` is the sum of the skip path's ``g`` and the layer's
    own ``∂L/∂x``; JAX adds the two, each layer's rule stays local.
    """
    check_layer("layer", layer)

    def apply(
        params: Any, x: Array, *, key: PRNGKey | None = None, training: bool = False
    ) -> Array:
        x = jnp.asarray(x)
        out = layer.apply(params, x, key=key, training=training)
        if out.shape != x.shape:
            raise ValueError(
                f"`Residual` needs the layer to keep the shape: input {x.shape}, output {out.shape}."
            )
        return x + out

    return Layer(layer.init, apply)


def _floating_dtype(params: Any) -> Any:
    """The dtype of the first floating leaf of ``params``, or ``None`` (no parameters)."""
    for leaf in jax.tree_util.tree_leaves(params):
        if jnp.issubdtype(jnp.result_type(leaf), jnp.floating):
            return jnp.result_type(leaf)
    return None


def serial(*layers: Layer) -> SerialLayer:
    """Compose layers in sequence.

    Args:
        *layers: ``Layer`` pairs, applied first to last.

    Returns:
        A :class:`SerialLayer` (a ``Layer`` plus its ``layers``) whose params are the tuple of the
        layers' params in order. ``init`` splits its key once per layer and reads each layer's
        output shape and dtype off ``jax.eval_shape`` of its ``apply`` (the network input's
        dtype is that of the first layer with floating parameters; parameter-free layers before
        it are shaped in float32); ``apply`` derives layer ``i``'s key as ``fold_in(key, i)``
        and passes ``training`` to every layer.
    """
    if not layers:
        raise ValueError("`serial` needs at least one layer; got none.")
    for i, layer in enumerate(layers):
        check_layer(f"layers[{i}]", layer)

    def init(key: PRNGKey, input_shape: Any) -> tuple:
        check_key("key", key)
        shape = check_shape("input_shape", input_shape)
        keys = jax.random.split(key, len(layers))
        params = []
        dtype = None  # the input's dtype: that of the first parameters, then carried forward
        for layer, layer_key in zip(layers, keys):
            p = layer.init(layer_key, shape)
            if dtype is None:
                dtype = _floating_dtype(p)
            out = jax.eval_shape(layer.apply, p, jax.ShapeDtypeStruct(shape, dtype or jnp.float32))
            shape = tuple(out.shape)
            if dtype is not None:
                dtype = out.dtype  # what this layer hands the next one, read off its forward
            params.append(p)
        return tuple(params)

    def apply(
        params: tuple, x: Array, *, key: PRNGKey | None = None, training: bool = False
    ) -> Array:
        if not isinstance(params, tuple) or len(params) != len(layers):
            raise TypeError(
                f"`params` must be a tuple of {len(layers)} layer params (from this network's "
                f"init); got {jax.tree_util.tree_structure(params)}."
            )
        for i, (layer, p) in enumerate(zip(layers, params)):
            layer_key = None if key is None else jax.random.fold_in(key, i)
            x = layer.apply(p, x, key=layer_key, training=training)
        return x

    return SerialLayer(init, apply, tuple(layers))
