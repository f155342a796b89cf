"""The published optimizers, each a :func:`chain` of transforms ending in the learning rate.

``sgd``, ``adagrad``, ``rmsprop``, ``adam``, ``nadam``, ``adamw``, ``amsgrad``: see each
docstring for the paper's update and where optax and PyTorch differ (``docs/optimizers.md``).
"""

from __future__ import annotations

from typing import Any

from fnnet._checks import check_bool
from fnnet.optimizers._base import Optimizer, chain
from fnnet.optimizers._decay import add_decayed_weights
from fnnet.optimizers._moments import (
    scale_by_adagrad,
    scale_by_adam,
    scale_by_amsgrad,
    scale_by_rms,
    trace,
)
from fnnet.optimizers._scaling import scale_by_learning_rate


def sgd(learning_rate: Any, momentum: Any = None, *, nesterov: bool = False) -> Optimizer:
    """Stochastic gradient descent ``θ ← θ − η g``, optionally with (Nesterov) momentum.

    With ``momentum=μ``: ``v ← μ v + g``, ``θ ← θ − η v`` (Polyak's heavy ball); with
    ``nesterov=True``: ``θ ← θ − η (g + μ v)`` (Sutskever et al.'s Nesterov momentum,
    reparametrised as in Bengio et al., see :func:`fnnet.optimizers.trace`).

    Args:
        learning_rate: ``η >= 0``, a number, 0-d array, or schedule.
        momentum: ``μ ∈ [0, 1)``, or ``None`` for plain SGD (no velocity in the state).
        nesterov: use Nesterov momentum (needs ``momentum``).

    Example:
        >>> import jax.numpy as jnp
        >>> from fnnet.optimizers import apply_updates
        >>> opt = sgd(0.1)
        >>> params = {"w": jnp.ones(2)}
        >>> updates, state = opt.update({"w": jnp.ones(2)}, opt.init(params), params)
        >>> apply_updates(params, updates)["w"]
        Array([0.9, 0.9], dtype=float32)
    """
    check_bool("nesterov", nesterov)
    if momentum is None:
        if nesterov:
            raise ValueError("`nesterov=True` needs a `momentum` value; got momentum=None.")
        return chain(scale_by_learning_rate(learning_rate))
    return chain(trace(momentum, nesterov=nesterov), scale_by_learning_rate(learning_rate))


def adagrad(learning_rate: Any, initial_accumulator_value: Any = 0.0, eps: Any = 1e-7) -> Optimizer:
    """AdaGrad (Duchi et al. 2011): ``G ← G + g²``, ``θ ← θ − η g / (δ + √G)``.

    ``δ = eps >= 0`` sits outside the root, as in the paper and PyTorch (optax: inside);
    ``initial_accumulator_value >= 0`` is ``G``'s start (optax's default is 0.1). See
    :func:`fnnet.optimizers.scale_by_adagrad`.
    """
    return chain(
        scale_by_adagrad(initial_accumulator_value, eps), scale_by_learning_rate(learning_rate)
    )


def rmsprop(
    learning_rate: Any,
    decay: Any = 0.9,
    eps: Any = 1e-8,
    *,
    centered: bool = False,
    momentum: Any = None,
) -> Optimizer:
    """RMSprop (Hinton's lecture 6.5): ``ν ← ρν + (1 − ρ)g²``, ``θ ← θ − η g / √(ν + ε)``.

    Args:
        learning_rate: ``η >= 0``.
        decay: ``ρ ∈ [0, 1)``.
        eps: ``ε >= 0``, inside the root (PyTorch adds it outside, optax inside).
        centered: divide by ``√(ν − m² + ε)`` with ``m`` the EMA of ``g`` (Graves 2013).
        momentum: ``μ ∈ [0, 1)``, or ``None``: ``Δ ← μΔ + g/√(…)``, ``θ ← θ − ηΔ`` (Graves' eq. 41,
            identical for a constant ``η``).
    """
    scaling = scale_by_rms(decay, eps, centered=centered)
    if momentum is None:
        return chain(scaling, scale_by_learning_rate(learning_rate))
    return chain(scaling, trace(momentum), scale_by_learning_rate(learning_rate))


def adam(
    learning_rate: Any, b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8, *, nesterov: bool = False
) -> Optimizer:
    """Adam (Kingma & Ba 2015, Algorithm 1) with bias correction; NAdam with ``nesterov=True``.

    ``θ ← θ − η m̂ / (√v̂ + ε)``; see :func:`fnnet.optimizers.scale_by_adam` for the moments.
    ``η >= 0``, ``β₁, β₂ ∈ [0, 1)``, ``ε >= 0``.

    Example:
        >>> import jax.numpy as jnp
        >>> opt = adam(0.1)
        >>> params = {"w": jnp.ones(2)}
        >>> updates, state = opt.update({"w": jnp.array([1.0, -3.0])}, opt.init(params), params)
        >>> updates["w"].round(6)  # the first step is ±η whatever the gradient's size
        Array([-0.1,  0.1], dtype=float32)
    """
    return chain(
        scale_by_adam(b1, b2, eps, nesterov=nesterov), scale_by_learning_rate(learning_rate)
    )


def nadam(learning_rate: Any, b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8) -> Optimizer:
    """NAdam (Dozat 2016): :func:`adam` with ``nesterov=True``."""
    return adam(learning_rate, b1, b2, eps, nesterov=True)


def adamw(
    learning_rate: Any,
    b1: Any = 0.9,
    b2: Any = 0.999,
    eps: Any = 1e-8,
    weight_decay: Any = 1e-4,
    *,
    mask: Any = None,
) -> Optimizer:
    """AdamW: Adam plus decoupled weight decay, ``θ ← θ − η (m̂ / (√v̂ + ε) + λ θ)``.

    The decay ``λ >= 0`` is applied to weights only (``ndim >= 2``) unless ``mask`` says
    otherwise (optax and PyTorch decay every leaf), and is multiplied by ``η`` (as in PyTorch
    and optax): Loshchilov & Hutter's Algorithm 2 with
    ``α = η``, schedule multiplier 1 and their ``λ`` equal to ``η λ`` here.

    References:
        Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019.
    """
    return chain(
        scale_by_adam(b1, b2, eps),
        add_decayed_weights(weight_decay, mask=mask),
        scale_by_learning_rate(learning_rate),
    )


def amsgrad(learning_rate: Any, b1: Any = 0.9, b2: Any = 0.999, eps: Any = 1e-8) -> Optimizer:
    """AMSGrad (Reddi et al. 2018): ``θ ← θ − η m / (√v̂ + ε)``, ``v̂`` the running max of ``v``.

    See :func:`fnnet.optimizers.scale_by_amsgrad` (no bias correction, as in the paper; optax
    takes the max of the bias-corrected ``v̂``, PyTorch bias-corrects the max of ``v``).
    """
    return chain(scale_by_amsgrad(b1, b2, eps), scale_by_learning_rate(learning_rate))
