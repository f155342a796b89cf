"""The backpropagation-through-time engine shared by the Elman, LSTM and GRU rules.

A cell is two functions of one time step (batch-major inside a step, ``B`` rows):

* ``step(params, state, xw_t) -> (new_state, residual_t)``: ``state`` a tuple of ``(B, H)``
  arrays (``(h,)`` or ``(h, c)``), ``xw_t = x_t W_ih + b_ih`` the input projection of step
  ``t``, ``residual_t`` what the backward step reads besides the states (the activated gates;
  ``None`` if the states suffice);
* ``step_bwd(params, prev_t, state_t, residual_t, δstate_t) -> (δgi_t, δgh_t, δstate_{t−1})``:
  from the states before and after step ``t`` and the total δ reaching ``state_t`` (output
  cotangent plus what step ``t+1`` sent back), the δ of the input projection
  ``gi = x W_ih + b_ih``, of the recurrent projection ``gh = h W_hh + b_hh`` (``None`` when it
  equals ``δgi``, as for Elman and the LSTM; the GRU's ``n`` rows differ by ``r``), and the δ
  sent to ``state_{t−1}``.

:func:`forward` runs the masked forward ``lax.scan`` and keeps every step's states and
residuals; :func:`backward` runs the reverse ``lax.scan`` carrying ``δstate`` and, at each step,
adds that step's terms to the weight gradients and emits ``∂x_t``::

    ∂W_ih += x_tᵀ δgi_t,   ∂W_hh += h_{t−1}ᵀ δgh_t,   ∂b_ih += Σ δgi_t,   ∂b_hh += Σ δgh_t,
    ∂x_t = δgi_t W_ihᵀ.

**Memory is the cost** (issue 22). On a CPU a step's ``(B, H)`` products are small; what costs
is every ``(T, B, ·)`` array the two scans keep: written once, read once, and, above a few tens of
MB, mapped afresh (page faults) on every call. So nothing of size ``(T, B, gates·H)`` is kept
but the cell's residual: the input projection is formed inside the forward step (one small GEMM
per step, not one ``(T, B, gates·H)`` array for all of them), the weight gradients are summed
inside the reverse scan (not formed afterwards from stacked ``δgi``/``δgh``), ``state_{t−1}`` is
read by index from the forward's own stack (no shifted copy), and ``δh_t`` is kept only for
:func:`through_time`. On the issue's LSTM (batch 64, 100 steps, hidden 128) this took the
scratch memory of one gradient from 103 MB to 21 MB.

**Masking** (``lengths``, one per batch row): at a padded step ``t ≥ length`` the state is carried
unchanged and the output is 0. Backward: the output cotangent there is dropped, ``δgi = δgh = 0``
(no parameter and no input receives gradient from it) and ``δstate`` passes through unchanged.
Padded inputs are replaced by 0 before the projection, so a NaN in padding never reaches a
gradient.

**Truncation** (``truncate = k``): the δ carried from step ``t`` back to ``state_{t−1}`` is set
to 0 at every valid ``t`` with ``t % k == 0`` and ``t > 0`` (steps counted from 0 in processing
order; never at a padded step, so the final state's δ still reaches the last valid step):
the sequence is cut into chunks ``[0, k), [k, 2k), ...`` and the gradient of a loss at step ``s``
reaches only the steps of ``s``'s own chunk, while the forward state still flows across chunks.
The same cut is a ``lax.stop_gradient`` of the state entering step ``t`` in the forward body,
so autodiff of the forward (``fnnet.autodiff()``) computes the same truncated gradient.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, cast

import jax
import jax.numpy as jnp

from fnnet._types import Array


class Forward(NamedTuple):
    """What the forward scan keeps for the backward scan (time-major, ``T`` leading)."""

    params: Any  # the cell's parameters
    x: Array  # (T, B, F), padded steps zeroed
    mask: Array | None  # (T, B, 1) bool: step t is inside row b's length
    state0: tuple  # the initial state, tuple of (B, H)
    states: tuple  # state after each step, tuple of (T, B, H)
    residuals: Any  # the cell's per-step residuals, leading axis T (or None)


class Backward(NamedTuple):
    """The reverse scan's results."""

    weights: tuple[Array, Array, Array, Array]  # (∂W_ih, ∂W_hh, ∂b_ih, ∂b_hh)
    dx: Array  # (B, T, F)
    dstate0: tuple  # δ of the initial state
    dh: Array | None  # (T, B, H) total δ reaching h_t (kept for through_time only)
    dgi: Array | None  # (T, B, G) δ of the input projection (kept on request: peepholes)


