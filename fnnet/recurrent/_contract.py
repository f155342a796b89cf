"""The recurrent-layer contract, its argument checks, and the builder shared by every cell.

A recurrent layer is ``RecurrentLayer(init, apply, run, deltas, directions)``; the first two
fields are the ``fnnet.layers.Layer`` contract, so it works in ``serial`` and ``fit``. Sequences
are batched, ``(batch, time, features)`` (one sequence: ``x[None]``):

* ``params = init(key, input_shape)``, ``input_shape`` ``(batch, time, features)``;
* ``apply(params, x, *, key=None, training=False, lengths=None) -> outputs``: the whole output
  sequence ``(batch, time, directions·hidden)``; ``x`` may be the pair ``(x, lengths)``, so a
  layer inside ``serial`` receives its lengths with its input, and the next layer sees only
  the outputs;
* ``run(params, x, *, h0=None, lengths=None) -> (outputs, final_state)``: the initial state in and
  the final state out, in PyTorch's layout: ``h`` of shape ``(directions, batch, hidden)``
  (``h_n``), or for the LSTM the pair ``(h, c)`` of two such arrays (``(h_n, c_n)``);
* ``deltas(params, x, doutputs, *, h0=None, lengths=None) -> δh``: the total ``∂L/∂h_t``
  per step ``(batch, time, directions·hidden)`` of the layer's own backward pass, for a loss
  whose gradient with respect to the outputs is ``doutputs`` (vanishing/exploding gradients);
* ``directions``: 1, or 2 for ``Bidirectional``.

``lengths`` (one int per row, in ``[1, time]``) marks each row's valid prefix: padded steps keep
the state, output 0 and receive no gradient.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from fnnet import _checks, _layer_checks, initializers
from fnnet._types import Array

AXES = ("batch", "time", "features")


class RecurrentLayer(NamedTuple):
    """A sequence layer: the ``Layer`` pair plus ``run`` (states in and out), ``deltas`` and
    ``directions`` (the leading axis of its states: 1, or 2 for ``Bidirectional``)."""

    init: Callable[..., Any]
    apply: Callable[..., Array]
    run: Callable[..., tuple[Array, Any]]
    deltas: Callable[..., Array]
    directions: int = 1


def initializers_of(hidden: int, w_init: Any, b_init: Any) -> tuple[Callable, Callable]:
    """The weight and bias initializers, each defaulting to PyTorch's U(±1/√hidden)."""
    default = initializers.fan_in_uniform(hidden)
    w_init = _checks.check_callable("w_init", w_init or default)
    return w_init, _checks.check_callable("b_init", b_init or default)


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


def sequence_and_lengths(x: Any, lengths: Any) -> tuple[Any, Any]:
    """``apply``'s input: ``x``, or the pair ``(x, lengths)`` (then ``lengths=`` must be None)."""
    if isinstance(x, (tuple, list)):
        if len(x) != 2:
            raise TypeError(
                f"`x` must be a sequence array or the pair (x, lengths); got a "
                f"{type(x).__name__} of {len(x)}."
            )
        if lengths is not None:
            raise TypeError("`lengths` given twice: in the pair (x, lengths) and as `lengths=`.")
        return x[0], x[1]
    return x, lengths


def check_sequence(x: Any, params: Any, *, name: str = "x") -> Array:
    """A float batch of sequences ``(batch, time, F)`` matching the layer's ``w_ih``."""
    x = _checks.check_floating(name, x)
    features = params.w_ih.shape[0]
    _layer_checks.check_batched(name, x.shape, AXES)
    if x.shape[-1] != features:
        raise ValueError(
            f"`{name}` has {x.shape[-1]} features but the layer expects {features}: "
            f"`{name}`.shape = {x.shape}, w_ih.shape = {params.w_ih.shape}."
        )
    if x.shape[1] < 1:
        raise ValueError(f"`{name}` must have at least one time step; got shape {x.shape}.")
    if x.dtype != params.w_ih.dtype:
        raise TypeError(
            f"`{name}` has dtype {x.dtype} but the layer's parameters are {params.w_ih.dtype}; "
            f"cast one to the other."
        )
    return x


def check_lengths(lengths: Any, batch: int, time: int, *, unbatched: bool = False) -> Array | None:
    """``None`` or int lengths of shape ``(batch,)`` in ``[1, time]`` (values checked when
    concrete); returns them as int32 ``(batch,)``. ``unbatched`` (for ``delta_norms`` of one
    sequence's ``δh``): a scalar length, ``batch`` 1."""
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


