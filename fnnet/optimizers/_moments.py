"""Transforms that keep running moments of the gradients: momentum, AdaGrad, RMSprop, Adam.

Each ``update`` body follows its paper's equations line by line, for one leaf, lifted to the
pytree with ``jax.tree_util.tree_map``. Moment buffers have the params' structure, shapes and
dtypes; hyperparameters are 0-d arrays in the state (see ``_hyperparams.py``); the step
counter ``count`` is a 0-d int32 array, cast explicitly before it meets a float.

None of these scales by the learning rate or flips the sign: follow them with
``scale_by_learning_rate`` (the aliases in ``_alias.py`` do).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from fnnet._checks import check_bool
from fnnet._types import Array, Params
from fnnet.optimizers._base import Optimizer, check_state
from fnnet.optimizers._hyperparams import (
    as_hyperparam,
    cast_like,
    check_hyperparam,
    hyperparam_fields,
    safe_increment,
)
from fnnet.optimizers._tree import check_state_tree

_map = jax.tree_util.tree_map


def _zeros(params: Params) -> Params:
    return _map(jnp.zeros_like, params)


def _moment(g: Array, m: Array, decay: Array) -> Array:
    """Exponential moving average ``decay · m + (1 − decay) · g`` (``1 − decay`` in state dtype)."""
    return cast_like(decay, g) * m + cast_like(1.0 - decay, g) * g


@hyperparam_fields("momentum")
class TraceState(NamedTuple):
    velocity: Params  # like params
    momentum: Array  # shape (), the hyperparameter dtype


def trace(momentum: Any, *, nesterov: bool = False) -> Optimizer:
    """Heavy-ball momentum ``v ← μ v + g``, update ``v`` (``g + μ v`` with ``nesterov=True``).

    Followed by ``scale_by_learning_rate(η)`` this is Polyak's momentum ``θ ← θ − η v``, and with
    ``nesterov=True`` Sutskever et al.'s Nesterov momentum in the reparametrisation of Bengio et
    al. (gradient at the current params, iterates shifted by ``−ημv``); both are exact for a
    constant ``η``.

    References:
        Polyak, "Some methods of speeding up the convergence of iteration methods", 1964.
        Sutskever, Martens, Dahl & Hinton, "On the importance of initialization and momentum
        in deep learning", ICML 2013. Bengio, Boulanger-Lewandowski & Pascanu, "Advances in
        optimizing recurrent networks", ICASSP 2013.
    """
    check_hyperparam("momentum", momentum)
    check_bool("nesterov", nesterov)

    def init(params):
        return TraceState(_zeros(params), as_hyperparam(momentum, params))

    def update(updates, state, params=None):
        del params
        check_state(state, TraceState, "trace (momentum)")
        check_state_tree(updates, state.velocity)
        mu = state.momentum
        velocity = _map(lambda g, v: cast_like(mu, g) * v + g, updates, state.velocity)
        if nesterov:
            updates = _map(lambda g, v: g + cast_like(mu, g) * v, updates, velocity)
        else:
            updates = velocity
        return updates, state._replace(velocity=velocity)

    return Optimizer(init, update)


@hyperparam_fields("eps")
class ScaleByAdagradState(NamedTuple):
    sum_of_squares: Params  # like params: G = Σ_τ g_τ²
    eps: Array  # shape (), the hyperparameter dtype


def scale_by_adagrad(initial_accumulator_value: Any = 0.0, eps: Any = 1e-7) -> Optimizer:
    """Diagonal AdaGrad: ``G ← G + g²``, update ``g / (δ + √G)`` (``δ = eps``).

    ``initial_accumulator_value`` is ``G``'s starting value (Duchi et al.: 0).

    References:
        Duchi, Hazan & Singer, "Adaptive subgradient methods for online learning and
        stochastic optimization", JMLR 2011 (the diagonal update, Figure 1).
    """
    check_hyperparam("initial_accumulator_value", initial_accumulator_value)
    check_hyperparam("eps", eps)

    def init(params):
        g0 = as_hyperparam(initial_accumulator_value, params)
        sums = _map(lambda p: jnp.full_like(p, cast_like(g0, p)), params)
        return ScaleByAdagradState(sums, as_hyperparam(eps, params))

    def update(updates, state, params=None):
        del params
        check_state(state, ScaleByAdagradState, "scale_by_adagrad")
        check_state_tree(updates, state.sum_of_squares)
        sums = _map(lambda g, s: s + g * g, updates, state.sum_of_squares)  # G_t = G_{t-1} + g_t²
        updates = _map(lambda g, s: g / (cast_like(state.eps, g) + jnp.sqrt(s)), updates, sums)
        return updates, state._replace(sum_of_squares=sums)

    return Optimizer(init, update)


@hyperparam_fields("decay", "eps")
class ScaleByRmsState(NamedTuple):
    nu: Params  # like params: EMA of g²
    decay: Array  # shape (), the hyperparameter dtype
    eps: Array


@hyperparam_fields("decay", "eps")
class ScaleByCenteredRmsState(NamedTuple):
    mu: Params  # like params: EMA of g
    nu: Params  # like params: EMA of g²
    decay: Array  # shape (), the hyperparameter dtype
    eps: Array


def scale_by_rms(decay: Any = 0.9, eps: Any = 1e-8, *, centered: bool = False) -> Optimizer:
    """RMSprop scaling ``ν ← ρν + (1 − ρ)g²``, update ``g / √(ν + ε)``.

    With ``centered=True`` (Graves 2013, eq. 38-40) it also tracks ``m ← ρm + (1 − ρ)g`` and
    divides by ``√(max(ν − m², 0) + ε)``, an estimate of the standard deviation instead of
    the RMS (the ``max`` only removes rounding error: ``ν ≥ m²`` in exact arithmetic).
    ``ν`` and ``m`` start at 0. ``ε`` sits inside the root, as in Graves and TensorFlow
    (Hinton's lecture has none; PyTorch adds it outside).

    References:
        Tieleman & Hinton, Lecture 6.5 "rmsprop", COURSERA Neural Networks for Machine
        Learning, 2012. Graves, "Generating sequences with recurrent neural networks", 2013.
    """
    check_hyperparam("decay", decay)
    check_hyperparam("eps", eps)
    check_bool("centered", centered)

    def init(params):
        hyper = (as_hyperparam(decay, params), as_hyperparam(eps, params))
        if centered:
            return ScaleByCenteredRmsState(_zeros(params), _zeros(params), *hyper)
        return ScaleByRmsState(_zeros(params), *hyper)

    def update(updates, state, params=None):
        del params
        expected = ScaleByCenteredRmsState if centered else ScaleByRmsState
        check_state(state, expected, "scale_by_rms")
        check_state_tree(updates, state.nu)
        rho, eps_ = state.decay, state.eps
        nu = _map(lambda g, n: _moment(g * g, n, rho), updates, state.nu)  # MeanSquare
        if centered:
            mu = _map(lambda g, m: _moment(g, m, rho), updates, state.mu)
            # ν − m² >= 0 in exact arithmetic; max(·, 0) drops a negative rounding residue
            variance = _map(lambda n, m: jnp.maximum(n - m * m, 0.0), nu, mu)
            updates = _map(lambda g, v: g / jnp.sqrt(v + cast_like(eps_, g)), updates, variance)
            return updates, state._replace(mu=mu, nu=nu)
        updates = _map(lambda g, n: g / jnp.sqrt(n + cast_like(eps_, g)), updates, nu)
        return updates, state._replace(nu=nu)

    return Optimizer(init, update)


@hyperparam_fields("b1", "b2", "eps")
class ScaleByAdamState(NamedTuple):
    count: Array  # shape (), int32: updates applied so far
    mu: Params  # like params: first moment m
    nu: Params  # like params: second moment v
    b1: Array  # shape (), the hyperparameter dtype
    b2: Array
    eps: Array


def scale_by_adam(
    b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8, *, nesterov: bool = False
) -> Optimizer:
    """Adam's scaling (Kingma & Ba, Algorithm 1), before the learning rate::

        t ← t + 1
        m ← β₁ m + (1 − β₁) g            v ← β₂ v + (1 − β₂) g²
        m̂ = m / (1 − β₁ᵗ)                v̂ = v / (1 − β₂ᵗ)
        u = m̂ / (√v̂ + ε)

    With ``nesterov=True`` it is NAdam (Dozat 2016, Algorithm 2 with a constant ``μ = β₁``):
    ``m̂ = β₁ m / (1 − β₁ᵗ⁺¹) + (1 − β₁) g / (1 − β₁ᵗ)``.

    References:
        Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015.
        Dozat, "Incorporating Nesterov Momentum into Adam", ICLR workshop 2016.
    """
    check_hyperparam("b1", b1)
    check_hyperparam("b2", b2)
    check_hyperparam("eps", eps)
    check_bool("nesterov", nesterov)

    def init(params):
        count = jnp.zeros((), jnp.int32)
        hyper = tuple(as_hyperparam(v, params) for v in (b1, b2, eps))
        return ScaleByAdamState(count, _zeros(params), _zeros(params), *hyper)

    def update(updates, state, params=None):
        del params
        check_state(state, ScaleByAdamState, "scale_by_adam")
        check_state_tree(updates, state.mu)
        beta1, beta2 = state.b1, state.b2
        count = safe_increment(state.count)
        t = count.astype(beta1.dtype)
        mu = _map(lambda g, m: _moment(g, m, beta1), updates, state.mu)
        nu = _map(lambda g, v: _moment(g * g, v, beta2), updates, state.nu)
        # bias corrections in the state dtype, cast after subtracting (1 − β₂ᵗ ≈ 0 early on)
        correction1 = 1.0 - beta1**t
        correction2 = 1.0 - beta2**t
        if nesterov:
            next_correction1 = 1.0 - beta1 ** (t + 1.0)

            def first(g, m):  # β₁ m / (1 − β₁ᵗ⁺¹) + (1 − β₁) g / (1 − β₁ᵗ)
                momentum_term = cast_like(beta1 / next_correction1, g) * m
                return momentum_term + cast_like((1.0 - beta1) / correction1, g) * g

            mu_hat = _map(first, updates, mu)
        else:
            mu_hat = _map(lambda m: m / cast_like(correction1, m), mu)
        nu_hat = _map(lambda v: v / cast_like(correction2, v), nu)
        updates = _map(lambda m, v: m / (jnp.sqrt(v) + cast_like(state.eps, v)), mu_hat, nu_hat)
        return updates, state._replace(count=count, mu=mu, nu=nu)

    return Optimizer(init, update)


@hyperparam_fields("b1", "b2", "eps")
class ScaleByAmsgradState(NamedTuple):
    mu: Params  # like params: first moment m
    nu: Params  # like params: second moment v
    nu_max: Params  # like params: v̂ = running max of v
    b1: Array  # shape (), the hyperparameter dtype
    b2: Array
    eps: Array


def scale_by_amsgrad(b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8) -> Optimizer:
    """AMSGrad (Reddi, Kale & Kumar, Algorithm 2, constant ``β₁``), before the learning rate::

        m ← β₁ m + (1 − β₁) g      v ← β₂ v + (1 − β₂) g²      v̂ ← max(v̂, v)
        u = m / (√v̂ + ε)

    As in the paper there is no bias correction (PyTorch's ``amsgrad=True`` bias-corrects);
    ``ε`` is added for steps where ``v̂ = 0``.

    References:
        Reddi, Kale & Kumar, "On the Convergence of Adam and Beyond", ICLR 2018.
    """
    check_hyperparam("b1", b1)
    check_hyperparam("b2", b2)
    check_hyperparam("eps", eps)

    def init(params):
        zeros = _zeros(params)
        hyper = tuple(as_hyperparam(v, params) for v in (b1, b2, eps))
        return ScaleByAmsgradState(zeros, zeros, zeros, *hyper)

    def update(updates, state, params=None):
        del params
        check_state(state, ScaleByAmsgradState, "scale_by_amsgrad")
        check_state_tree(updates, state.mu)
        mu = _map(lambda g, m: _moment(g, m, state.b1), updates, state.mu)
        nu = _map(lambda g, v: _moment(g * g, v, state.b2), updates, state.nu)
        nu_max = _map(jnp.maximum, state.nu_max, nu)
        updates = _map(lambda m, v: m / (jnp.sqrt(v) + cast_like(state.eps, v)), mu, nu_max)
        return updates, state._replace(mu=mu, nu=nu, nu_max=nu_max)

    return Optimizer(init, update)