def _cuts(time: int, truncate: int | None) -> Array | None:
    """(T,) bool: whether the δ from step t to step t−1 is cut (``t % k == 0``, ``t > 0``)."""
    if truncate is None:
        return None
    t = jnp.arange(time)
    return (t % truncate == 0) & (t > 0)


def _keep(mask: Array | None, new: Array, old: Array) -> Array:
    return new if mask is None else jnp.where(mask, new, old)


def forward(
    step: Callable,
    params: Any,
    x: Array,
    state0: tuple,
    lengths: Array | None,
    truncate: int | None,
) -> tuple[tuple[Array, tuple], Forward]:
    """Masked forward scan over ``x`` of shape ``(B, T, F)``.

    Returns ``((outputs (B, T, H), final_state), Forward)``: the outputs are ``h_t`` (0 at
    padded steps), the final state is the state after each row's last valid step.
    """
    time = x.shape[1]
    xt = jnp.swapaxes(x, 0, 1)
    mask = None
    if lengths is not None:
        mask = (jnp.arange(time, dtype=lengths.dtype)[:, None] < lengths[None, :])[..., None]
        xt = jnp.where(mask, xt, jnp.zeros_like(xt))

    def body(state, inputs):
        x_t, m_t, cut_t = inputs
        if cut_t is not None:  # truncated BPTT: no gradient into the previous chunk
            cut = cut_t if m_t is None else cut_t & m_t  # never inside the padding
            state = tuple(jnp.where(cut, jax.lax.stop_gradient(s), s) for s in state)
        new, residual = step(params, state, x_t @ params.w_ih + params.b_ih)
        new = tuple(_keep(m_t, n, s) for n, s in zip(new, state))
        return new, (new, residual)

    final, (states, residuals) = jax.lax.scan(body, state0, (xt, mask, _cuts(time, truncate)))
    h = states[0] if mask is None else jnp.where(mask, states[0], jnp.zeros_like(states[0]))
    return (jnp.swapaxes(h, 0, 1), final), Forward(params, xt, mask, state0, states, residuals)


def dsigmoid(a: Array) -> Array:
    """σ'(z) from the value ``a = σ(z)`` the forward kept: ``a(1 − a)``."""
    return a * (1.0 - a)


def dtanh(a: Array) -> Array:
    """tanh'(z) from the value ``a = tanh(z)`` the forward kept: ``1 − a²``."""
    return 1.0 - a * a


def state_before(fwd: Forward, t: Array) -> tuple:
    """``state_{t−1}``, the state entering step ``t``: read by index from the forward's stack
    (the initial state at ``t = 0``), so no shifted copy of the stack is made."""
    before = jnp.maximum(t - 1, 0)
    return tuple(
        jnp.where(t == 0, s0, jax.lax.dynamic_index_in_dim(s, before, keepdims=False))
        for s0, s in zip(fwd.state0, fwd.states)
    )


