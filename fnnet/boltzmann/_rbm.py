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
import numpy as np

from fnnet import activations
from fnnet._checks import (
    check_bool,
    check_key,
    check_positive_int,
    check_real,
    check_samples,
    is_concrete,
    is_int,
)
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


class PseudoLikelihood(NamedTuple):
    """:func:`pseudo_log_likelihood` in both scales: ``per_example`` is
    ``Σ_j log p(v_j | v_{−j})`` averaged over the examples (scikit-learn's ``score_samples``
    scale: it grows with the number of visible units ``V``), ``per_unit`` is that divided by
    ``V`` (comparable across image sizes, scikit-learn#23179)."""

    per_example: Array
    per_unit: Array


def _check_params(params: Any) -> RBMParams:
    """``RBMParams(w (V, H), b (V,), c (H,))`` of one floating dtype, named ``params``."""
    if not (isinstance(params, tuple) and len(params) == 3):
        raise TypeError(
            f"`params` must be RBMParams(w, b, c); got {jax.tree_util.tree_structure(params)}."
        )
    w, b, c = params
    shapes = tuple(getattr(a, "shape", None) for a in (w, b, c))
    if getattr(w, "ndim", None) != 2 or shapes[1] != (w.shape[0],) or shapes[2] != (w.shape[1],):
        raise ValueError(
            f"`params` must hold w (visible, hidden), b (visible,) and c (hidden,); got the "
            f"shapes {shapes}."
        )
    if not jnp.issubdtype(w.dtype, jnp.floating) or not w.dtype == b.dtype == c.dtype:
        raise TypeError(
            f"`params` must be floating and of one dtype; got {w.dtype}, {b.dtype}, {c.dtype}."
        )
    return RBMParams(w, b, c)


_UNIT_RANGE_HINT = (
    "Bernoulli visible units read values in [0, 1] as probabilities (e.g. minmax-scaled "
    "pixels): scale the data, or use gaussian=True on standardised data."
)


def _visible(name: str, v: Any, params: RBMParams | None, *, unit_range: bool) -> Array:
    """Visible data ``(samples, V)`` in the params' dtype (any width and its own float dtype
    without ``params``); in ``[0, 1]`` when ``unit_range`` (checked when concrete)."""
    v = check_samples(
        name, v, features=None if params is None else params.w.shape[0],
        source="" if params is None else f"the weights, params.w.shape = {params.w.shape}",
        low=0.0 if unit_range else None, high=1.0 if unit_range else None,
        hint=_UNIT_RANGE_HINT if unit_range else "",
    )  # fmt: skip
    return v if params is None else v.astype(params.w.dtype)


def _hidden(name: str, h: Any, params: RBMParams) -> Array:
    """Hidden states or probabilities ``(samples, H)`` in the params' dtype."""
    h = check_samples(
        name, h, features=params.w.shape[1],
        source=f"the weights, params.w.shape = {params.w.shape}",
    )  # fmt: skip
    return h.astype(params.w.dtype)


def _check_k(k: Any) -> Any:
    """``k`` Gibbs steps: an int ``>= 1``, or a traced int array (checked when concrete)."""
    if is_int(k) or (hasattr(k, "dtype") and is_concrete(k)):
        value = np.asarray(k)
        if not np.issubdtype(value.dtype, np.integer) or value.ndim != 0:
            raise TypeError(f"`k` must be an int (Gibbs steps); got {k!r}.")
        if int(value) < 1:
            raise ValueError(f"`k` must be >= 1 Gibbs steps; got {int(value)}.")
        return k
    if hasattr(k, "dtype") and jnp.issubdtype(k.dtype, jnp.integer) and jnp.ndim(k) == 0:
        return k  # traced inside vmap/jit
    raise TypeError(f"`k` must be an int (Gibbs steps); got {k!r}.")


def rbm_init(
    num_visible: int,
    num_hidden: int,
    *,
    key: PRNGKey,
    scale: Any = 0.01,
    dtype: Any = jnp.float32,
) -> RBMParams:
    """``W ~ N(0, scale²)`` (0.01: Hinton's guide and scikit-learn), zero biases.

    Args:
        num_visible: the number of visible units.
        num_hidden: the number of hidden units.
        key: draws ``W`` (keyword-only).
        scale: the standard deviation of the weights, ``>= 0``.
        dtype: the parameters' dtype.
    """
    key = check_key("key", key)
    num_visible = check_positive_int("num_visible", num_visible)
    num_hidden = check_positive_int("num_hidden", num_hidden)
    check_real("scale", scale, low=0.0)
    w = jnp.asarray(scale, dtype) * jax.random.normal(key, (num_visible, num_hidden), dtype)
    return RBMParams(w, jnp.zeros((num_visible,), dtype), jnp.zeros((num_hidden,), dtype))


