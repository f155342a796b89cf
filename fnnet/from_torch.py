"""PyTorch weights as fnnet parameters: one function per PyTorch module, no PyTorch needed.

Each function reads a PyTorch ``state_dict`` given as NumPy arrays (``{k: v.numpy() for k, v in
module.state_dict().items()}``, or any mapping of array-likes) and returns the parameters of
the fnnet layer that computes the same function:

=====================================  =====================================  ==================
PyTorch module                         function                               fnnet layer
=====================================  =====================================  ==================
``nn.Linear``                          :func:`linear` → ``DenseParams``       ``layers.Dense``
``nn.Conv1d``, ``nn.Conv2d``, ...      :func:`conv` → ``ConvParams``          ``layers.Conv``
``nn.RNN``                             :func:`rnn` → ``ElmanParams``          ``recurrent.Elman``
``nn.LSTM``                            :func:`lstm` → ``LSTMParams``          ``recurrent.LSTM``
``nn.GRU``                             :func:`gru` → ``GRUParams``            ``recurrent.GRU``
=====================================  =====================================  ==================

The mapping: fnnet computes ``x @ w`` where PyTorch computes ``x @ weight.T``, so every weight
is transposed (a kernel ``(out, in, *k)`` becomes ``(*k, in, out)``); biases, gate orders
(``[i | f | g | o]``, ``[r | z | n]``) and the two recurrent bias sets are PyTorch's. A
bidirectional recurrent module (keys ``*_reverse``) gives the pair ``(forward, backward)`` of
``recurrent.Bidirectional``. Layouts differ in one place: fnnet is channels-last, so a
convolution's input is ``jnp.moveaxis(x, 1, -1)`` of PyTorch's, and a ``Linear`` after a
``Flatten`` of a channels-first tensor reads its features in another order: give ``linear``
the shape PyTorch flattened, ``flattened=(channels, *spatial)``. Recurrent states need no
change: ``run``'s ``h0`` and final state are PyTorch's ``h_0``/``h_n`` (``(h_n, c_n)``).

Example:
    >>> import jax.numpy as jnp, numpy as np
    >>> from fnnet import from_torch, layers
    >>> state = {"weight": np.ones((3, 2), np.float32), "bias": np.zeros(3, np.float32)}
    >>> params = from_torch.linear(state)  # nn.Linear(2, 3)
    >>> params.w.shape, layers.Dense(3).apply(params, jnp.ones((4, 2))).shape
    ((2, 3), (4, 3))
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import jax.numpy as jnp
import numpy as np

from fnnet._checks import check_int
from fnnet.layers import ConvParams, DenseParams
from fnnet.recurrent import ElmanParams, GRUParams, LSTMParams


def _array(
    state_dict: Any, key: str, *, prefix: str, ndim: tuple[int, ...], required: bool = True
) -> Any:
    """``state_dict[prefix + key]`` as a floating NumPy array whose rank is in ``ndim``, or
    None when it is absent and not ``required``."""
    if not isinstance(state_dict, Mapping):
        raise TypeError(
            f"`state_dict` must be a mapping of names to arrays, such as "
            f"{{k: v.numpy() for k, v in module.state_dict().items()}}; got "
            f"{type(state_dict).__name__}."
        )
    name = prefix + key
    if name not in state_dict:
        if not required:
            return None
        raise KeyError(
            f"`state_dict` has no {name!r} (prefix {prefix!r}); its keys: {sorted(state_dict)}."
        )
    value = np.asarray(state_dict[name])
    if value.ndim not in ndim or not np.issubdtype(value.dtype, np.floating):
        raise ValueError(
            f"`state_dict[{name!r}]` must be a floating array of rank "
            f"{' or '.join(map(str, ndim))}; got shape {value.shape}, dtype {value.dtype}."
        )
    return value


def _bias(state_dict: Any, key: str, *, prefix: str, size: int, like: np.ndarray) -> np.ndarray:
    """The bias ``key`` of ``size`` entries; zeros for a module built with ``bias=False``."""
    bias = _array(state_dict, key, prefix=prefix, ndim=(1,), required=False)
    if bias is None:
        return np.zeros(size, like.dtype)
    if bias.shape != (size,):
        raise ValueError(
            f"`state_dict[{prefix + key!r}]` must have shape ({size},); got {bias.shape}."
        )
    return bias


def linear(
    state_dict: Mapping[str, Any],
    *,
    prefix: str = "",
    flattened: tuple[int, ...] | None = None,
    dtype: Any = None,
) -> DenseParams:
    """``nn.Linear`` (``weight (out, in)``, ``bias (out,)``) as ``DenseParams(w, b)``,
    ``w = weight.T``, for ``fnnet.layers.Dense(out)``.

    Args:
        state_dict: the module's state dict as NumPy arrays (or a whole model's, with ``prefix``).
        prefix: the module's key prefix in a model's state dict, e.g. ``"fc."``.
        flattened: the channels-first shape ``(channels, *spatial)`` PyTorch flattened into
            this layer's ``in`` features (after a convolution); the weight's columns are then
            reordered for fnnet's channels-last ``Flatten``. ``None``: no reordering.
        dtype: the parameters' dtype; ``None`` keeps the arrays' (as JAX allows it).

    Returns:
        ``DenseParams(w (in, out), b (out,))``; a module without bias gets zeros.
    """
    weight = _array(state_dict, "weight", prefix=prefix, ndim=(2,))
    out, features = weight.shape
    if flattened is not None:
        flattened = tuple(check_int(f"flattened[{i}]", d, low=1) for i, d in enumerate(flattened))
        if len(flattened) < 2 or math.prod(flattened) != features:
            raise ValueError(
                f"`flattened` must be the (channels, *spatial) shape PyTorch flattened into the "
                f"{features} input features; got {flattened}."
            )
        weight = np.moveaxis(weight.reshape(out, *flattened), 1, -1).reshape(out, features)
    bias = _bias(state_dict, "bias", prefix=prefix, size=out, like=weight)
    return DenseParams(jnp.asarray(weight.T, dtype), jnp.asarray(bias, dtype))


def conv(state_dict: Mapping[str, Any], *, prefix: str = "", dtype: Any = None) -> ConvParams:
    """``nn.Conv1d``/``Conv2d``/``Conv3d`` (``weight (out, in, *kernel)``) as ``ConvParams``,
    ``w`` of shape ``(*kernel, in, out)``, for ``fnnet.layers.Conv(out, kernel)`` with the
    module's stride, padding and dilation (``groups=1``). fnnet's input is channels-last:
    ``jnp.moveaxis(x, 1, -1)`` of PyTorch's.

    Args:
        state_dict: the module's state dict as NumPy arrays.
        prefix: the module's key prefix in a model's state dict, e.g. ``"conv1."``.
        dtype: the parameters' dtype; ``None`` keeps the arrays'.

    Returns:
        ``ConvParams(w (*kernel, in, out), b (out,))``; a module without bias gets zeros.
    """
    weight = _array(state_dict, "weight", prefix=prefix, ndim=(3, 4, 5))  # (out, in, *kernel)
    kernel = tuple(range(2, weight.ndim))
    bias = _bias(state_dict, "bias", prefix=prefix, size=weight.shape[0], like=weight)
    return ConvParams(jnp.asarray(weight.transpose(*kernel, 1, 0), dtype), jnp.asarray(bias, dtype))


def _recurrent(
    state_dict: Any, params_type: type, gates: int, prefix: str, layer: int, dtype: Any
) -> Any:
    """One direction per ``_reverse`` suffix: the pair ``(forward, backward)`` when present."""
    layer = check_int("layer", layer, low=0)
    if isinstance(state_dict, Mapping) and f"{prefix}weight_hr_l{layer}" in state_dict:
        raise ValueError(
            "`state_dict` is of an LSTM with proj_size > 0 (weight_hr_l*): fnnet's LSTM has no "
            "projection."
        )

    def direction(suffix: str) -> Any:
        key = f"_l{layer}{suffix}"
        w_ih = _array(state_dict, "weight_ih" + key, prefix=prefix, ndim=(2,))
        w_hh = _array(state_dict, "weight_hh" + key, prefix=prefix, ndim=(2,))
        hidden = w_hh.shape[1]
        if w_hh.shape != (gates * hidden, hidden) or w_ih.shape[0] != gates * hidden:
            raise ValueError(
                f"`state_dict` weights of {params_type.__name__} must be weight_ih ({gates}·H, F) "
                f"and weight_hh ({gates}·H, H); got {prefix}weight_ih{key} {w_ih.shape}, "
                f"{prefix}weight_hh{key} {w_hh.shape}."
            )
        size = gates * hidden
        b_ih = _bias(state_dict, "bias_ih" + key, prefix=prefix, size=size, like=w_ih)
        b_hh = _bias(state_dict, "bias_hh" + key, prefix=prefix, size=size, like=w_ih)
        arrays = (w_ih.T, w_hh.T, b_ih, b_hh)
        return params_type(*(jnp.asarray(a, dtype) for a in arrays))

    forward = direction("")
    if isinstance(state_dict, Mapping) and f"{prefix}weight_ih_l{layer}_reverse" in state_dict:
        return forward, direction("_reverse")
    return forward


def rnn(
    state_dict: Mapping[str, Any], *, prefix: str = "", layer: int = 0, dtype: Any = None
) -> ElmanParams | tuple[ElmanParams, ElmanParams]:
    """``nn.RNN`` as ``ElmanParams`` for ``fnnet.recurrent.Elman(hidden)`` (give
    ``activation=fnnet.activations.relu`` for ``nonlinearity="relu"``).

    Args:
        state_dict: the module's state dict as NumPy arrays.
        prefix: the module's key prefix in a model's state dict, e.g. ``"rnn."``.
        layer: which layer of a multi-layer module (``num_layers > 1``), from 0; stack them in
            ``fnnet.layers.serial``.
        dtype: the parameters' dtype; ``None`` keeps the arrays'.

    Returns:
        ``ElmanParams(w_ih (F, H), w_hh (H, H), b_ih, b_hh)``, or for a bidirectional module
        the pair ``(forward, backward)``, the params of ``recurrent.Bidirectional``.
    """
    return _recurrent(state_dict, ElmanParams, 1, prefix, layer, dtype)


def lstm(
    state_dict: Mapping[str, Any], *, prefix: str = "", layer: int = 0, dtype: Any = None
) -> LSTMParams | tuple[LSTMParams, LSTMParams]:
    """``nn.LSTM`` as ``LSTMParams`` (no peepholes; gates ``[i | f | g | o]`` as PyTorch) for
    ``fnnet.recurrent.LSTM(hidden)``. Arguments and the bidirectional pair as :func:`rnn`;
    a module with ``proj_size > 0`` is refused."""
    return _recurrent(state_dict, LSTMParams, 4, prefix, layer, dtype)


def gru(
    state_dict: Mapping[str, Any], *, prefix: str = "", layer: int = 0, dtype: Any = None
) -> GRUParams | tuple[GRUParams, GRUParams]:
    """``nn.GRU`` as ``GRUParams`` (gates ``[r | z | n]``, two bias sets, as PyTorch) for
    ``fnnet.recurrent.GRU(hidden)``. Arguments and the bidirectional pair as :func:`rnn`."""
    return _recurrent(state_dict, GRUParams, 3, prefix, layer, dtype)


__all__ = ["conv", "gru", "linear", "lstm", "rnn"]
