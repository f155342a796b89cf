"""Gradcheck registry entries for the recurrent layers and BPTT (fnnet.recurrent).

``SPECS`` is a tuple of :class:`fnnet.gradcheck.RuleSpec`, concatenated into
``fnnet.gradcheck.registry.REGISTRY``; samplers and independent references live beside them.
Each reference is a plain ``lax.scan`` of the cell written here with ``jnp.tanh`` and
``jax.nn.sigmoid`` (one step at a time, no hoisted projection), masked with ``jnp.where`` and
truncated with ``lax.stop_gradient`` on the state entering every valid step ``t`` with
``t % k == 0``, ``t > 0``; JAX differentiates it. The bidirectional reference reverses each
sequence within its length by a permutation matrix (not fnnet's gather). Sizes: batch 1–4, time
3–6, features 1–4, hidden 1–4; lengths uniform in ``[1, time]``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from fnnet import activations, recurrent
from fnnet.gradcheck._check import RuleSpec
from fnnet.gradcheck._sampling import integers, normals

# --- cells, one step each, written independently of fnnet.recurrent ---------------------------


def _elman_cell(params, state, x_t):
    (h,) = state
    return (jnp.tanh(x_t @ params.w_ih + params.b_ih + h @ params.w_hh + params.b_hh),)


def _lstm_cell(params, state, x_t):
    h, c = state
    hidden = h.shape[-1]
    z = x_t @ params.w_ih + params.b_ih + h @ params.w_hh + params.b_hh
    p = params.peepholes if params.peepholes is not None else jnp.zeros((3, hidden), h.dtype)
    i = jax.nn.sigmoid(z[:, :hidden] + p[0] * c)
    f = jax.nn.sigmoid(z[:, hidden : 2 * hidden] + p[1] * c)
    g = jnp.tanh(z[:, 2 * hidden : 3 * hidden])
    c = f * c + i * g
    o = jax.nn.sigmoid(z[:, 3 * hidden :] + p[2] * c)
    return o * jnp.tanh(c), c


def _gru_cell(params, state, x_t):
    (h,) = state
    hidden = h.shape[-1]
    gi = x_t @ params.w_ih + params.b_ih
    gh = h @ params.w_hh + params.b_hh
    r = jax.nn.sigmoid(gi[:, :hidden] + gh[:, :hidden])
    z = jax.nn.sigmoid(gi[:, hidden : 2 * hidden] + gh[:, hidden : 2 * hidden])
    n = jnp.tanh(gi[:, 2 * hidden :] + r * gh[:, 2 * hidden :])
    return ((1.0 - z) * n + z * h,)


def _scan_reference(cell: Callable, truncate: int | None) -> Callable:
    """``(params, x, state0, lengths=None) -> (outputs, final)`` by ``lax.scan`` of ``cell``."""

    def sequence(params, x, state0, lengths=None):
        batch, time = x.shape[:2]
        steps = jnp.arange(time)
        if lengths is None:
            valid = jnp.ones((time, batch), bool)
        else:
            valid = steps.astype(lengths.dtype)[:, None] < lengths[None, :]

        def body(state, inputs):
            t, x_t, valid_t = inputs
            if truncate is not None:  # cut at valid steps only
                cut = ((t % truncate == 0) & (t > 0) & valid_t)[:, None]
                state = tuple(jnp.where(cut, lax.stop_gradient(s), s) for s in state)
            new = cell(params, state, x_t)
            new = tuple(jnp.where(valid_t[:, None], n, s) for n, s in zip(new, state))
            return new, jnp.where(valid_t[:, None], new[0], 0.0)

        final, outputs = lax.scan(body, tuple(state0), (steps, jnp.swapaxes(x, 0, 1), valid))
        return jnp.swapaxes(outputs, 0, 1), final

    return sequence


def _reversal(lengths, batch: int, time: int, dtype: Any):
    """``P[b, t, s] = 1`` where step ``s`` of row ``b`` lands at ``t`` reversed within its length."""
    if lengths is None:
        lengths = jnp.full((batch,), time, jnp.int32)
    t = jnp.arange(time, dtype=lengths.dtype)[None, :, None]
    s = jnp.arange(time, dtype=lengths.dtype)[None, None, :]
    inside = t < lengths[:, None, None]
    return jnp.where(inside, s + t == lengths[:, None, None] - 1, s == t).astype(dtype)


def _bidirectional_reference(cell: Callable, single_state: bool) -> Callable:
    sequence = _scan_reference(cell, None)

    def forward(params, x, h0, lengths=None):
        def state(h):  # run's form (1, batch, hidden) -> the cell's (batch, hidden)
            return (h[0],) if single_state else tuple(part[0] for part in h)

        def unpack(final):
            return final[0][None] if single_state else tuple(part[None] for part in final)

        perm = _reversal(lengths, x.shape[0], x.shape[1], x.dtype)
        y_f, s_f = sequence(params[0], x, state(h0[0]), lengths)
        y_b, s_b = sequence(params[1], jnp.einsum("bts,bsf->btf", perm, x), state(h0[1]), lengths)
        y = jnp.concatenate([y_f, jnp.einsum("bts,bsf->btf", perm, y_b)], axis=-1)
        return y, (unpack(s_f), unpack(s_b))

    return forward


# --- samplers ----------------------------------------------------------------------------------


def _sizes(dims: tuple) -> tuple[int, int, int, int]:
    return dims[0], 2 + dims[1], dims[2], dims[3]  # batch, time 3..6, features, hidden


def _cell_params(key, dtype, dims, params_type, gates: int, *, peepholes: bool = False):
    _, _, features, hidden = _sizes(dims)
    width = gates * hidden
    w_ih, w_hh, b_ih, b_hh, p = normals(
        key, dtype, (features, width), (hidden, width), (width,), (width,), (3, hidden)
    )
    scale_in, scale_h = 1.0 / features**0.5, 1.0 / hidden**0.5  # as an initializer: no saturation
    weights = (scale_in * w_ih, scale_h * w_hh, 0.5 * b_ih, 0.5 * b_hh)
    if params_type is recurrent.LSTMParams:
        return params_type(*weights, (0.5 * p) if peepholes else None)
    return params_type(*weights)


def _sequence_args(
    params_type, gates: int, num_states: int, *, masked: bool, peepholes: bool = False
) -> Callable:
    """``(params, x, state0)`` or ``(params, x, state0, lengths)`` for a ``*_sequence`` rule."""

    def sampler(key, dtype, dims):
        batch, time, features, hidden = _sizes(dims)
        params = _cell_params(key, dtype, dims, params_type, gates, peepholes=peepholes)
        x, h = normals(
            jax.random.fold_in(key, 1), dtype, (batch, time, features), (2, batch, hidden)
        )
        args = (params, x, tuple(0.5 * h[i] for i in range(num_states)))
        return args + (1 + integers(key, (batch,), time),) if masked else args

    return sampler


def _bidirectional_args(params_type, gates: int, num_states: int) -> Callable:
    """``(params pair, x, h0 pair, lengths)`` for :func:`fnnet.recurrent.bidirectional_sequence`
    (each h0 in ``run``'s form, ``(1, batch, hidden)``)."""
    cell = _sequence_args(params_type, gates, num_states, masked=True)

    def sampler(key, dtype, dims):
        p_f, x, s_f, lengths = cell(key, dtype, dims)
        p_b, _, s_b, _ = cell(jax.random.fold_in(key, 2), dtype, dims)

        def state(s):
            return s[0][None] if num_states == 1 else tuple(part[None] for part in s)

        return (p_f, p_b), x, (state(s_f), state(s_b)), lengths

    return sampler


_ELMAN = (recurrent.ElmanParams, 1, 1)
_LSTM = (recurrent.LSTMParams, 4, 2)
_GRU = (recurrent.GRUParams, 3, 1)
_elman = functools.partial(recurrent.elman_sequence, activations.tanh)

SPECS: tuple[RuleSpec, ...] = (
    RuleSpec(
        "recurrent.elman_sequence[tanh]",
        _elman,
        _scan_reference(_elman_cell, None),
        _sequence_args(*_ELMAN, masked=False),
        static_args=(None,),
    ),
    RuleSpec(
        "recurrent.lstm_sequence",
        recurrent.lstm_sequence,
        _scan_reference(_lstm_cell, None),
        _sequence_args(*_LSTM, masked=False),
        static_args=(None,),
    ),
    RuleSpec(
        "recurrent.lstm_sequence[peepholes, masked]",
        recurrent.lstm_sequence,
        _scan_reference(_lstm_cell, None),
        _sequence_args(*_LSTM, masked=True, peepholes=True),
        static_args=(None,),
    ),
    RuleSpec(
        "recurrent.gru_sequence",
        recurrent.gru_sequence,
        _scan_reference(_gru_cell, None),
        _sequence_args(*_GRU, masked=False),
        static_args=(None,),
    ),
    RuleSpec(
        "recurrent.bidirectional_sequence[GRU, masked]",
        recurrent.bidirectional_sequence,
        _bidirectional_reference(_gru_cell, True),
        _bidirectional_args(*_GRU),
        static_args=(recurrent.GRU(1).run,),
    ),
    RuleSpec(
        "recurrent.bidirectional_sequence[LSTM, masked]",
        recurrent.bidirectional_sequence,
        _bidirectional_reference(_lstm_cell, False),
        _bidirectional_args(*_LSTM),
        static_args=(recurrent.LSTM(1).run,),
    ),
)

# Truncated BPTT is, by design, not the derivative of the forward: finite differences measure
# the full gradient, so these entries cannot join REGISTRY (whose checker always compares with
# finite differences). tests/test_recurrent_rules.py checks their "forward" and "rule vs
# autodiff" rows (against the stop_gradient references) and that finite differences disagree.
TRUNCATED_SPECS: tuple[RuleSpec, ...] = (
    RuleSpec(
        "recurrent.elman_sequence[tanh, masked, truncate=2]",
        _elman,
        _scan_reference(_elman_cell, 2),
        _sequence_args(*_ELMAN, masked=True),
        static_args=(2,),
    ),
    RuleSpec(
        "recurrent.lstm_sequence[peepholes, masked, truncate=2]",
        recurrent.lstm_sequence,
        _scan_reference(_lstm_cell, 2),
        _sequence_args(*_LSTM, masked=True, peepholes=True),
        static_args=(2,),
    ),
    RuleSpec(
        "recurrent.gru_sequence[masked, truncate=2]",
        recurrent.gru_sequence,
        _scan_reference(_gru_cell, 2),
        _sequence_args(*_GRU, masked=True),
        static_args=(2,),
    ),
)