def _hidden_probs(params: RBMParams, v: Array) -> Array:
    return _sigmoid(v @ params.w + params.c)


def _visible_mean(params: RBMParams, h: Array, gaussian: bool) -> Array:
    z = h @ params.w.T + params.b
    return z if gaussian else _sigmoid(z)


def _free_energy(params: RBMParams, v: Array, gaussian: bool) -> Array:
    visible = 0.5 * jnp.sum(jnp.square(v - params.b), -1) if gaussian else -(v @ params.b)
    return visible - jnp.sum(_softplus(v @ params.w + params.c), axis=-1)


def hidden_probs(params: RBMParams, v: Any) -> Array:
    """``p(h = 1 | v) = σ(vW + c)``, ``(samples, hidden)`` for ``v`` ``(samples, visible)``.

    ``v`` is checked by ``check_samples`` against the weights' width (at trace time too) and,
    when concrete, for NaN/inf; under ``jit`` a NaN row gives NaN probabilities (NaN in, NaN
    out). Integer data is cast to the params' dtype.
    """
    params = _check_params(params)
    return _hidden_probs(params, _visible("v", v, params, unit_range=False))


def transform(params: RBMParams, x: Any) -> Array:
    """The RBM's features for a downstream model: the hidden probabilities ``σ(xW + c)``
    ``(samples, hidden)``, what scikit-learn's ``BernoulliRBM.transform`` returns (this is
    :func:`hidden_probs` under scikit-learn's name, with the same checks)."""
    params = _check_params(params)
    return _hidden_probs(params, _visible("x", x, params, unit_range=False))


def visible_mean(params: RBMParams, h: Any, *, gaussian: bool = False) -> Array:
    """``E[v | h]``: ``σ(hWᵀ + b)`` (Bernoulli) or ``hWᵀ + b`` (Gaussian), for hidden states
    or probabilities ``h`` ``(samples, hidden)``."""
    params = _check_params(params)
    return _visible_mean(params, _hidden("h", h, params), check_bool("gaussian", gaussian))


def free_energy(params: RBMParams, v: Any, *, gaussian: bool = False) -> Array:
    """``F(v)`` per example, ``(samples,)``; see the module docstring for both unit types."""
    params = _check_params(params)
    gaussian = check_bool("gaussian", gaussian)
    return _free_energy(params, _visible("v", v, params, unit_range=False), gaussian)


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
    return jnp.mean(_free_energy(params, v_data, gaussian)) - jnp.mean(
        _free_energy(params, v_model, gaussian)
    )


def _free_energy_gap_fwd(gaussian, params, v_data, v_model):
    gap = free_energy_gap(gaussian, params, v_data, v_model)
    return gap, (
        v_data,
        v_model,
        _hidden_probs(params, v_data),
        _hidden_probs(params, v_model),
    )


def _free_energy_gap_bwd(gaussian, res, g):
    v_data, v_model, h_data, h_model = res
    n_data, n_model = v_data.shape[0], v_model.shape[0]
    dw = -g * (v_data.T @ h_data / n_data - v_model.T @ h_model / n_model)  # ⟨vhᵀ⟩ statistics
    db = -g * (jnp.mean(v_data, 0) - jnp.mean(v_model, 0))
    dc = -g * (jnp.mean(h_data, 0) - jnp.mean(h_model, 0))
    return RBMParams(dw, db, dc), None, None


free_energy_gap.defvjp(_free_energy_gap_fwd, _free_energy_gap_bwd)


def bernoulli(p: Array, *, key: PRNGKey) -> Array:
    """Binary samples ``[u < p]`` with ``u ~ U[0, 1)`` from ``jax.random.uniform(key, p.shape)``,
    in ``p``'s dtype (``key`` keyword-only)."""
    key = check_key("key", key)
    return (jax.random.uniform(key, p.shape, p.dtype) < p).astype(p.dtype)


def _sample_visible(key: PRNGKey, params: RBMParams, h: Array, gaussian: bool) -> Array:
    mean = _visible_mean(params, h, gaussian)
    if gaussian:
        return mean + jax.random.normal(key, mean.shape, mean.dtype)
    return bernoulli(mean, key=key)


def sample_visible(params: RBMParams, h: Any, *, key: PRNGKey, gaussian: bool = False) -> Array:
    """One draw of ``v | h``: Bernoulli, or the Gaussian mean plus ``N(0, 1)`` noise."""
    params = _check_params(params)
    key = check_key("key", key)
    return _sample_visible(key, params, _hidden("h", h, params), check_bool("gaussian", gaussian))


