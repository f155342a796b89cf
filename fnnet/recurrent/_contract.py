"""The recurrent-layer contract, its argument checks, and the builder shared by every cell.

A recurrent layer is ``RecurrentLayer(init, apply, run, deltas)``; the first two fields are the
``fnnet.layers.Layer`` contract, so it works in ``serial`` and ``fit``:

* ``params = init(key, input_shape)``, ``input_shape`` ``(time, features)`` or
  ``(batch, time, features)`` (or the feature count);
* ``apply(params, x, *, key=None, training=False, lengths=None) -> outputs``: the whole output
  sequence ``(batch, time, hidden)`` (``(time, hidden)`` for an unbatched ``x``);
* ``run(params, x, *, h0=None, lengths=None) -> (outputs, final_state)``: the initial state in and
  the final state out (``h`` of shape ``(batch, hidden)``; ``(h, c)`` for the LSTM);
* ``deltas(params, x, doutputs, *, h0=None, lengths=None) -> δh``: the total ``∂L/∂h_t``
  per step ``(batch, time, hidden)`` of the layer's own backward pass, for a loss whose gradient
  with respect to the outputs is ``doutputs`` (vanishing/exploding gradients through time).

``lengths`` (one int per row, in ``[1, time]``) marks each row's valid prefix: padded steps keep
the state, output 0 and receive no gradient.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from fnnet import _checks, initializers

Array = jax.Array


class RecurrentLayer(NamedTuple):
    """A sequence layer: the ``Layer`` pair plus ``run`` (states in and out) and ``deltas``."""

    init: Callable[..., Any]
    apply: Callable[..., Array]
    run: Callable[..., tuple[Array, Any]]
    deltas: Callable[..., Array]


def torch_uniform(hidden: int) -> Callable[..., Array]:
    """PyTorch's default for ``nn.RNN``/``nn.LSTM``/``nn.GRU``: every entry ~ U(±1/√hidden)."""
    return initializers.uniform(1.0 / math.sqrt(_checks.check_positive_int("hidden", hidden)))


def initializers_of(hidden: int, w_init: Any, b_init: Any) -> tuple[Callable, Callable]:
    """The weight and bias initializers, each defaulting to :func:`torch_uniform`."""
    w_init = _checks.check_callable("w_init", w_init or torch_uniform(hidden))
    return w_init, _checks.check_callable("b_init", b_init or torch_uniform(hidden))


def projections(
    key: Any, features: int, hidden: int, gates: int, inits: tuple, dtype: Any
) -> tuple[Array, Array, Array, Array]:
    """``(w_ih (F, gates·H), w_hh (H, gates·H), b_ih, b_hh)`` drawn from ``inits = (w, b)``."""
    w_init, b_init = inits
    k = jax.random.split(key, 4)
    width = gates * hidden
    return (
        w_init(k[0], (features, width), dtype),
        w_init(k[1], (hidden, width), dtype),
        b_init(k[2], (width,), dtype),
        b_init(k[3], (width,), dtype),
    )


def check_truncate(truncate: Any) -> int | None:
    """``None`` (full BPTT) or a positive int ``k`` (truncated BPTT, chunks of ``k`` steps)."""
    return None if truncate is None else _checks.check_positive_int("truncate", truncate)


def features_of(input_shape: Any) -> int:
    """The feature count of an ``init`` input shape: an int, ``(time, F)`` or ``(batch, time, F)``."""
    if _checks.is_int(input_shape) and input_shape >= 1:
        return int(input_shape)
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = ()
    if len(shape) not in (2, 3) or not all(_checks.is_int(d) and d >= 1 for d in shape):
        raise ValueError(
            f"`input_shape` must be (time, features), (batch, time, features) or a feature "
            f"count; got {input_shape!r}."
        )
    return int(shape[-1])


def check_sequence(x: Any, params: Any, *, name: str = "x") -> Array:
    """A float sequence ``(batch, time, F)`` or ``(time, F)`` matching the layer's ``w_ih``."""
    x = _checks.check_floating(name, x)
    features = params.w_ih.shape[0]
    _checks.check_ndim(name, x, (2, 3), layout=f"(batch, time, {features}) or (time, {features})")
    if x.shape[-1] != features:
        raise ValueError(
            f"`{name}` has {x.shape[-1]} features but the layer expects {features}: "
            f"`{name}`.shape = {x.shape}, w_ih.shape = {params.w_ih.shape}."
        )
    if x.shape[-2] < 1:
        raise ValueError(f"`{name}` must have at least one time step; got shape {x.shape}.")
    if x.dtype != params.w_ih.dtype:
        raise TypeError(
            f"`{name}` has dtype {x.dtype} but the layer's parameters are {params.w_ih.dtype}; "
            f"cast one to the other."
        )
    return x


