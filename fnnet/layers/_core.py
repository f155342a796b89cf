"""Layers as ``(init, apply)`` pairs, the dense layer's fused backward rule, and ``serial``.

The contract every layer follows::

    layer = Layer(init, apply)
    params = layer.init(key, input_shape)            # input_shape: an int or a shape tuple
    y = layer.apply(params, x, *, key=None, training=False)

``x`` is batch-major, ``(batch, features)``; a single unbatched vector ``(features,)`` works too.
``key`` feeds layers that draw randomness (dropout, RReLU) and is ignored by the others;
``training`` switches those layers between their training and inference behaviour. Both are
keyword-only, and an unknown keyword is a ``TypeError``. Parameters are plain pytrees:
``Dense``'s are ``DenseParams(w, b)``, ``serial``'s a tuple of its layers' params in order.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from fnnet import activations, initializers
from fnnet._checks import check_key
from fnnet._types import Activation, Array, Initializer, Params, PRNGKey
from fnnet.rules import hand_rule


class Layer(NamedTuple):
    """A layer: ``init(key, input_shape) -> params`` and ``apply(params, x, *, key, training)``."""

    init: Callable[..., Params]
    apply: Callable[..., Array]


class DenseParams(NamedTuple):
    """Parameters of a dense layer: ``w`` of shape ``(fan_in, fan_out)``, ``b`` of shape ``(fan_out,)``."""

    w: Array
    b: Array


def _as_shape(input_shape: Any) -> tuple[int, ...]:
    if isinstance(input_shape, int) and not isinstance(input_shape, bool):
        return (input_shape,)
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = None
    if not shape or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise ValueError(
            f"`input_shape` must be a feature count (int) or a non-empty shape tuple of "
            f"non-negative ints; got {input_shape!r}."
        )
    return shape


def check_activation(activation: Any, name: str = "activation") -> Activation:
    """Raise a clear error unless ``activation`` is a function (not a name)."""
    if isinstance(activation, str):
        raise TypeError(
            f"`{name}` must be a function such as fnnet.activations.relu, not a name; "
            f"got the string {activation!r}."
        )
    if not callable(activation):
        raise TypeError(f"`{name}` must be callable; got {type(activation).__name__}.")
    return activation


def check_input(x: Any, in_dim: int, dtype: Any, *, name: str = "x") -> Array:
    """Validate a dense layer's input: float dtype, rank 1 or 2, ``in_dim`` features."""
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"`{name}` must have a floating dtype; got {x.dtype}.")
    if x.ndim not in (1, 2):
        raise ValueError(
            f"`{name}` must have shape (batch, {in_dim}) or ({in_dim},); got shape {x.shape}."
        )
    if x.shape[-1] != in_dim:
        raise ValueError(
            f"`{name}` has {x.shape[-1]} features but the layer expects {in_dim}: "
            f"`{name}`.shape = {x.shape}, w.shape = ({in_dim}, ...)."
        )
    if x.dtype != dtype:
        raise TypeError(
            f"`{name}` has dtype {x.dtype} but the layer's parameters are {dtype}; "
            f"cast one to the other."
        )
    return x


def check_dense_params(params: Any, *, name: str = "params") -> DenseParams:
    """Validate ``DenseParams``: a 2-d weight and a matching 1-d bias of the same float dtype."""
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
    return DenseParams(w, b)


@hand_rule
@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def dense(activation: Activation, params: DenseParams, x: Array) -> Array:
    """Affine map plus activation, ``z = x @ w + b``, ``a = f(z)``, with one fused rule.

    Backward (``δ = ∂L/∂z``, ``g = ∂L/∂a``, sums over the batch)::

        δ = g ⊙ f'(z)        (the activation's own rule, from what its forward saved)
        ∂L/∂w = xᵀ δ,   ∂L/∂b = Σ_batch δ,   ∂L/∂x = δ wᵀ

    The forward saves ``w``, ``x`` and the activation's residuals (``a`` for sigmoid/tanh), not
    ``z``. ``activation`` is static (a function); ``x`` is ``(batch, fan_in)``. ``_dense_fwd``
    does not call this primal (it needs ``z`` on the way): under higher-order differentiation
    fnnet's rules are first-order, so use :func:`fnnet.autodiff` for Hessians.
    """
    return activation(x @ params.w + params.b)


