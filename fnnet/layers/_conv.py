"""Convolution with a hand-written δ rule (im2col + the dense ``aᵀδ`` algebra), N-d, channels-last.

Shapes (``N`` spatial axes; the layers take exactly one batch axis, the rules any number of
leading axes)::

    x: (batch, *spatial, in_channels)     w: (*kernel, in_channels, features)     b: (features,)
    y: (batch, *out, features),  out = ⌊(L + lo + hi − d·(k − 1) − 1) / s⌋ + 1   per spatial axis

for input length ``L``, padding ``(lo, hi)``, kernel ``k``, stride ``s`` and dilation ``d``
(Dumoulin & Visin 2016). The layer is a cross-correlation, as in every peer library.

The rule works on *patches*: ``cols[b, t, κ, c] = x_pad[b, s·t + d·κ, c]`` for every kernel
offset ``κ`` (one strided slice per offset), so the forward is one matrix product
``y = cols · W + b`` with ``cols`` reshaped to ``(batch·positions, kernel volume·in_channels)``.
The backward is the dense layer's algebra on those matrices, and ``col2im`` (the adjoint of the
patch extraction: one interior-padded ``lax.pad`` per offset, summed) brings ``∂cols`` back to
the input. This avoids XLA's transposed convolution, slow on CPU (jax-ml/jax#23783). The
padding helpers and ``patches``/``col2im`` are shared with the pooling rules in ``_pool.py``.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from fnnet import activations, initializers
from fnnet._checks import (
    check_activation,
    check_callable,
    check_floating,
    check_key,
    check_positive_int,
    is_int,
)
from fnnet._layer_checks import check_batched
from fnnet.layers._contract import Layer
from fnnet.rules import hand_rule

Padding = Any  # "VALID", "SAME", or a tuple of (low, high) pairs, one per spatial axis


class Window(NamedTuple):
    """Static geometry of a sliding window (a kernel or a pooling window), one entry per axis.

    ``padding`` is ``"VALID"``, ``"SAME"`` (resolved against the input length at trace time,
    low side ``⌊total / 2⌋`` as in ``lax``) or a tuple of non-negative ``(low, high)`` pairs.
    """

    size: tuple[int, ...]
    strides: tuple[int, ...]
    padding: Padding
    dilation: tuple[int, ...]


class ConvParams(NamedTuple):
    """Parameters of a convolution: ``w`` of shape ``(*kernel, in_channels, features)``, ``b``
    of shape ``(features,)``."""

    w: jax.Array
    b: jax.Array


# --- argument normalisation (constructor time) ----------------------------------------------


def per_axis(name: str, value: Any, rank: int) -> tuple[int, ...]:
    """A positive int, or a sequence of ``rank`` positive ints, as a ``rank``-tuple."""
    if is_int(value):
        return (check_positive_int(name, value),) * rank
    if isinstance(value, (tuple, list)) and len(value) == rank:
        return tuple(check_positive_int(f"{name}[{i}]", v) for i, v in enumerate(value))
    raise ValueError(
        f"`{name}` must be a positive int or a sequence of {rank} positive ints (one per spatial "
        f"axis); got {value!r}."
    )


def normalize_padding(padding: Any, rank: int) -> Padding:
    """``"VALID"``/``"SAME"`` (any case), an int ``p`` (``(p, p)`` on every axis), or ``rank``
    entries each an int or a ``(low, high)`` pair; all non-negative."""
    if isinstance(padding, str):
        if padding.upper() not in ("VALID", "SAME"):
            raise ValueError(
                f'`padding` must be "VALID", "SAME", an int or {rank} (low, high) pairs; '
                f"got the string {padding!r}."
            )
        return padding.upper()
    if is_int(padding):
        padding = (padding,) * rank
    if not isinstance(padding, (tuple, list)) or len(padding) != rank:
        raise ValueError(
            f'`padding` must be "VALID", "SAME", an int or a sequence of {rank} ints or (low, high) '
            f"pairs (one per spatial axis); got {padding!r}."
        )
    pairs = []
    for item in padding:
        pair = (item, item) if is_int(item) else item
        if not (
            isinstance(pair, (tuple, list))
            and len(pair) == 2
            and all(is_int(p) and p >= 0 for p in pair)
        ):
            raise ValueError(
                f"`padding` entries must be non-negative ints or (low, high) pairs of them; "
                f"got {padding!r}."
            )
        pairs.append((int(pair[0]), int(pair[1])))
    return tuple(pairs)


def make_window(
    size: Any,
    strides: Any,
    padding: Any,
    dilation: Any = 1,
    *,
    size_name: str = "kernel_size",
) -> Window:
    """Validate a layer's window arguments into a :class:`Window`; the rank (number of spatial
    axes) is that of ``size`` (an int: 1), and errors name ``size`` as ``size_name``."""
    if is_int(size):
        rank = 1
    elif isinstance(size, (tuple, list)) and size:
        rank = len(size)
    else:
        raise ValueError(
            f"`{size_name}` must be a positive int or a non-empty tuple of them; got {size!r}."
        )
    return Window(
        per_axis(size_name, size, rank),
        per_axis("strides", strides, rank),
        normalize_padding(padding, rank),
        per_axis("dilation", dilation, rank),
    )


# --- geometry at trace time -----------------------------------------------------------------


def resolve(
    window: Window, spatial: tuple[int, ...]
) -> tuple[tuple[tuple[int, int], ...], tuple[int, ...]]:
    """``(pads, out)``: the ``(low, high)`` padding pairs and the output size per axis, for an
    input of spatial shape ``spatial``; raises if the window's reach exceeds the padded input."""
    reach = tuple(d * (k - 1) + 1 for k, d in zip(window.size, window.dilation))
    if window.padding == "VALID":
        pads = tuple((0, 0) for _ in spatial)
    elif window.padding == "SAME":
        pads = []
        for n, r, s in zip(spatial, reach, window.strides):
            total = max((-(-n // s) - 1) * s + r - n, 0)
            pads.append((total // 2, total - total // 2))
        pads = tuple(pads)
    else:
        pads = window.padding
    padded = tuple(n + lo + hi for n, (lo, hi) in zip(spatial, pads))
    if any(p < r for p, r in zip(padded, reach)):
        raise ValueError(
            f"`x` is too small for the window: spatial shape {tuple(spatial)}, padding "
            f"{pads} gives {padded}, but the window (size {window.size}, dilation "
            f"{window.dilation}) spans {reach}."
        )
    out = tuple((p - r) // s + 1 for p, r, s in zip(padded, reach, window.strides))
    return pads, out


def spatial_shape(x: jax.Array, window: Window) -> tuple[int, ...]:
    """The spatial axes of ``x`` (``*lead, *spatial, channels``) for a window of that rank."""
    return x.shape[x.ndim - len(window.size) - 1 : -1]


def _offsets(size: tuple[int, ...]) -> list[tuple[int, ...]]:
    return list(itertools.product(*(range(k) for k in size)))  # row-major, as w's reshape


def patches(x: jax.Array, window: Window, pad_value: float = 0.0) -> jax.Array:
    """``cols[..., *t, κ, c] = x_pad[..., *(s·t + d·κ), c]``: shape ``(*lead, *out, K, C)``, the
    ``K`` kernel offsets ``κ`` in row-major order. ``x`` is ``(*lead, *spatial, C)``: any number
    of leading (batch) axes, none for one example."""
    lead = x.shape[: x.ndim - len(window.size) - 1]
    pads, out = resolve(window, spatial_shape(x, window))
    keep = [(0, 0, 0)] * len(lead)
    config = [*keep, *((lo, hi, 0) for lo, hi in pads), (0, 0, 0)]
    x_pad = lax.pad(x, jnp.asarray(pad_value, x.dtype), config)
    cols = []
    for offset in _offsets(window.size):
        start = tuple(d * k for d, k in zip(window.dilation, offset))
        limit = tuple(a + s * (o - 1) + 1 for a, s, o in zip(start, window.strides, out))
        cols.append(
            lax.slice(
                x_pad,
                (*(0 for _ in lead), *start, 0),
                (*lead, *limit, x.shape[-1]),
                (*(1 for _ in lead), *window.strides, 1),
            )
        )
    return jnp.stack(cols, axis=-2)


def col2im(dcols: jax.Array, window: Window, spatial: tuple[int, ...]) -> jax.Array:
    """The adjoint of :func:`patches`: ``dx[..., j, c] = Σ_{t, κ : s·t + d·κ − lo = j} dcols[..., t, κ, c]``.

    Each offset's slab is put back in place by one ``lax.pad``: ``s − 1`` zeros between entries
    (interior padding), ``d·κ − lo`` before and whatever is left after; negative amounts crop
    the padded border. Trailing rows that no window reaches (with kernel 5, stride 2 and pad 1,
    40 → 19 never reaches the last padded row; with stride 3 whole input rows can be skipped)
    get exact zeros: that is the asymmetric padding, or ``output_padding``, of the transposed
    convolution, here by construction.
    """
    pads, out = resolve(window, spatial)
    keep = [(0, 0, 0)] * (dcols.ndim - len(spatial) - 2)
    zero = jnp.zeros((), dcols.dtype)
    dx = None
    for i, offset in enumerate(_offsets(window.size)):
        config = list(keep)
        for n, (lo, _), o, s, d, k in zip(
            spatial, pads, out, window.strides, window.dilation, offset
        ):
            before = d * k - lo
            config.append((before, n - before - s * (o - 1) - 1, s - 1))
        slab = lax.pad(dcols[..., i, :], zero, config + [(0, 0, 0)])
        dx = slab if dx is None else dx + slab
    assert dx is not None  # a window has at least one offset
    return dx


# --- the rule -------------------------------------------------------------------------------


@hand_rule
@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def conv(window: Window, params: ConvParams, x: jax.Array) -> jax.Array:
    """Convolution (cross-correlation) ``y = cols(x) · W + b``, with a hand-written rule.

    Forward, with ``cols[b, t, κ, c] = x_pad[b, s·t + d·κ, c]`` (``t``, ``κ`` multi-indices)::

        y[b, t, o] = Σ_{κ, c} cols[b, t, κ, c] · w[κ, c, o] + b[o]

    Backward, ``δ = ∂L/∂y``; one weight is used at every position, so its gradient is the sum
    over all of them (weight sharing)::

        ∂b[o]       = Σ_{b, t} δ[b, t, o]
        ∂w[κ, c, o] = Σ_{b, t} cols[b, t, κ, c] · δ[b, t, o]          (= colsᵀ δ)
        ∂cols       = δ wᵀ
        ∂x[b, j, c] = Σ_{t, κ : s·t + d·κ − lo = j} ∂cols[b, t, κ, c]  (col2im)

    The last line is the transposed convolution of δ with the flipped kernel, cropped by the
    padding. ``window`` is static (a :class:`Window` with ``size == w.shape[:-2]``); ``x`` is
    ``(*lead, *spatial, in_channels)``, ``lead`` any batch axes (none for one example).
    ``_conv_fwd`` calls this primal and saves ``w``, ``cols`` and ``x`` (for its shape).
    """
    w, b = params
    cols = patches(x, window)
    lead = cols.shape[:-2]
    y = cols.reshape(-1, math.prod(cols.shape[-2:])) @ w.reshape(-1, w.shape[-1]) + b
    return y.reshape(*lead, w.shape[-1])


def _conv_fwd(window, params, x):
    # Residuals: the patches (the GEMM operand of ∂w) and x for its shape (alive anyway as the
    # layer below's output). XLA computes the patches once for the primal and the residual.
    return conv(window, params, x), (params.w, x, patches(x, window))


def _conv_bwd(window, res, dy):
    w, x, cols = res
    d2 = dy.reshape(-1, dy.shape[-1])
    dw = cols.reshape(d2.shape[0], -1).T @ d2  # ∂w = colsᵀ δ, summed over batch and positions
    db = d2.sum(axis=0)  # ∂b = Σ δ
    dcols = (d2 @ w.reshape(-1, w.shape[-1]).T).reshape(cols.shape)  # ∂cols = δ wᵀ
    return ConvParams(dw.reshape(w.shape), db), col2im(dcols, window, spatial_shape(x, window))


conv.defvjp(_conv_fwd, _conv_bwd)


# --- initializer and layer ------------------------------------------------------------------


def _axes(rank: int) -> tuple[str, ...]:
    """The names of a channels-last batch's axes for ``rank`` spatial axes."""
    spatial = {1: ("length",), 2: ("height", "width")}
    return ("batch", *spatial.get(rank, [f"spatial{i}" for i in range(rank)]), "channels")


def _layout(window: Window) -> str:
    return f"({', '.join(_axes(len(window.size)))})"


def _channels_first_hint(shape: tuple[int, ...], window: Window, channels: int | None) -> str:
    """A hint when ``shape`` reads well as channels-first ``(batch, channels, *spatial)``: its
    axis 1 holds the expected channels, or moving it last makes the window fit."""
    moved = (shape[0], *shape[2:], shape[1])
    if channels is not None:
        reads_so = shape[1] == channels
    else:
        try:
            resolve(window, moved[1:-1])
            reads_so = True
        except ValueError:
            reads_so = False
    if not reads_so:
        return ""
    return (
        f" fnnet is channels-last, {_layout(window)}: if this shape is channels-first (batch, "
        f"channels, ...), as in PyTorch, move the channels last: {moved} (jnp.moveaxis(x, 1, -1))."
    )


def check_spatial_shape(
    name: str, shape: Any, window: Window, channels: int | None = None
) -> tuple[int, ...]:
    """Check a channels-last batch shape for ``window`` (raises naming ``name``): the batched
    rank, ``channels`` channels (when given), spatial axes the window fits; a shape that reads
    as channels-first is named as a possible layout mistake."""
    shape = check_batched(name, shape, _axes(len(window.size)))
    if channels is not None and shape[-1] != channels:
        raise ValueError(
            f"`{name}` has {shape[-1]} channels (last axis) but the kernel expects {channels}: "
            f"`{name}`.shape = {shape}, layout {_layout(window)}."
            + _channels_first_hint(shape, window, channels)
        )
    try:
        resolve(window, shape[1:-1])
    except ValueError as error:
        message = str(error).replace("`x`", f"`{name}`", 1)
        raise ValueError(message + _channels_first_hint(shape, window, channels)) from None
    return shape


def spatial_input(
    x: Any, window: Window, channels: int | None = None, dtype: Any = None
) -> jax.Array:
    """Validate a layer's input ``x``: floating, a channels-last batch for ``window``
    (:func:`check_spatial_shape`), ``dtype``."""
    x = check_floating("x", x)
    check_spatial_shape("x", x.shape, window, channels)
    if dtype is not None and x.dtype != dtype:
        raise TypeError(
            f"`x` has dtype {x.dtype} but the parameters are {dtype}; cast one to the other."
        )
    return x


def Conv(
    features: int,
    kernel_size: Any,
    *,
    strides: Any = 1,
    padding: Any = "VALID",
    dilation: Any = 1,
    activation: Callable[[jax.Array], jax.Array] = activations.identity,
    w_init: Callable[..., jax.Array] | None = None,
    b_init: Callable[..., jax.Array] = initializers.zeros,
    dtype: Any = jnp.float32,
) -> Layer:
    """N-d convolution layer ``a = f(conv(x, w) + b)``, channels-last, with the hand-written rule.

    Args:
        features: output channels.
        kernel_size: an int (1-d) or a tuple, whose length is the number of spatial axes.
        strides: a positive int or one per spatial axis.
        dilation: a positive int or one per spatial axis.
        padding: ``"VALID"`` (none), ``"SAME"`` (output ``⌈L/s⌉``, the extra on the high side),
            an int ``p`` (PyTorch's ``padding=p``: ``p`` zeros on both sides), or per axis an int
            or a ``(low, high)`` pair.
        activation: applied after the convolution through its own rule (default identity).
        w_init: ``(key, shape, dtype) -> array`` for ``w`` of shape ``(*kernel, in, features)``;
            default :func:`fnnet.initializers.fan_in_uniform` (PyTorch's ``U(±1/√fan_in)``,
            ``fan_in = in × kernel volume``). fnnet's initializers compute the same fan-in for
            this shape (``fan_out = features × kernel volume``).
        b_init: bias initializer, default zeros (PyTorch:
            ``fnnet.initializers.fan_in_uniform(in × kernel volume)``).
        dtype: parameter dtype.

    Returns:
        A ``Layer``: ``init(key, input_shape)``, ``input_shape`` a batch ``(batch, *spatial,
        in)``, gives ``ConvParams(w, b)``; ``apply`` maps ``(batch, *spatial, in)`` to
        ``(batch, *out, features)``. Batched input only: one example ``(*spatial, in)`` is
        refused with the fix ``x[None]``.

    Example:
        >>> import jax, jax.numpy as jnp, fnnet
        >>> layer = fnnet.layers.Conv(25, 5, strides=2, padding=1)
        >>> params = layer.init(jax.random.key(0), (8, 40, 1))
        >>> layer.apply(params, jnp.ones((8, 40, 1))).shape
        (8, 19, 25)
    """
    features = check_positive_int("features", features)
    window = make_window(kernel_size, strides, padding, dilation)
    activation = check_activation("activation", activation)
    init_w = initializers.fan_in_uniform() if w_init is None else check_callable("w_init", w_init)
    b_init = check_callable("b_init", b_init)

    def init(key: jax.Array, input_shape: Any) -> ConvParams:
        check_key("key", key)
        shape = check_spatial_shape("input_shape", input_shape, window)
        w_key, b_key = jax.random.split(key)
        w = init_w(w_key, (*window.size, shape[-1], features), dtype)
        return ConvParams(w, b_init(b_key, (features,), dtype))

    def apply(params: ConvParams, x: Any, *, key: Any = None, training: bool = False) -> jax.Array:
        del key, training
        w, b = params
        if w.shape[:-2] != window.size or b.shape != (w.shape[-1],):
            raise ValueError(
                f"`params` must be ConvParams with w of shape (*{window.size}, in, out) and b of "
                f"shape (out,); got w {w.shape}, b {b.shape}."
            )
        x = spatial_input(x, window, w.shape[-2], w.dtype)
        return activation(conv(window, ConvParams(w, b), x))

    return Layer(init, apply)