def _gibbs(key: PRNGKey, params: RBMParams, h: Array, k: Any, gaussian: bool):
    def step(i, carry):
        _, h = carry
        key_v, key_h = jax.random.split(jax.random.fold_in(key, i))
        v = _sample_visible(key_v, params, h, gaussian)
        return v, bernoulli(_hidden_probs(params, v), key=key_h)

    v0 = jnp.zeros(h.shape[:-1] + params.b.shape, params.b.dtype)
    return jax.lax.fori_loop(0, k, step, (v0, h))


def gibbs_chain(
    params: RBMParams, h: Any, k: Any, *, key: PRNGKey, gaussian: bool = False
) -> tuple[Array, Array]:
    """``k`` alternating Gibbs steps from hidden states ``h``: ``v ~ p(v | h)``, ``h ~ p(h | v)``.

    Step ``i`` draws ``v`` with ``split(fold_in(key, i))[0]`` and ``h`` with ``[1]``. ``k`` may
    be a traced int (a sweep over ``k`` is one program). Returns the last visible sample
    ``(samples, visible)`` and the last hidden sample ``(samples, hidden)``.
    """
    params = _check_params(params)
    key = check_key("key", key)
    h = _hidden("h", h, params)
    return _gibbs(key, params, h, _check_k(k), check_bool("gaussian", gaussian))


def reconstruction_error(
    params: RBMParams, v: Any, *, gaussian: bool = False, per_unit: bool = True
) -> Array:
    """Mean-field reconstruction error ``mean_samples ‖v − E[v | σ(vW + c)]‖²``, divided by the
    number of visible units when ``per_unit`` (comparable across data sets). For Bernoulli
    units ``v`` must lie in ``[0, 1]``, as :func:`fnnet.boltzmann.rbm_fit` requires."""
    params = _check_params(params)
    gaussian = check_bool("gaussian", gaussian)
    v = _visible("v", v, params, unit_range=not gaussian)
    return _reconstruction_error(params, v, gaussian, check_bool("per_unit", per_unit))


def _reconstruction_error(params: RBMParams, v: Array, gaussian: bool, per_unit: bool) -> Array:
    recon = _visible_mean(params, _hidden_probs(params, v), gaussian)
    error = jnp.mean(jnp.sum(jnp.square(v - recon), axis=-1))
    return error / v.shape[-1] if per_unit else error


def pseudo_log_likelihood(
    params: RBMParams, v: Any, *, key: PRNGKey | None = None
) -> PseudoLikelihood:
    """Pseudo-log-likelihood ``Σ_j log p(v_j | v_{−j})`` of Bernoulli visible units, in both
    scales (:class:`PseudoLikelihood`: ``per_example``, scikit-learn's, and ``per_unit``).

    ``log p(v_j | v_{−j}) = log σ(F(ṽ) − F(v))`` with ``ṽ`` = ``v`` with unit ``j`` flipped
    (``1 − v_j``). With ``key=None`` every unit is flipped in turn (exact); with a key one
    random unit per example, times the number of units (scikit-learn's ``score_samples``
    estimate). Both scales are the mean over the examples; ``per_unit`` divides by the number
    of visible units ``V``, so the figure does not grow with the image size (scikit-learn#23179).

    Args:
        params: ``RBMParams``.
        v: ``(samples, visible)`` in ``[0, 1]`` (as :func:`fnnet.boltzmann.rbm_fit` requires);
            NumPy arrays and integer data are accepted.
        key: ``None`` (exact), or the key of scikit-learn's one-flip estimate.
    """
    params = _check_params(params)
    v = _visible("v", v, params, unit_range=True)
    f = _free_energy(params, v, False)
    num_visible = v.shape[-1]
    if key is None:

        def flipped(j):
            return _free_energy(params, v.at[:, j].set(1.0 - v[:, j]), False)

        f_flipped = jax.lax.map(flipped, jnp.arange(num_visible))  # (visible, samples)
        total = jnp.sum(jax.nn.log_sigmoid(f_flipped - f), axis=0)
    else:
        j = jax.random.randint(check_key("key", key), (v.shape[0],), 0, num_visible)
        rows = jnp.arange(v.shape[0])
        v_flipped = v.at[rows, j].set(1.0 - v[rows, j])
        total = num_visible * jax.nn.log_sigmoid(_free_energy(params, v_flipped, False) - f)
    mean = jnp.mean(total)
    return PseudoLikelihood(mean, mean / num_visible)