def check_state(h0: Any, expected: Any, *, name: str = "h0") -> Any:
    """An initial state in the layer's state form ``expected`` (``ShapeDtypeStruct``s: one, or
    a tuple for the LSTM's ``(h, c)``, where a list is accepted too); returns it with tuples."""
    if isinstance(expected, tuple):
        if not (isinstance(h0, (tuple, list)) and len(h0) == len(expected)):
            raise TypeError(
                f"`{name}` must be a pair (h0, c0) of arrays of shape {expected[0].shape} "
                f"(directions, batch, hidden), as PyTorch's (h_0, c_0); got "
                f"{type(h0).__name__}."
            )
        return tuple(
            check_state(h, e, name=f"{name}[{i}]") for i, (h, e) in enumerate(zip(h0, expected))
        )
    layout = f"{expected.shape} (directions, batch, hidden), as PyTorch's h_0"
    if isinstance(h0, (tuple, list)):
        raise TypeError(
            f"`{name}` must be one array of shape {layout}; got a {type(h0).__name__} of "
            f"{len(h0)}: the directions are stacked on the first axis, jnp.stack(...)."
        )
    state = _checks.check_floating(name, h0)
    if state.shape != expected.shape or state.dtype != expected.dtype:
        hint = " Add the directions axis: h0[None]." if state.shape == expected.shape[1:] else ""
        raise ValueError(
            f"`{name}` must have shape {layout}, and dtype {expected.dtype}; got shape "
            f"{state.shape}, dtype {state.dtype}.{hint}"
        )
    return state


def layer(
    init: Callable[[Any, int], Any],
    sequence: Callable[..., tuple[Array, tuple]],
    deltas: Callable[..., Array],
    num_states: int,
    params_type: type,
) -> RecurrentLayer:
    """A one-direction ``RecurrentLayer`` from a cell's batched core.

    Args:
        init: ``(key, features) -> params``.
        sequence: ``(params, x (B, T, F), state0 tuple, lengths or None) -> (outputs, final
            tuple)``, the cell's hand rule with its static arguments bound; states ``(B, H)``.
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
        batch, time = x.shape[:2]
        lengths = check_lengths(lengths, batch, time)
        hidden, dtype = params.w_hh.shape[0], params.w_hh.dtype
        if h0 is None:
            return x, tuple(jnp.zeros((batch, hidden), dtype) for _ in range(num_states)), lengths
        one = jax.ShapeDtypeStruct((1, batch, hidden), dtype)
        h0 = check_state(h0, one if num_states == 1 else (one,) * num_states)
        return x, tuple(s[0] for s in ((h0,) if num_states == 1 else h0)), lengths

    def init_fn(key: Any, input_shape: Any) -> Any:
        _checks.check_key("key", key)
        return init(key, _layer_checks.check_batched("input_shape", input_shape, AXES)[-1])

    def run(params: Any, x: Any, *, h0: Any = None, lengths: Any = None) -> tuple[Array, Any]:
        x, state0, lengths = prepare(params, x, h0, lengths)
        outputs, final = sequence(params, x, state0, lengths)
        final = tuple(s[None] for s in final)  # (directions = 1, batch, hidden)
        return outputs, (final[0] if num_states == 1 else final)

    def apply(
        params: Any, x: Any, *, key: Any = None, training: bool = False, lengths: Any = None
    ) -> Array:
        del key, training  # deterministic layer
        x, lengths = sequence_and_lengths(x, lengths)
        return run(params, x, lengths=lengths)[0]

    def deltas_fn(
        params: Any, x: Any, doutputs: Any, *, h0: Any = None, lengths: Any = None
    ) -> Array:
        x, state0, lengths = prepare(params, x, h0, lengths)
        doutputs = jnp.asarray(doutputs, x.dtype)
        expected = x.shape[:-1] + (params.w_hh.shape[0],)
        if doutputs.shape != expected:
            raise ValueError(
                f"`doutputs` must have the outputs' shape {expected}; got {doutputs.shape}."
            )
        return deltas(params, x, state0, lengths, doutputs)

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
    steps = jnp.arange(time, dtype=lengths.dtype)[None, :]
    if align == "end":  # entry t shows step t − (time − length) of each row
        source = steps - (time - lengths[:, None])
        norms = jnp.take_along_axis(norms, jnp.maximum(source, 0), axis=1)
        valid = source >= 0
    else:
        valid = steps < lengths[:, None]
    count = jnp.sum(valid, axis=0).astype(norms.dtype)
    total = jnp.sum(jnp.where(valid, norms, 0), axis=0)
    return jnp.where(count > 0, total / jnp.maximum(count, 1), jnp.nan)
