"""Bidirectional recurrent layers (Schuster & Paliwal 1997), padding-aware."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from fnnet import _checks
from fnnet._types import Array
from fnnet.recurrent._contract import (
    RecurrentLayer,
    check_lengths,
    check_sequence,
    check_state,
    sequence_and_lengths,
)
from fnnet.rules import hand_rule


def reverse_within_lengths(x: Array, lengths: Array | None = None) -> Array:
    """Reverse each row of ``x`` ``(batch, time, ...)`` along time within its own length.

    Step ``t < length`` goes to ``length − 1 − t``; padded steps stay where they are (the bug
    flax, mxnet and ``jax.experimental.rnn`` each had was reversing the padding too). A
    permutation that is its own inverse; ``lengths=None`` flips the whole time axis.
    """
    if lengths is None:
        return jnp.flip(x, axis=1)
    t = jnp.arange(x.shape[1], dtype=lengths.dtype)[None, :]
    index = jnp.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)
    return jnp.take_along_axis(x, index.reshape(index.shape + (1,) * (x.ndim - 2)), axis=1)


@hand_rule
@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def bidirectional_sequence(
    run: Callable, params: tuple, x: Array, h0: tuple, lengths: Array | None = None
) -> tuple[Array, tuple]:
    """Both directions of a recurrent layer, outputs concatenated, ``y_t = [→h_t, ←h_t]``.

    ``→h = run(params[0], x)``; ``←h = R(run(params[1], R(x)))`` where ``R`` reverses each
    sequence within its length (padding stays at the end; ``R`` is its own inverse). The two
    chains are independent (Schuster & Paliwal 1997), so the backward pass splits the output δ
    and runs each chain's own BPTT rule::

        δ = ∂L/∂y = [δ→, δ←]          (first and second half of the features)
        (∂params[0], ∂x→, ∂h0[0]) = BPTT→(δ→)
        (∂params[1], ∂x←, ∂h0[1]) = BPTT←(R(δ←)),     ∂x = ∂x→ + R(∂x←)

    Args:
        run: a ``RecurrentLayer.run`` (static): ``run(p, x, *, h0, lengths) -> (outputs, final)``.
        params: ``(forward_params, backward_params)``.
        x: ``(batch, time, features)``.
        h0: ``(forward_h0, backward_h0)``, each in ``run``'s state form (``(1, batch, hidden)``,
            or a pair of them for the LSTM).
        lengths: ``None`` or int ``(batch,)``.

    Returns:
        ``(outputs (batch, time, 2·hidden), (forward_final, backward_final))``; the backward
        chain's final state is its state after reading each sequence's first step.
    """
    return _bidirectional_sequence_fwd(run, params, x, h0, lengths)[0]


def _bidirectional_sequence_fwd(run, params, x, h0, lengths=None):
    def chain(p, xs, h):
        return run(p, xs, h0=h, lengths=lengths)

    (y_f, s_f), forward_vjp = jax.vjp(chain, params[0], x, h0[0])
    (y_b, s_b), backward_vjp = jax.vjp(chain, params[1], reverse_within_lengths(x, lengths), h0[1])
    y = jnp.concatenate([y_f, reverse_within_lengths(y_b, lengths)], axis=-1)
    return (y, (s_f, s_b)), (forward_vjp, backward_vjp, lengths, y_f.shape[-1])


def _bidirectional_sequence_bwd(run, res, cotangents):
    forward_vjp, backward_vjp, lengths, hidden = res
    dy, (ds_f, ds_b) = cotangents
    dp_f, dx_f, dh_f = forward_vjp((dy[..., :hidden], ds_f))  # δ→: the first half
    dy_b = reverse_within_lengths(dy[..., hidden:], lengths)  # δ←, in the chain's own order
    dp_b, dx_b, dh_b = backward_vjp((dy_b, ds_b))
    return (
        (dp_f, dp_b),
        dx_f + reverse_within_lengths(dx_b, lengths),
        (dh_f, dh_b),
        None,
    )


bidirectional_sequence.defvjp(_bidirectional_sequence_fwd, _bidirectional_sequence_bwd)


def Bidirectional(layer: RecurrentLayer) -> RecurrentLayer:
    """Run ``layer`` forward and, with its own parameters, backward in time; concatenate.

    Each sequence is reversed within its own ``lengths`` for the backward chain, so padding
    never enters it first. Params are ``(forward_params, backward_params)`` (twice the
    layer's count: a bidirectional GRU with ``F = 1, H = 6`` has 324); ``directions`` is 2, so
    ``run``'s ``h0`` and final state have the directions stacked first, forward then backward,
    as PyTorch's ``h_n``: ``(2, batch, hidden)`` (for the LSTM, a pair ``(h, c)`` of them);
    ``deltas`` returns ``[δ→h_t, δ←h_t]`` ``(batch, time, 2·hidden)`` in input time order.

    Args:
        layer: a one-direction ``RecurrentLayer`` (``Elman``, ``LSTM``, ``GRU``). A
            bidirectional layer is refused: stack two in ``serial`` instead.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from fnnet import recurrent
        >>> bigru = recurrent.Bidirectional(recurrent.GRU(6))
        >>> params = bigru.init(jax.random.key(0), (5, 40, 1))
        >>> outputs, h_n = bigru.run(params, jnp.ones((5, 40, 1)))
        >>> outputs.shape, h_n.shape
        ((5, 40, 12), (2, 5, 6))
    """
    if not (_checks.is_layer(layer) and callable(getattr(layer, "run", None))):
        raise TypeError(
            f"`layer` must be a RecurrentLayer (init, apply, run, deltas) such as "
            f"fnnet.recurrent.GRU(6); got {layer!r}."
        )
    if getattr(layer, "directions", 1) != 1:
        raise ValueError(
            f"`layer` is already bidirectional (directions={layer.directions}): Bidirectional "
            f"wraps a one-direction layer such as fnnet.recurrent.GRU(6). To stack two "
            f"bidirectional layers, use serial(Bidirectional(GRU(6)), Bidirectional(GRU(6)))."
        )
    inner_run = layer.run

    def init(key: Any, input_shape: Any) -> tuple:
        forward_key, backward_key = jax.random.split(_checks.check_key("key", key))
        return layer.init(forward_key, input_shape), layer.init(backward_key, input_shape)

    def prepare(params, x, h0, lengths):
        if not (isinstance(params, tuple) and len(params) == 2):
            raise TypeError(
                f"`params` must be a pair (forward, backward) from Bidirectional.init; got "
                f"{jax.tree_util.tree_structure(params)}."
            )
        x = check_sequence(x, params[0])
        lengths = check_lengths(lengths, x.shape[0], x.shape[1])
        one = jax.eval_shape(lambda p, x: inner_run(p, x)[1], params[0], x)  # (1, B, H) leaves
        if h0 is None:
            zeros = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), one)
            return x, (zeros, zeros), lengths
        two = jax.tree_util.tree_map(
            lambda s: jax.ShapeDtypeStruct((2, *s.shape[1:]), s.dtype), one
        )
        h0 = check_state(h0, two)
        split = tuple(jax.tree_util.tree_map(lambda a, i=i: a[i : i + 1], h0) for i in (0, 1))
        return x, split, lengths

    def run(params: tuple, x: Any, *, h0: Any = None, lengths: Any = None) -> tuple[Array, Any]:
        x, h0, lengths = prepare(params, x, h0, lengths)
        outputs, (forward, backward) = bidirectional_sequence(inner_run, params, x, h0, lengths)
        stack = lambda f, b: jnp.concatenate([f, b], axis=0)  # noqa: E731
        return outputs, jax.tree_util.tree_map(stack, forward, backward)

    def apply(
        params: tuple, x: Any, *, key: Any = None, training: bool = False, lengths: Any = None
    ) -> Array:
        del key, training
        x, lengths = sequence_and_lengths(x, lengths)
        return run(params, x, lengths=lengths)[0]

    def deltas(
        params: tuple, x: Any, doutputs: Any, *, h0: Any = None, lengths: Any = None
    ) -> Array:
        x, h0, lengths = prepare(params, x, h0, lengths)
        dy = jnp.asarray(doutputs, x.dtype)
        hidden = dy.shape[-1] // 2
        d_f = layer.deltas(params[0], x, dy[..., :hidden], h0=h0[0], lengths=lengths)
        reverse = functools.partial(reverse_within_lengths, lengths=lengths)
        d_b = layer.deltas(
            params[1], reverse(x), reverse(dy[..., hidden:]), h0=h0[1], lengths=lengths
        )
        return jnp.concatenate([d_f, reverse(d_b)], axis=-1)

    return RecurrentLayer(init, apply, run, deltas, directions=2)