def _dense_fwd(activation, params, x):
    z = x @ params.w + params.b
    a, activation_vjp = jax.vjp(activation, z)  # residuals: whatever f's own rule saves
    return a, (params.w, x, activation_vjp)


def _dense_bwd(activation, res, da):
    w, x, activation_vjp = res
    (dz,) = activation_vjp(da)  # δ = g ⊙ f'(z)
    dw = x.T @ dz  # ∂L/∂w = xᵀ δ
    db = dz.sum(axis=0)  # ∂L/∂b = Σ_batch δ
    dx = dz @ w.T  # ∂L/∂x = δ wᵀ: the δ handed to the layer below
    return DenseParams(dw, db), dx


dense.defvjp(_dense_fwd, _dense_bwd)


def Dense(
    out_dim: int,
    activation: Activation = activations.identity,
    w_init: Initializer | None = None,
    b_init: Initializer = initializers.zeros,
    *,
    dtype: Any = jnp.float32,
) -> Layer:
    """Dense (fully connected) layer ``a = f(x @ w + b)`` with the fused hand-written rule.

    Args:
        out_dim: number of units (``fan_out``).
        activation: a function ``z -> a`` such as ``fnnet.activations.sigmoid`` (default identity).
        w_init: weight initializer ``(key, shape, dtype) -> array``; default Glorot normal,
            which breaks symmetry (never all-equal weights).
        b_init: bias initializer; default zeros.
        dtype: parameter dtype (default float32).

    Returns:
        A ``Layer``; ``init(key, fan_in)`` returns ``DenseParams(w, b)`` (flattening to
        ``[w, b]``), ``apply(params, x)`` maps ``(batch, fan_in)`` to ``(batch, out_dim)``.

    Example:
        >>> import jax, jax.numpy as jnp, fnnet
        >>> layer = fnnet.Dense(3, activation=fnnet.activations.sigmoid)
        >>> params = layer.init(jax.random.key(0), 2)
        >>> layer.apply(params, jnp.ones((5, 2))).shape
        (5, 3)
    """
    if not isinstance(out_dim, int) or isinstance(out_dim, bool) or out_dim < 1:
        raise ValueError(f"`out_dim` must be a positive int; got {out_dim!r}.")
    activation = check_activation(activation)
    w_init = initializers.glorot_normal() if w_init is None else w_init
    for name, fn in (("w_init", w_init), ("b_init", b_init)):
        if not callable(fn):
            raise TypeError(f"`{name}` must be an initializer function; got {fn!r}.")

    def init(key: PRNGKey, input_shape: Any) -> DenseParams:
        check_key("key", key)
        fan_in = _as_shape(input_shape)[-1]
        w_key, b_key = jax.random.split(key)
        return DenseParams(
            w_init(w_key, (fan_in, out_dim), dtype), b_init(b_key, (out_dim,), dtype)
        )

    def apply(
        params: DenseParams, x: Array, *, key: PRNGKey | None = None, training: bool = False
    ) -> Array:
        del key, training  # deterministic layer
        params = check_dense_params(params)
        x = check_input(x, params.w.shape[0], params.w.dtype)
        if x.ndim == 1:
            return dense(activation, params, x[None, :])[0]
        return dense(activation, params, x)

    return Layer(init, apply)


def no_params(key: PRNGKey, input_shape: Any) -> tuple:
    """``init`` of a parameter-free layer: checks ``key`` and ``input_shape``, returns ``()``."""
    check_key("key", key)
    _as_shape(input_shape)
    return ()


def Activation(fn: Activation) -> Layer:
    """A parameter-free layer applying ``fn`` elementwise (e.g. after a linear ``Dense``)."""
    fn = check_activation(fn, "fn")

    def apply(
        params: tuple, x: Array, *, key: PRNGKey | None = None, training: bool = False
    ) -> Array:
        del params, key, training
        return fn(jnp.asarray(x))

    return Layer(no_params, apply)


