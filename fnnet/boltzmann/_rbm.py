"""Restricted Boltzmann machines: free energy, the contrastive-divergence rule, Gibbs sampling.

An RBM with visible units ``v`` (``V``), binary hidden units ``h`` (``H``), weights ``W``
``(V, H)``, visible bias ``b`` and hidden bias ``c`` has the energy and free energy

* Bernoulli visible units: ``E(v, h) = −bᵀv − cᵀh − vᵀWh``,
  ``F(v) = −bᵀv − Σ_j softplus((vW + c)_j)``;
* Gaussian visible units (unit variance; standardise the data first):
  ``E(v, h) = ½‖v − b‖² − cᵀh − vᵀWh``, ``F(v) = ½‖v − b‖² − Σ_j softplus((vW + c)_j)``.

The conditionals are ``p(h_j = 1 | v) = σ((vW + c)_j)`` and ``p(v | h)`` = Bernoulli with mean
``σ(hWᵀ + b)``, or normal with mean ``hWᵀ + b`` and unit variance. The log-likelihood
gradient is ``−∂F(v_data)/∂θ + E_model[∂F(v)/∂θ]``; contrastive divergence replaces the model
expectation by samples ``v_model`` from a short Gibbs chain. It is therefore the gradient of
the **free-energy gap** ``mean F(v_data) − mean F(v_model)`` with the samples held constant,
and :func:`free_energy_gap` is that surrogate with a hand-written rule::

    ∂/∂W = −(v_dataᵀ h_data / B − v_modelᵀ h_model / B')      (h = σ(vW + c), probabilities)
    ∂/∂c = −(mean h_data − mean h_model),   ∂/∂b = −(mean v_data − mean v_model)

(for Gaussian units ``∂F/∂b = −(v − b)``, whose ``b`` cancels between the two terms). Gradient
*descent* on the gap is the CD update ``ΔW = η (⟨vhᵀ⟩_data − ⟨vhᵀ⟩_model)``, so any
``fnnet.optimizers`` optimizer trains an RBM unchanged.

Bernoulli visible units accept values in ``[0, 1]``, read as probabilities (grey levels), as
scikit-learn's ``BernoulliRBM`` and Hinton's guide do; values outside are an error.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from fnnet import activations
from fnnet._checks import check_key, check_positive_int, check_real
from fnnet._types import Array, PRNGKey
from fnnet.rules import hand_rule

_softplus = activations.softplus.forward  # the activations' own forward bodies, not re-derived
_sigmoid = activations.sigmoid.forward


class RBMParams(NamedTuple):
    """RBM parameters: ``w`` ``(visible, hidden)``, visible bias ``b`` ``(visible,)``, hidden
    bias ``c`` ``(hidden,)``."""

    w: Array
    b: Array
    c: Array


def rbm_init(
    key: PRNGKey,
    num_visible: int,
    num_hidden: int,
    *,
    scale: Any = 0.01,
    dtype: Any = jnp.float32,
) -> RBMParams:
    """``W ~ N(0, scale²)`` (0.01: Hinton's guide and scikit-learn), zero biases."""
    key = check_key("key", key)
    num_visible = check_positive_int("num_visible", num_visible)
    num_hidden = check_positive_int("num_hidden", num_hidden)
    check_real("scale", scale, low=0.0)
    w = jnp.asarray(scale, dtype) * jax.random.normal(key, (num_visible, num_hidden), dtype)
    return RBMParams(w, jnp.zeros((num_visible,), dtype), jnp.zeros((num_hidden,), dtype))


def hidden_probs(params: RBMParams, v: Array) -> Array:
    """``p(h = 1 | v) = σ(vW + c)``, ``(batch, hidden)``: also the RBM's features."""
    return _sigmoid(v @ params.w + params.c)


def visible_mean(params: RBMParams, h: Array, *, gaussian: bool = False) -> Array:
    """``E[v | h]``: ``σ(hWᵀ + b)`` (Bernoulli) or ``hWᵀ + b`` (Gaussian)."""
    z = h @ params.w.T + params.b
    return z if gaussian else _sigmoid(z)


def free_energy(params: RBMParams, v: Array, *, gaussian: bool = False) -> Array:
    """``F(v)`` per example, ``(batch,)``; see the module docstring for both unit types."""
    visible = 0.5 * jnp.sum(jnp.square(v - params.b), -1) if gaussian else -(v @ params.b)
    return visible - jnp.sum(_softplus(v @ params.w + params.c), axis=-1)


@hand_rule
@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def free_energy_gap(gaussian: bool, params: RBMParams, v_data: Array, v_model: Array) -> Array:
    """The contrastive-divergence surrogate ``mean F(v_data) − mean F(v_model)``.

    Backward (samples held constant: ``v_data`` and ``v_model`` get no cotangent; ``h`` are
    hidden probabilities ``σ(vW + c)``, ``B``, ``B'`` the two batch sizes)::

        ∂/∂W = −(v_dataᵀ h_data / B − v_modelᵀ h_model / B')
        ∂/∂b = −(mean v_data − mean v_model),    ∂/∂c = −(mean h_data − mean h_model)

    Args:
        gaussian: static; Gaussian (unit-variance) instead of Bernoulli visible units.
        params: ``RBMParams``.
        v_data: ``(B, visible)`` data.
        v_model: ``(B', visible)`` negative samples (the end of a Gibbs chain).

    Returns:
        A scalar of the parameters' dtype.
    """
    return jnp.mean(free_energy(params, v_data, gaussian=gaussian)) - jnp.mean(
        free_energy(params, v_model, gaussian=gaussian)
    )


def _free_energy_gap_fwd(gaussian, params, v_data, v_model):
    gap = free_energy_gap(gaussian, params, v_data, v_model)
    return gap, (
        v_data,
        v_model,
        hidden_probs(params, v_data),
        hidden_probs(params, v_model),
    )


def _free_energy_gap_bwd(gaussian, res, g):
    v_data, v_model, h_data, h_model = res
    n_data, n_model = v_data.shape[0], v_model.shape[0]
    dw = -g * (v_data.T @ h_data / n_data - v_model.T @ h_model / n_model)  # ⟨vhᵀ⟩ statistics
    db = -g * (jnp.mean(v_data, 0) - jnp.mean(v_model, 0))
    dc = -g * (jnp.mean(h_data, 0) - jnp.mean(h_model, 0))
    return RBMParams(dw, db, dc), None, None


free_energy_gap.defvjp(_free_energy_gap_fwd, _free_energy_gap_bwd)


def bernoulli(key: PRNGKey, p: Array) -> Array:
    """Binary samples ``[u < p]`` with ``u ~ U[0, 1)`` from ``jax.random.uniform(key, p.shape)``,
    in ``p``'s dtype."""
    return (jax.random.uniform(key, p.shape, p.dtype) < p).astype(p.dtype)


def sample_visible(key: PRNGKey, params: RBMParams, h: Array, *, gaussian: bool = False) -> Array:
    """One draw of ``v | h``: Bernoulli, or the Gaussian mean plus ``N(0, 1)`` noise."""
    mean = visible_mean(params, h, gaussian=gaussian)
    if gaussian:
        return mean + jax.random.normal(key, mean.shape, mean.dtype)
    return bernoulli(key, mean)


def gibbs_chain(
    key: PRNGKey, params: RBMParams, h: Array, k: Any, *, gaussian: bool = False
) -> tuple[Array, Array]:
    """``k`` alternating Gibbs steps from hidden states ``h``: ``v ~ p(v | h)``, ``h ~ p(h | v)``.

    Step ``i`` draws ``v`` with ``split(fold_in(key, i))[0]`` and ``h`` with ``[1]``. ``k`` may
    be a traced int (a sweep over ``k`` is one program). Returns the last visible sample
    ``(batch, visible)`` and the last hidden sample ``(batch, hidden)``.
    """

    def step(i, carry):
        _, h = carry
        key_v, key_h = jax.random.split(jax.random.fold_in(key, i))
        v = sample_visible(key_v, params, h, gaussian=gaussian)
        return v, bernoulli(key_h, hidden_probs(params, v))

    v0 = jnp.zeros(h.shape[:-1] + params.b.shape, params.b.dtype)
    return jax.lax.fori_loop(0, k, step, (v0, h))


def reconstruction_error(
    params: RBMParams, v: Array, *, gaussian: bool = False, per_unit: bool = True
) -> Array:
    """Mean-field reconstruction error ``mean_batch ‖v − E[v | σ(vW + c)]‖²``, divided by the
    number of visible units when ``per_unit`` (comparable across data sets)."""
    recon = visible_mean(params, hidden_probs(params, v), gaussian=gaussian)
    error = jnp.mean(jnp.sum(jnp.square(v - recon), axis=-1))
    return error / v.shape[-1] if per_unit else error


def pseudo_log_likelihood(
    params: RBMParams, v: Array, *, key: PRNGKey | None = None, per_unit: bool = True
) -> Array:
    """Pseudo-log-likelihood ``Σ_j log p(v_j | v_{−j})`` of Bernoulli visible units, batch mean.

    ``log p(v_j | v_{−j}) = log σ(F(ṽ) − F(v))`` with ``ṽ`` = ``v`` with unit ``j`` flipped
    (``1 − v_j``). With ``key=None`` every unit is flipped in turn (exact); with a key one
    random unit per example, times the number of units (scikit-learn's ``score_samples``
    estimate). ``per_unit=True`` divides by the number of visible units, so the figure does
    not grow with the image size (scikit-learn#23179); ``per_unit=False`` gives
    scikit-learn's scale.
    """
    f = free_energy(params, v)
    num_visible = v.shape[-1]
    if key is None:

        def flipped(j):
            return free_energy(params, v.at[:, j].set(1.0 - v[:, j]))

        f_flipped = jax.lax.map(flipped, jnp.arange(num_visible))  # (visible, batch)
        total = jnp.sum(jax.nn.log_sigmoid(f_flipped - f), axis=0)
    else:
        j = jax.random.randint(check_key("key", key), (v.shape[0],), 0, num_visible)
        rows = jnp.arange(v.shape[0])
        v_flipped = v.at[rows, j].set(1.0 - v[rows, j])
        total = num_visible * jax.nn.log_sigmoid(free_energy(params, v_flipped) - f)
    mean = jnp.mean(total)
    return mean / num_visible if per_unit else mean


__all__ = [
    "RBMParams",
    "bernoulli",
    "free_energy",
    "free_energy_gap",
    "gibbs_chain",
    "hidden_probs",
    "pseudo_log_likelihood",
    "rbm_init",
    "reconstruction_error",
    "sample_visible",
    "visible_mean",
]