def check_lengths(lengths: Any, batch: int, time: int, *, unbatched: bool) -> Array | None:
    """``None`` or int lengths of shape ``(batch,)`` (a scalar for an unbatched sequence) in
    ``[1, time]``; values are checked when concrete. Returns int32 ``(batch,)``."""
    if lengths is None:
        return None
    lengths = jnp.asarray(lengths)
    if not jnp.issubdtype(lengths.dtype, jnp.integer):
        raise TypeError(f"`lengths` must be integers; got dtype {lengths.dtype}.")
    expected = () if unbatched else (batch,)
    if lengths.shape != expected:
        raise ValueError(
            f"`lengths` must have shape {expected} (one length per sequence of `x`, batch "
            f"{batch}); got shape {lengths.shape}."
        )
    if _checks.is_concrete(lengths):
        values = np.asarray(lengths)
        if values.size and (values.min() < 1 or values.max() > time):
            raise ValueError(
                f"`lengths` must lie in [1, {time}] (the time axis of `x`); got values from "
                f"{values.min()} to {values.max()}."
            )
    return lengths.astype(jnp.int32).reshape(batch)


def initial_state(h0: Any, num_states: int, batch: int, params: Any, *, unbatched: bool) -> tuple:
    """The initial state as a tuple of ``(batch, hidden)`` arrays (zeros when ``h0`` is None).

    ``h0`` is an array ``(batch, hidden)`` (``(hidden,)`` unbatched) for Elman and GRU, a pair
    ``(h0, c0)`` for the LSTM.
    """
    hidden, dtype = params.w_hh.shape[0], params.w_hh.dtype
    if h0 is None:
        return tuple(jnp.zeros((batch, hidden), dtype) for _ in range(num_states))
    parts = (h0,) if num_states == 1 else h0
    if num_states > 1 and not (isinstance(h0, (tuple, list)) and len(h0) == num_states):
        raise TypeError(f"`h0` must be a pair (h0, c0) of arrays; got {type(h0).__name__}.")
    expected = (hidden,) if unbatched else (batch, hidden)
    states = []
    for i, part in enumerate(parts):
        label = "h0" if num_states == 1 else f"h0[{i}]"
        part = _checks.check_floating(label, part)
        if part.shape != expected or part.dtype != dtype:
            raise ValueError(
                f"`{label}` must have shape {expected} and dtype {dtype} (batch {batch}, hidden "
                f"{hidden}); got shape {part.shape}, dtype {part.dtype}."
            )
        states.append(part.reshape(batch, hidden))
    return tuple(states)


def layer(
    init: Callable[[Any, int], Any],
    sequence: Callable[..., tuple[Array, tuple]],
    deltas: Callable[..., Array],
    num_states: int,
    params_type: type,
) -> RecurrentLayer:
    """A ``RecurrentLayer`` from a cell's batched core.

    Args:
        init: ``(key, features) -> params``.
        sequence: ``(params, x (B, T, F), state0 tuple, lengths or None) -> (outputs, final
            tuple)``, the cell's hand rule with its static arguments bound.
        deltas: ``(params, x, state0, lengths, doutputs) -> δh (B, T, H)``.
        num_states: 1 (``h``) or 2 (``(h, c)``).
        params_type: the cell's params NamedTuple (checked in ``run``).
    """

    def prepare(params, x, h0, lengths):
        if not isinstance(params, params_type):
            raise TypeError(
                f"`params` must be {params_type.__name__} (from this layer's init); got "
                f"{type(params).__name__}."
            )
        x = check_sequence(x, params)
        unbatched = x.ndim == 2
        xb = x[None] if unbatched else x
        batch, time = xb.shape[0], xb.shape[1]
        lengths = check_lengths(lengths, batch, time, unbatched=unbatched)
        state0 = initial_state(h0, num_states, batch, params, unbatched=unbatched)
        return xb, state0, lengths, unbatched

    def init_fn(key: Any, input_shape: Any) -> Any:
        return init(_checks.check_key("key", key), features_of(input_shape))

    def run(params: Any, x: Any, *, h0: Any = None, lengths: Any = None) -> tuple[Array, Any]:
        xb, state0, lengths, unbatched = prepare(params, x, h0, lengths)
        outputs, final = sequence(params, xb, state0, lengths)
        if unbatched:
            outputs, final = outputs[0], tuple(s[0] for s in final)
        return outputs, (final[0] if num_states == 1 else final)

    def apply(
        params: Any,
        x: Any,
        *,
        key: Any = None,
        training: bool = False,
        lengths: Any = None,
    ) -> Array:
        del key, training  # deterministic layer
        return run(params, x, lengths=lengths)[0]

    def deltas_fn(
        params: Any, x: Any, doutputs: Any, *, h0: Any = None, lengths: Any = None
    ) -> Array:
        xb, state0, lengths, unbatched = prepare(params, x, h0, lengths)
        doutputs = jnp.asarray(doutputs, xb.dtype)
        expected = jnp.shape(x)[:-1] + (params.w_hh.shape[0],)
        if doutputs.shape != expected:
            raise ValueError(
                f"`doutputs` must have the outputs' shape {expected}; got {doutputs.shape}."
            )
        dh = deltas(params, xb, state0, lengths, doutputs[None] if unbatched else doutputs)
        return dh[0] if unbatched else dh

    return RecurrentLayer(init_fn, apply, run, deltas_fn)


