"""Long short-term memory (LSTM), optionally with peepholes, with BPTT by hand."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple, cast

import jax
import jax.numpy as jnp

from fnnet import _checks, activations
from fnnet._types import Array
from fnnet.recurrent import _bptt
from fnnet.recurrent._contract import (
    RecurrentLayer,
    check_truncate,
    initializers_of,
    layer,
    projections,
)
from fnnet.rules import hand_rule


class LSTMParams(NamedTuple):
    """LSTM parameters, gate blocks in PyTorch order ``[i | f | g | o]`` along the last axis."""

    w_ih: Array  # (features, 4·hidden)
    w_hh: Array  # (hidden, 4·hidden)
    b_ih: Array  # (4·hidden,)
    b_hh: Array  # (4·hidden,)
    peepholes: Array | None = None  # (3, hidden): p_i, p_f, p_o, or None (no peepholes)


def _step(params, state, xw_t):
    h, c = state
    zi, zf, zg, zo = jnp.split(xw_t + h @ params.w_hh + params.b_hh, 4, axis=-1)
    p = params.peepholes
    if p is not None:
        zi, zf = zi + p[0] * c, zf + p[1] * c
    i, f, g = activations.sigmoid(zi), activations.sigmoid(zf), activations.tanh(zg)
    c_new = f * c + i * g
    if p is not None:
        zo = zo + p[2] * c_new
    o = activations.sigmoid(zo)
    return (o * activations.tanh(c_new), c_new), jnp.concatenate([i, f, g, o], axis=-1)


def _step_bwd(params, prev, state, gates, dstate):
    (_, c_prev), (_, c) = prev, state
    i, f, g, o = jnp.split(gates, 4, axis=-1)
    dh, dc_next = dstate
    p = params.peepholes
    tc = activations.tanh(c)  # recomputed: cheaper than keeping it
    dzo = dh * tc * _bptt.dsigmoid(o)  # δō = δh ⊙ tanh(c) ⊙ σ'(ō)
    dc = dh * o * _bptt.dtanh(tc) + dc_next  # δh ⊙ o ⊙ tanh'(c) + δc_{t+1} ⊙ f_{t+1} (sent back)
    if p is not None:
        dc = dc + p[2] * dzo
    dzi = dc * g * _bptt.dsigmoid(i)  # δī = δc ⊙ g ⊙ σ'(ī)
    dzf = dc * c_prev * _bptt.dsigmoid(f)  # δf̄ = δc ⊙ c_{t−1} ⊙ σ'(f̄)
    dzg = dc * i * _bptt.dtanh(g)  # δḡ = δc ⊙ i ⊙ tanh'(ḡ)
    dz = jnp.concatenate([dzi, dzf, dzg, dzo], axis=-1)
    dc_prev = dc * f if p is None else dc * f + p[0] * dzi + p[1] * dzf
    return dz, None, (dz @ params.w_hh.T, dc_prev)


def _peephole_grads(fwd: _bptt.Forward, dz: Array) -> Array:
    """``(∂p_i, ∂p_f, ∂p_o) = (Σ c_{t−1} ⊙ δī_t, Σ c_{t−1} ⊙ δf̄_t, Σ c_t ⊙ δō_t)``."""
    dzi, dzf, _, dzo = jnp.split(dz, 4, axis=-1)
    c_prev, c = _bptt.previous(fwd, 1), fwd.states[1]
    terms = (c_prev * dzi, c_prev * dzf, c * dzo)
    return jnp.stack([t.sum(axis=(0, 1)) for t in terms])


@hand_rule
@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def lstm_sequence(
    truncate: int | None,
    params: LSTMParams,
    x: Array,
    state0: tuple,
    lengths: Array | None = None,
) -> tuple[Array, tuple]:
    """LSTM over a batch of sequences (Hochreiter & Schmidhuber 1997; Greff et al. 2017).

    Forward (``z = x_t W_ih + b_ih + h_{t−1} W_hh + b_hh`` split into ``ī, f̄, ḡ, ō``)::

        i = σ(ī + p_i ⊙ c_{t−1}),  f = σ(f̄ + p_f ⊙ c_{t−1}),  g = tanh(ḡ)
        c_t = f ⊙ c_{t−1} + i ⊙ g,  o = σ(ō + p_o ⊙ c_t),  h_t = o ⊙ tanh(c_t)

    (the ``p`` terms only with peepholes). Backward through time, ``Δ_t = ∂L/∂h_t``::

        δh_t = Δ_t + δz_{t+1} W_hhᵀ
        δō_t = δh_t ⊙ tanh(c_t) ⊙ σ'(ō_t)
        δc_t = δh_t ⊙ o_t ⊙ tanh'(c_t) + p_o ⊙ δō_t + δc_{t+1} ⊙ f_{t+1}
               + p_i ⊙ δī_{t+1} + p_f ⊙ δf̄_{t+1}
        δf̄_t = δc_t ⊙ c_{t−1} ⊙ σ'(f̄_t),  δī_t = δc_t ⊙ g_t ⊙ σ'(ī_t),
        δḡ_t = δc_t ⊙ i_t ⊙ tanh'(ḡ_t),    δz_t = [δī_t, δf̄_t, δḡ_t, δō_t]
        ∂W_ih = Σ_t x_tᵀ δz_t,  ∂W_hh = Σ_t h_{t−1}ᵀ δz_t,  ∂b_ih = ∂b_hh = Σ_t δz_t
        ∂p_i = Σ_t c_{t−1} ⊙ δī_t,  ∂p_f = Σ_t c_{t−1} ⊙ δf̄_t,  ∂p_o = Σ_t c_t ⊙ δō_t

    The forward keeps the activated gates ``[i, f, g, o]`` of every step (and the states);
    ``σ' = σ(1 − σ)`` and ``tanh' = 1 − tanh²`` are formed from them in the backward step, and
    ``tanh(c_t)`` is recomputed there.

    Args:
        truncate: ``None`` or ``k`` (static): cut the carried ``(δh, δc)`` every ``k`` steps.
        params: ``LSTMParams``.
        x: ``(batch, time, features)``.
        state0: ``(h_0, c_0)``, each ``(batch, hidden)``.
        lengths: ``None`` or int ``(batch,)`` valid lengths.

    Returns:
        ``(outputs (batch, time, hidden), (h_T, c_T))``.

    ``_fwd`` runs the same scan as this primal, keeping the per-step residuals (first order).
    """
    return _bptt.forward(_step, params, x, state0, lengths, truncate)[0]


def _lstm_sequence_fwd(truncate, params, x, state0, lengths=None):
    return _bptt.forward(_step, params, x, state0, lengths, truncate)


def _lstm_sequence_bwd(truncate, fwd, cotangents):
    peepholes = fwd.params.peepholes is not None
    bwd = _bptt.gradients(_step_bwd, fwd, cotangents, truncate, keep_dgi=peepholes)
    dp = _peephole_grads(fwd, cast(Array, bwd.dgi)) if peepholes else None  # kept: keep_dgi
    return LSTMParams(*bwd.weights, dp), bwd.dx, bwd.dstate0, None


lstm_sequence.defvjp(_lstm_sequence_fwd, _lstm_sequence_bwd)


def LSTM(
    hidden: int,
    *,
    peepholes: bool = False,
    forget_bias: float = 0.0,
    truncate: int | None = None,
    w_init: Callable | None = None,
    b_init: Callable | None = None,
    dtype: Any = jnp.float32,
) -> RecurrentLayer:
    """LSTM layer, gates ``i, f, g, o`` in PyTorch's order (``nn.LSTM``, batch first).

    Equations and the BPTT rule: :func:`lstm_sequence`.

    Args:
        hidden: number of cells ``H``.
        peepholes: add the diagonal peephole weights ``p_i, p_f, p_o`` of Greff et al.'s
            "vanilla LSTM" (initialised to 0; ``3H`` more parameters). PyTorch has none.
        forget_bias: added to the forget-gate block of ``b_ih`` at initialisation (0, PyTorch's
            choice, by default; 1 is Jozefowicz et al.'s). A starting value, trained like the
            rest of the bias.
        truncate: ``None`` or ``k``: truncated BPTT, chunks of ``k`` steps.
        w_init: initializer of the weights; default PyTorch's U(±1/√hidden)
            (``fnnet.initializers.fan_in_uniform(hidden)``).
        b_init: initializer of both biases; the same default.
        dtype: parameter dtype.

    Returns:
        A ``RecurrentLayer``; params ``LSTMParams`` with ``4(F·H + H·H + 2H)`` entries (plus
        ``3H`` peepholes); ``run``'s ``h0`` and final state are pairs ``(h, c)`` of ``(1, batch, hidden)`` arrays,
        PyTorch's ``(h_0, c_0)`` and ``(h_n, c_n)`` (a list is accepted for ``h0``).
    """
    hidden = _checks.check_positive_int("hidden", hidden)
    peepholes = _checks.check_bool("peepholes", peepholes)
    forget_bias = _checks.check_number("forget_bias", forget_bias)
    truncate = check_truncate(truncate)
    inits = initializers_of(hidden, w_init, b_init)

    def init(key, features):
        w_ih, w_hh, b_ih, b_hh = projections(key, features, hidden, 4, inits, dtype)
        shift = jnp.zeros((4, hidden), dtype).at[1].set(forget_bias).reshape(-1)
        peep = jnp.zeros((3, hidden), dtype) if peepholes else None
        return LSTMParams(w_ih, w_hh, b_ih + shift, b_hh, peep)

    sequence = functools.partial(lstm_sequence, truncate)
    deltas = functools.partial(_bptt.through_time, _step, _step_bwd, truncate)
    return layer(init, sequence, deltas, 2, LSTMParams)