def backward(
    step_bwd: Callable,
    fwd: Forward,
    doutputs: Array,
    dfinal: tuple,
    truncate: int | None,
    *,
    keep_dh: bool = False,
    keep_dgi: bool = False,
) -> Backward:
    """Reverse scan carrying ``δstate`` and the weight gradients; ``doutputs`` ``(B, T, H)``,
    ``dfinal`` like the state. ``keep_dh``/``keep_dgi`` also stack every step's total ``δh_t``
    (for :func:`through_time`) or ``δgi_t`` (for the LSTM's peephole gradients)."""
    dys = jnp.swapaxes(doutputs, 0, 1)
    time = dys.shape[0]
    p = fwd.params

    def body(carry, inputs):
        dstate, (dw_ih, dw_hh, db_ih, db_hh) = carry
        t, dy_t, x_t, state_t, residual, m_t, cut_t = inputs
        dy_t = _keep(m_t, dy_t, jnp.zeros_like(dy_t))  # padded outputs are constants
        dstate = (dstate[0] + dy_t,) + tuple(dstate[1:])  # δh_t = Δ_t + δ from step t+1
        prev = state_before(fwd, t)
        dgi, dgh, dprev = step_bwd(p, prev, state_t, residual, dstate)
        if m_t is not None:  # padded step: no δ for its gates, δstate passes through
            dgi = jnp.where(m_t, dgi, jnp.zeros_like(dgi))
            dgh = None if dgh is None else jnp.where(m_t, dgh, jnp.zeros_like(dgh))
            dprev = tuple(jnp.where(m_t, q, d) for q, d in zip(dprev, dstate))
        if cut_t is not None:
            cut = cut_t if m_t is None else cut_t & m_t
            dprev = tuple(jnp.where(cut, jnp.zeros_like(q), q) for q in dprev)
        dgh = dgi if dgh is None else dgh
        sums = (
            dw_ih + x_t.T @ dgi,  # ∂W_ih += x_tᵀ δgi_t
            dw_hh + prev[0].T @ dgh,  # ∂W_hh += h_{t−1}ᵀ δgh_t
            db_ih + dgi.sum(axis=0),
            db_hh + dgh.sum(axis=0),
        )
        dx_t = dgi @ p.w_ih.T  # ∂x_t = δgi_t W_ihᵀ
        return (dprev, sums), (dx_t, dstate[0] if keep_dh else None, dgi if keep_dgi else None)

    zeros = (
        jnp.zeros_like(p.w_ih),
        jnp.zeros_like(p.w_hh),
        jnp.zeros_like(p.b_ih),
        jnp.zeros_like(p.b_hh),
    )
    inputs = (jnp.arange(time), dys, fwd.x, fwd.states, fwd.residuals, fwd.mask)
    inputs = inputs + (_cuts(time, truncate),)
    (dstate0, weights), (dx, dh, dgi) = jax.lax.scan(
        body, (tuple(dfinal), zeros), inputs, reverse=True
    )
    return Backward(weights, jnp.swapaxes(dx, 0, 1), dstate0, dh, dgi)


def previous(fwd: Forward, index: int = 0) -> Array:
    """``state_{t−1}`` for every step t (``(T, B, H)``): the initial state, then the states."""
    return jnp.concatenate([fwd.state0[index][None], fwd.states[index][:-1]], axis=0)


def gradients(
    step_bwd: Callable,
    fwd: Forward,
    cotangents: tuple,
    truncate: int | None,
    *,
    keep_dgi: bool = False,
) -> Backward:
    """The rule's backward pass from the cotangents ``(∂L/∂outputs, ∂L/∂final_state)``:
    ``Backward`` with ``weights = (∂W_ih, ∂W_hh, ∂b_ih, ∂b_hh)``, ``dx``, ``dstate0``."""
    doutputs, dfinal = cotangents
    return backward(step_bwd, fwd, doutputs, dfinal, truncate, keep_dgi=keep_dgi)


def through_time(
    step: Callable,
    step_bwd: Callable,
    truncate: int | None,
    params: Any,
    x: Array,
    state0: tuple,
    lengths: Array | None,
    doutputs: Array,
) -> Array:
    """``δh_t = ∂L/∂h_t`` per step, ``(B, T, H)``, from the same two scans as the rule, for a
    loss with ``∂L/∂outputs = doutputs`` and no direct dependence on the final state."""
    fwd = forward(step, params, x, state0, lengths, truncate)[1]
    dfinal = tuple(jnp.zeros_like(s) for s in state0)
    dh = backward(step_bwd, fwd, doutputs, dfinal, truncate, keep_dh=True).dh
    return jnp.swapaxes(cast(Array, dh), 0, 1)  # kept: keep_dh=True
