"""The Elman network (simple recurrent network) with backpropagation through time by hand."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax

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


class ElmanParams(NamedTuple):
    """Elman parameters (``x W`` convention; PyTorch's ``weight_ih_l0`` is ``w_ih.T``)."""

    w_ih: Array  # (features, hidden)
    w_hh: Array  # (hidden, hidden)
    b_ih: Array  # (hidden,)
    b_hh: Array  # (hidden,)


def _step(activation, params, state, xw_t):
    (h,) = state
    h_new, activation_vjp = jax.vjp(activation, xw_t + h @ params.w_hh + params.b_hh)
    return (h_new,), activation_vjp  # residual: whatever f's own rule saves (h_t for tanh)


def _step_bwd(params, prev, state, activation_vjp, dstate):
    del prev, state
    (dh,) = dstate
    (da,) = activation_vjp(dh)  # δā_t = δh_t ⊙ f'(ā_t), by the activation's own rule
    return da, None, (da @ params.w_hh.T,)  # δgh = δgi = δā_t;  δh_{t−1} = δā_t W_hhᵀ


@hand_rule
@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def elman_sequence(
    activation: Callable,
    truncate: int | None,
    params: ElmanParams,
    x: Array,
    state0: tuple,
    lengths: Array | None = None,
) -> tuple[Array, tuple]:
    """Elman recurrence over a batch of sequences, ``h_t = f(x_t W_ih + b_ih + h_{t−1} W_hh + b_hh)``.

    Backward through time (``Δ_t = ∂L/∂h_t`` from the outputs, ``ā_t`` the pre-activation)::

        δh_t   = Δ_t + δā_{t+1} W_hhᵀ          (+ ∂L/∂h_T at the last step)
        δā_t   = δh_t ⊙ f'(ā_t)                (the activation's own rule)
        ∂W_ih  = Σ_t x_tᵀ δā_t,   ∂W_hh = Σ_t h_{t−1}ᵀ δā_t,   ∂b_ih = ∂b_hh = Σ_t δā_t
        ∂x_t   = δā_t W_ihᵀ,      ∂h_0  = δā_1 W_hhᵀ

    Args:
        activation: ``f`` (static), e.g. ``fnnet.activations.tanh``.
        truncate: ``None`` or ``k``: cut the carried δ every ``k`` steps (see ``_bptt``).
        params: ``ElmanParams``.
        x: ``(batch, time, features)``.
        state0: ``(h_0,)`` with ``h_0`` of shape ``(batch, hidden)``.
        lengths: ``None`` or int ``(batch,)`` valid lengths (padded steps keep the state,
            output 0, get no gradient).

    Returns:
        ``(outputs (batch, time, hidden), (h_T,))``.

    ``_fwd`` does not call this primal: both run the same scan, ``_fwd`` keeping the
    per-step residuals (first-order rule; use ``fnnet.autodiff()`` for higher orders).
    """
    step = functools.partial(_step, activation)
    return _bptt.forward(step, params, x, state0, lengths, truncate)[0]


def _elman_sequence_fwd(activation, truncate, params, x, state0, lengths=None):
    step = functools.partial(_step, activation)
    return _bptt.forward(step, params, x, state0, lengths, truncate)


def _elman_sequence_bwd(activation, truncate, fwd, cotangents):
    bwd = _bptt.gradients(_step_bwd, fwd, cotangents, truncate)
    return ElmanParams(*bwd.weights), bwd.dx, bwd.dstate0, None


elman_sequence.defvjp(_elman_sequence_fwd, _elman_sequence_bwd)


def Elman(
    hidden: int,
    *,
    activation: Callable = activations.tanh,
    truncate: int | None = None,
    w_init: Callable | None = None,
    b_init: Callable | None = None,
    dtype: Any = jax.numpy.float32,
) -> RecurrentLayer:
    """Elman recurrent layer, ``h_t = f(x_t W_ih + b_ih + h_{t−1} W_hh + b_hh)`` (Elman 1990).

    PyTorch's ``nn.RNN(nonlinearity="tanh")``, batch first. Backward: :func:`elman_sequence`.

    Args:
        hidden: number of hidden units ``H``.
        activation: ``f`` as a function (default ``fnnet.activations.tanh``).
        truncate: ``None`` (full BPTT) or ``k``: the δ carried back through the state is cut
            every ``k`` steps (docs/recurrent.md, "Truncation").
        w_init: initializer of ``w_ih`` and ``w_hh``; b_init: of both biases. Default for both:
            PyTorch's U(±1/√hidden) (``fnnet.initializers.fan_in_uniform(hidden)``).
        dtype: parameter dtype.

    Returns:
        A ``RecurrentLayer``; params ``ElmanParams`` with ``F·H + H·H + 2H`` entries; ``run``'s
        ``h0`` and final state are ``(1, batch, hidden)``, PyTorch's ``h_0`` and ``h_n``.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from fnnet import recurrent
        >>> rnn = recurrent.Elman(4)
        >>> params = rnn.init(jax.random.key(0), (2, 10, 3))
        >>> outputs, h_n = rnn.run(params, jnp.ones((2, 10, 3)))
        >>> outputs.shape, h_n.shape
        ((2, 10, 4), (1, 2, 4))
    """
    hidden = _checks.check_positive_int("hidden", hidden)
    activation = _checks.check_activation("activation", activation)
    truncate = check_truncate(truncate)
    inits = initializers_of(hidden, w_init, b_init)

    def init(key, features):
        return ElmanParams(*projections(key, features, hidden, 1, inits, dtype))

    sequence = functools.partial(elman_sequence, activation, truncate)
    step = functools.partial(_step, activation)
    deltas = functools.partial(_bptt.through_time, step, _step_bwd, truncate)
    return layer(init, sequence, deltas, 1, ElmanParams)
