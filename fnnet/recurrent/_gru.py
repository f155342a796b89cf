"""Gated recurrent unit (GRU), PyTorch's variant with two bias sets, with BPTT by hand."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

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


class GRUParams(NamedTuple):
    """GRU parameters, gate blocks in PyTorch order ``[r | z | n]`` along the last axis."""

    w_ih: Array  # (features, 3·hidden)
    w_hh: Array  # (hidden, 3·hidden)
    b_ih: Array  # (3·hidden,)
    b_hh: Array  # (3·hidden,)


def _step(params, state, xw_t):
    (h,) = state
    gh = h @ params.w_hh + params.b_hh
    xr, xz, xn = jnp.split(xw_t, 3, axis=-1)
    hr, hz, hn = jnp.split(gh, 3, axis=-1)
    r = activations.sigmoid(xr + hr)
    z = activations.sigmoid(xz + hz)
    n = activations.tanh(xn + r * hn)
    return (n + z * (h - n),), jnp.concatenate([r, z, n, hn], axis=-1)


def _step_bwd(params, prev, state, residual, dstate):
    del state
    ((h_prev,), (dh,)) = prev, dstate
    r, z, n, hn = jnp.split(residual, 4, axis=-1)
    dan = dh * (1.0 - z) * _bptt.dtanh(n)  # δā_n = δh ⊙ (1 − z) ⊙ tanh'(ā_n)
    daz = dh * (h_prev - n) * _bptt.dsigmoid(z)  # δā_z = δh ⊙ (h − n) ⊙ σ'(ā_z)
    dar = dan * hn * _bptt.dsigmoid(r)  # δā_r = δā_n ⊙ u ⊙ σ'(ā_r),  u = h W_hn + b_hn
    dgi = jnp.concatenate([dar, daz, dan], axis=-1)
    dgh = jnp.concatenate([dar, daz, dan * r], axis=-1)  # δu = δā_n ⊙ r
    return dgi, dgh, (dh * z + dgh @ params.w_hh.T,)


@hand_rule
@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def gru_sequence(
    truncate: int | None,
    params: GRUParams,
    x: Array,
    state0: tuple,
    lengths: Array | None = None,
) -> tuple[Array, tuple]:
    """GRU over a batch of sequences, PyTorch's variant (Cho et al. 2014, two bias sets).

    Forward (``gi = x_t W_ih + b_ih = [gi_r, gi_z, gi_n]``, ``gh = h_{t−1} W_hh + b_hh``)::

        r = σ(gi_r + gh_r),  z = σ(gi_z + gh_z),  n = tanh(gi_n + r ⊙ u),  u = gh_n
        h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}

    Backward through time (``δh_t = Δ_t + δ from step t+1``)::

        δā_n = δh_t ⊙ (1 − z) ⊙ tanh'(ā_n),     δā_z = δh_t ⊙ (h_{t−1} − n) ⊙ σ'(ā_z)
        δā_r = δā_n ⊙ u ⊙ σ'(ā_r),               δu = δā_n ⊙ r
        δgi = [δā_r, δā_z, δā_n],                 δgh = [δā_r, δā_z, δu]
        δh_{t−1} = δh_t ⊙ z + δgh W_hhᵀ
        ∂W_ih = Σ_t x_tᵀ δgi_t,  ∂W_hh = Σ_t h_{t−1}ᵀ δgh_t,  ∂b_ih = Σ δgi,  ∂b_hh = Σ δgh

    The forward keeps ``[r, z, n, u]`` of every step; ``σ' = σ(1 − σ)`` and
    ``tanh' = 1 − tanh²`` are formed from them in the backward step.

    Args:
        truncate: ``None`` or ``k`` (static): cut the carried δh every ``k`` steps.
        params: ``GRUParams``.
        x: ``(batch, time, features)``.
        state0: ``(h_0,)`` with ``h_0`` of shape ``(batch, hidden)``.
        lengths: ``None`` or int ``(batch,)`` valid lengths.

    Returns:
        ``(outputs (batch, time, hidden), (h_T,))``.

    ``_fwd`` runs the same scan as this primal, keeping the per-step residuals (first order).
    """
    return _bptt.forward(_step, params, x, state0, lengths, truncate)[0]


def _gru_sequence_fwd(truncate, params, x, state0, lengths=None):
    return _bptt.forward(_step, params, x, state0, lengths, truncate)


def _gru_sequence_bwd(truncate, fwd, cotangents):
    bwd = _bptt.gradients(_step_bwd, fwd, cotangents, truncate)
    return GRUParams(*bwd.weights), bwd.dx, bwd.dstate0, None


gru_sequence.defvjp(_gru_sequence_fwd, _gru_sequence_bwd)


def GRU(
    hidden: int,
    *,
    truncate: int | None = None,
    w_init: Callable | None = None,
    b_init: Callable | None = None,
    dtype: Any = jnp.float32,
) -> RecurrentLayer:
    """GRU layer, PyTorch's ``nn.GRU`` (batch first, gates ``r, z, n``, two bias sets).

    ``n = tanh(x W_in + b_in + r ⊙ (h W_hn + b_hn))``, ``h' = (1 − z) ⊙ n + z ⊙ h``; BPTT rule:
    :func:`gru_sequence`.

    Args:
        hidden: number of units ``H``.
        truncate: ``None`` or ``k``: truncated BPTT, chunks of ``k`` steps.
        w_init: initializer of the weights; default PyTorch's U(±1/√hidden)
            (``fnnet.initializers.fan_in_uniform(hidden)``).
        b_init: initializer of both biases; the same default.
        dtype: parameter dtype.

    Returns:
        A ``RecurrentLayer``; params ``GRUParams`` with ``3(F·H + H·H + 2H)`` entries (162 for
        ``F = 1, H = 6``, as PyTorch); ``run``'s ``h0`` and
        final state are ``(1, batch, hidden)``, PyTorch's ``h_0`` and ``h_n``.
    """
    hidden = _checks.check_positive_int("hidden", hidden)
    truncate = check_truncate(truncate)
    inits = initializers_of(hidden, w_init, b_init)

    def init(key, features):
        return GRUParams(*projections(key, features, hidden, 3, inits, dtype))

    sequence = functools.partial(gru_sequence, truncate)
    deltas = functools.partial(_bptt.through_time, _step, _step_bwd, truncate)
    return layer(init, sequence, deltas, 1, GRUParams)