def PReLU(init_slope: float = 0.25, *, per_feature: bool = True, dtype: Any = jnp.float32) -> Layer:
    """PReLU layer ``a = z if z > 0 else α·z`` whose slope ``α`` is a learned parameter.

    Args:
        init_slope: initial value of ``α`` (He et al. use 0.25).
        per_feature: one slope per feature (params shape ``(features,)``) or one shared
            scalar (shape ``()``).
        dtype: dtype of ``α``.

    Returns:
        A ``Layer`` whose params are the slope array; its gradient comes from
        ``fnnet.activations.prelu``'s hand-written rule (``dα = Σ da ⊙ min(z, 0)``).
    """

    def init(key: PRNGKey, input_shape: Any) -> Array:
        check_key("key", key)
        shape = (_as_shape(input_shape)[-1],) if per_feature else ()
        return jnp.full(shape, init_slope, dtype)

    def apply(
        params: Array, x: Array, *, key: PRNGKey | None = None, training: bool = False
    ) -> Array:
        del key, training
        return activations.prelu(jnp.asarray(x), params)

    return Layer(init, apply)


def RReLU(lower: Any = 1.0 / 8.0, upper: Any = 1.0 / 3.0) -> Layer:
    """Randomized leaky ReLU layer: slopes ``U(lower, upper)`` per element when training.

    With ``training=True`` the layer needs a ``key`` (``serial`` derives one per layer from the
    step key); otherwise it uses the mean slope ``(lower + upper) / 2``. No parameters.
    """

    def apply(
        params: tuple, x: Array, *, key: PRNGKey | None = None, training: bool = False
    ) -> Array:
        del params
        return activations.rrelu(
            jnp.asarray(x), key=key, lower=lower, upper=upper, training=training
        )

    return Layer(no_params, apply)


def Residual(layer: Layer) -> Layer:
    """Skip connection ``a = x + layer(x)`` around a layer with matching input and output shapes.

    Backward: the cotangent reaching ``x`` is the sum of the skip path's ``g`` and the layer's
    own ``∂L/∂x``; JAX adds the two, each layer's rule stays local.
    """
    if not (callable(getattr(layer, "init", None)) and callable(getattr(layer, "apply", None))):
        raise TypeError(f"`layer` must be a Layer(init, apply); got {layer!r}.")

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


def serial(*layers: Layer) -> Layer:
    """Compose layers in sequence.

    Args:
        *layers: ``Layer`` pairs, applied first to last.

    Returns:
        A ``Layer`` whose params are the tuple of the layers' params in order. ``init`` splits
        its key once per layer and infers each layer's input shape with ``jax.eval_shape``;
        ``apply`` derives layer ``i``'s key as ``fold_in(key, i)`` and passes ``training`` to
        every layer.
    """
    if not layers:
        raise ValueError("`serial` needs at least one layer; got none.")
    for i, layer in enumerate(layers):
        if not (callable(getattr(layer, "init", None)) and callable(getattr(layer, "apply", None))):
            raise TypeError(f"`layers[{i}]` must be a Layer(init, apply); got {layer!r}.")

    def init(key: PRNGKey, input_shape: Any) -> tuple:
        check_key("key", key)
        shape = _as_shape(input_shape)
        keys = jax.random.split(key, len(layers))
        params = []
        dtype = jnp.float32
        for layer, layer_key in zip(layers, keys):
            p = layer.init(layer_key, shape)
            leaves = jax.tree_util.tree_leaves(p)
            if leaves:
                dtype = leaves[0].dtype
            out = jax.eval_shape(layer.apply, p, jax.ShapeDtypeStruct(shape, dtype))
            shape = tuple(out.shape)
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

    return Layer(init, apply)


__all__ = [
    "Layer",
    "DenseParams",
    "Dense",
    "Activation",
    "PReLU",
    "RReLU",
    "Residual",
    "serial",
    "dense",
    "check_activation",
    "check_input",
    "no_params",
    "check_dense_params",
]
