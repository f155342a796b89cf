"""The backpropagation-through-time engine shared by the Elman, LSTM and GRU rules.

A cell is two functions of one time step (batch-major inside a step, ``B`` rows):

* ``step(params, state, xw_t) -> (new_state, residual_t)``: ``state`` a tuple of ``(B, H)``
  arrays (``(h,)`` or ``(h, c)``), ``xw_t = x_t W_ih + b_ih`` the input projection of step ``t``
  (hoisted out of the scan: one GEMM for all steps), ``residual_t`` what the backward step reads;
* ``step_bwd(params, residual_t, δstate_t) -> (δgi_t, δgh_t, δstate_{t−1})``: from the total δ
  reaching ``state_t`` (output cotangent plus what step ``t+1`` sent back), the δ of the input
  projection ``gi = x W_ih + b_ih``, of the recurrent projection ``gh = h W_hh + b_hh`` (equal
  for Elman and LSTM; the GRU's ``n`` rows differ by ``r``), and the δ sent to ``state_{t−1}``.

:func:`forward` runs the masked forward ``lax.scan`` and keeps every step's residuals;
:func:`backward` runs the reverse ``lax.scan`` carrying ``δstate`` and returns the per-step
``δgi``/``δgh``, from which :func:`projection_grads` forms the weight gradients as single GEMMs
after the scan::

    ∂W_ih = Σ_t x_tᵀ δgi_t,   ∂W_hh = Σ_t h_{t−1}ᵀ δgh_t,   ∂b_ih = Σ δgi,   ∂b_hh = Σ δgh,
    ∂x_t = δgi_t W_ihᵀ.

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
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array


class Forward(NamedTuple):
    """What the forward scan keeps for the backward scan (time-major, ``T`` leading)."""

    params: Any  # the cell's parameters
    x: Array  # (T, B, F), padded steps zeroed
    mask: Array | None  # (T, B, 1) bool: step t is inside row b's length
    state0: tuple  # the initial state, tuple of (B, H)
    states: tuple  # state after each step, tuple of (T, B, H)
    residuals: Any  # the cell's per-step residuals, leading axis T


class Backward(NamedTuple):
    """The reverse scan's results (time-major)."""

    dgi: Array  # (T, B, G) δ of the input projection x W_ih + b_ih
    dgh: Array  # (T, B, G) δ of the recurrent projection h W_hh + b_hh
    dstate0: tuple  # δ of the initial state
    dh: Array  # (T, B, H) total δ reaching h_t (output cotangent + recurrent part)


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
    xw = xt @ params.w_ih + params.b_ih  # every step's input projection in one GEMM

    def body(state, inputs):
        xw_t, m_t, cut_t = inputs
        if cut_t is not None:  # truncated BPTT: no gradient into the previous chunk
            cut = cut_t if m_t is None else cut_t & m_t  # never inside the padding
            state = tuple(jnp.where(cut, jax.lax.stop_gradient(s), s) for s in state)
        new, residual = step(params, state, xw_t)
        new = tuple(_keep(m_t, n, s) for n, s in zip(new, state))
        return new, (new, residual)

    final, (states, residuals) = jax.lax.scan(body, state0, (xw, mask, _cuts(time, truncate)))
    h = states[0] if mask is None else jnp.where(mask, states[0], jnp.zeros_like(states[0]))
    return (jnp.swapaxes(h, 0, 1), final), Forward(params, xt, mask, state0, states, residuals)


def backward(
    step_bwd: Callable,
    fwd: Forward,
    doutputs: Array,
    dfinal: tuple,
    truncate: int | None,
) -> Backward:
    """Reverse scan carrying ``δstate``; ``doutputs`` ``(B, T, H)``, ``dfinal`` like the state."""
    dys = jnp.swapaxes(doutputs, 0, 1)
    time = dys.shape[0]

    def body(dstate, inputs):
        dy_t, residual, m_t, cut_t = inputs
        dy_t = _keep(m_t, dy_t, jnp.zeros_like(dy_t))  # padded outputs are constants
        dstate = (dstate[0] + dy_t,) + tuple(dstate[1:])  # δh_t = Δ_t + δ from step t+1
        dgi, dgh, dprev = step_bwd(fwd.params, residual, dstate)
        if m_t is not None:  # padded step: no δ for its gates, δstate passes through
            dgi = jnp.where(m_t, dgi, jnp.zeros_like(dgi))
            dgh = jnp.where(m_t, dgh, jnp.zeros_like(dgh))
            dprev = tuple(jnp.where(m_t, p, d) for p, d in zip(dprev, dstate))
        if cut_t is not None:
            cut = cut_t if m_t is None else cut_t & m_t
            dprev = tuple(jnp.where(cut, jnp.zeros_like(p), p) for p in dprev)
        return dprev, (dgi, dgh, dstate[0])

    inputs = (dys, fwd.residuals, fwd.mask, _cuts(time, truncate))
    dstate0, (dgi, dgh, dh) = jax.lax.scan(body, tuple(dfinal), inputs, reverse=True)
    return Backward(dgi, dgh, dstate0, dh)


def previous(fwd: Forward, index: int = 0) -> Array:
    """``state_{t−1}`` for every step t (``(T, B, H)``): the initial state, then the states."""
    return jnp.concatenate([fwd.state0[index][None], fwd.states[index][:-1]], axis=0)


def projection_grads(fwd: Forward, bwd: Backward) -> tuple[Array, ...]:
    """``(∂W_ih, ∂W_hh, ∂b_ih, ∂b_hh, ∂x)`` as GEMMs over all ``T·B`` rows at once."""
    x, dgi, dgh, h_prev = fwd.x, bwd.dgi, bwd.dgh, previous(fwd)
    rows = x.shape[0] * x.shape[1]
    dw_ih = x.reshape(rows, -1).T @ dgi.reshape(rows, -1)  # Σ_t x_tᵀ δgi_t
    dw_hh = h_prev.reshape(rows, -1).T @ dgh.reshape(rows, -1)  # Σ_t h_{t−1}ᵀ δgh_t
    dx = jnp.swapaxes(dgi @ fwd.params.w_ih.T, 0, 1)  # ∂x_t = δgi_t W_ihᵀ
    return dw_ih, dw_hh, dgi.sum(axis=(0, 1)), dgh.sum(axis=(0, 1)), dx


def gradients(
    step_bwd: Callable, fwd: Forward, cotangents: tuple, truncate: int | None
) -> tuple[tuple[Array, ...], Array, tuple, Backward]:
    """The rule's backward pass: ``((∂W_ih, ∂W_hh, ∂b_ih, ∂b_hh), ∂x, ∂state0, Backward)``
    from the cotangents ``(∂L/∂outputs, ∂L/∂final_state)``."""
    doutputs, dfinal = cotangents
    bwd = backward(step_bwd, fwd, doutputs, dfinal, truncate)
    *weights, dx = projection_grads(fwd, bwd)
    return tuple(weights), dx, bwd.dstate0, bwd


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
    return jnp.swapaxes(backward(step_bwd, fwd, doutputs, dfinal, truncate).dh, 0, 1)
