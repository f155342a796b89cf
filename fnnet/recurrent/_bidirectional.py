"""Bidirectional recurrent layers (Schuster & Paliwal 1997), padding-aware."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from fnnet import _checks
from fnnet.recurrent._contract import RecurrentLayer, check_lengths, check_sequence
from fnnet.rules import hand_rule

Array = jax.Array


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
def bidirectional(
    run: Callable, params: tuple, x: Array, h0: tuple, lengths: Array | None = None
) -> tuple[Array, tuple]:
    """Both directions of a recurrent layer, outputs concatenated, ``y_t = [→h_t, ←h_t]``.

    ``→h = run(params[0], x)``; ``←h = R(run(params[1], R(x)))`` where ``R`` reverses each
    sequence within its length (:func:`reverse_within_lengths`). The two chains are independent
    (Schuster & Paliwal 1997), so the backward pass splits the output δ and runs each chain's
    own BPTT rule::

        δ = ∂L/∂y = [δ→, δ←]          (first and second half of the features)
        (∂params[0], ∂x→, ∂h0[0]) = BPTT→(δ→)
        (∂params[1], ∂x←, ∂h0[1]) = BPTT←(R(δ←)),     ∂x = ∂x→ + R(∂x←)

    Args:
        run: a ``RecurrentLayer.run`` (static): ``run(p, x, *, h0, lengths) -> (outputs, final)``.
        params: ``(forward_params, backward_params)``.
        x: ``(batch, time, features)``.
        h0: ``(forward_h0, backward_h0)``, each in ``run``'s state format.
        lengths: ``None`` or int ``(batch,)``.

    Returns:
        ``(outputs (batch, time, 2·hidden), (forward_final, backward_final))``; the backward
        chain's final state is its state after reading each sequence's first step.
    """
    return _bidirectional_fwd(run, params, x, h0, lengths)[0]


def _bidirectional_fwd(run, params, x, h0, lengths=None):
    def chain(p, xs, h):
        return run(p, xs, h0=h, lengths=lengths)

    (y_f, s_f), forward_vjp = jax.vjp(chain, params[0], x, h0[0])
    (y_b, s_b), backward_vjp = jax.vjp(chain, params[1], reverse_within_lengths(x, lengths), h0[1])
    y = jnp.concatenate([y_f, reverse_within_lengths(y_b, lengths)], axis=-1)
    return (y, (s_f, s_b)), (forward_vjp, backward_vjp, lengths, y_f.shape[-1])


def _bidirectional_bwd(run, res, cotangents):
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


bidirectional.defvjp(_bidirectional_fwd, _bidirectional_bwd)


def Bidirectional(layer: RecurrentLayer) -> RecurrentLayer:
    """Run ``layer`` forward and, with its own parameters, backward in time; concatenate.

    Each sequence is reversed within its own ``lengths`` for the backward chain, so padding
    never enters it first. Params are ``(forward_params, backward_params)`` (twice the
    layer's count: a bidirectional GRU with ``F = 1, H = 6`` has 324); ``run``'s ``h0`` and
    final state are pairs ``(forward, backward)`` in the layer's state format; ``deltas``
    returns ``[δ→h_t, δ←h_t]`` ``(batch, time, 2·hidden)`` in input time order.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from fnnet import recurrent
        >>> bigru = recurrent.Bidirectional(recurrent.GRU(6))
        >>> params = bigru.init(jax.random.key(0), (40, 1))
        >>> bigru.apply(params, jnp.ones((5, 40, 1))).shape
        (5, 40, 12)
    """
    if not (_checks.is_layer(layer) and callable(getattr(layer, "run", None))):
        raise TypeError(
            f"`layer` must be a RecurrentLayer (init, apply, run, deltas) such as "
            f"fnnet.recurrent.GRU(6); got {layer!r}."
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
        unbatched = x.ndim == 2
        xb = x[None] if unbatched else x
        lengths = check_lengths(lengths, xb.shape[0], xb.shape[1], unbatched=unbatched)
        if h0 is None:
            final = jax.eval_shape(lambda p, x: inner_run(p, x)[1], params[0], xb)
            h0 = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), (final, final))
        elif not (isinstance(h0, tuple) and len(h0) == 2):
            raise TypeError(f"`h0` must be a pair (forward, backward); got {type(h0).__name__}.")
        elif unbatched:
            h0 = jax.tree_util.tree_map(lambda a: jnp.asarray(a)[None], h0)
        return xb, h0, lengths, unbatched

    def run(params: tuple, x: Any, *, h0: Any = None, lengths: Any = None) -> tuple[Array, tuple]:
        xb, h0, lengths, unbatched = prepare(params, x, h0, lengths)
        outputs, final = bidirectional(inner_run, params, xb, h0, lengths)
        if unbatched:
            return outputs[0], jax.tree_util.tree_map(lambda a: a[0], final)
        return outputs, final

    def apply(
        params: tuple,
        x: Any,
        *,
        key: Any = None,
        training: bool = False,
        lengths: Any = None,
    ) -> Array:
        del key, training
        return run(params, x, lengths=lengths)[0]

    def deltas(
        params: tuple, x: Any, doutputs: Any, *, h0: Any = None, lengths: Any = None
    ) -> Array:
        xb, h0, lengths, unbatched = prepare(params, x, h0, lengths)
        dy = jnp.asarray(doutputs, xb.dtype)
        dy = dy[None] if unbatched else dy
        hidden = dy.shape[-1] // 2
        d_f = layer.deltas(params[0], xb, dy[..., :hidden], h0=h0[0], lengths=lengths)
        reverse = functools.partial(reverse_within_lengths, lengths=lengths)
        d_b = layer.deltas(
            params[1], reverse(xb), reverse(dy[..., hidden:]), h0=h0[1], lengths=lengths
        )
        out = jnp.concatenate([d_f, reverse(d_b)], axis=-1)
        return out[0] if unbatched else out

    return RecurrentLayer(init, apply, run, deltas)


__all__ = [
    "Bidirectional",
    "bidirectional",
    "reverse_within_lengths",
]