def delta_norms(deltas: Array, lengths: Any = None, *, align: str = "start") -> Array:
    """``‖δh_t‖₂`` per time step, averaged over the rows that have that step.

    Args:
        deltas: ``δh`` as a layer's ``deltas`` returns it, ``(batch, time, H)`` (or an unbatched
            ``(time, H)``).
        lengths: ``None`` (every row has every step) or the ``lengths`` given to ``deltas``, one
            int per row in ``[1, time]`` (a scalar for an unbatched ``deltas``): row ``i``'s
            steps ``t ≥ lengths[i]`` are padding and stay out of the mean.
        align: ``"start"``: entry ``t`` averages step ``t`` of each row. ``"end"``: entry
            ``time − 1 − k`` averages the step ``k`` steps before each row's last one (every
            row's last step lands on the last entry), for a loss read at each row's end.

    Returns:
        ``(time,)`` of ``deltas``' dtype: each entry the mean over the rows that have that
        step, NaN where none does (steps past the longest row).

    Each norm is scaled by the step's largest entry before squaring, so norms far below
    ``√tiny`` (1e-19 in float32, where vanishing gradients through time quickly go) do not
    underflow to 0; NaN in a row's valid steps stays NaN.
    """
    if align not in ("start", "end"):
        raise ValueError(f'`align` must be "start" or "end"; got {align!r}.')
    deltas = _checks.check_floating("deltas", deltas)
    _checks.check_ndim("deltas", deltas, (2, 3), layout="(batch, time, hidden) or (time, hidden)")
    scale = jnp.max(jnp.abs(deltas), axis=-1, keepdims=True)
    safe = jnp.where(scale > 0, scale, jnp.ones_like(scale))
    norms = (safe * jnp.sqrt(jnp.sum(jnp.square(deltas / safe), axis=-1, keepdims=True)))[..., 0]
    norms = jnp.where(scale[..., 0] > 0, norms, scale[..., 0])
    unbatched = norms.ndim == 1
    norms = norms[None] if unbatched else norms
    batch, time = norms.shape
    lengths = check_lengths(lengths, batch, time, unbatched=unbatched)
    if lengths is None:
        return jnp.mean(norms, axis=0)
    steps = jnp.arange(time)[None, :]
    if align == "end":  # entry t shows step t − (time − length) of each row
        source = steps - (time - lengths[:, None])
        norms = jnp.take_along_axis(norms, jnp.maximum(source, 0), axis=1)
        valid = source >= 0
    else:
        valid = steps < lengths[:, None]
    count = jnp.sum(valid, axis=0).astype(norms.dtype)
    total = jnp.sum(jnp.where(valid, norms, 0), axis=0)
    return jnp.where(count > 0, total / jnp.maximum(count, 1), jnp.nan)


__all__ = [
    "RecurrentLayer",
    "check_lengths",
    "check_sequence",
    "check_truncate",
    "delta_norms",
    "features_of",
    "initial_state",
    "initializers_of",
    "layer",
    "projections",
    "torch_uniform",
]
