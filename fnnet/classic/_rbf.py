"""Radial-basis-function networks: a Gaussian hidden layer with a hand rule, and the textbook's
two-stage training (k-means centres, Haykin's width, least-squares output weights).

Hidden unit ``j`` has a centre ``c_j`` and one width per input dimension, stored as
``log σ_j`` (so widths stay positive under gradient steps)::

    φ_j(x) = exp(−½ Σ_i (x_i − c_ji)² / σ_ji²)

and the network is ``y = φ(x) W + b`` (``serial(RBF(k), Dense(m))``). The backward rule, with
``u = g ⊙ φ`` (``g = ∂L/∂φ``) and ``r_ji = (x_i − c_ji) / σ_ji``::

    ∂L/∂c_ji     =  Σ_n u_nj r_nji / σ_ji
    ∂L/∂log σ_ji =  Σ_n u_nj r_nji²
    ∂L/∂x_ni     = −Σ_j u_nj r_nji / σ_ji

written with matrix products (no ``(batch, k, d)`` tensor). Gradient fine-tuning of centres and
widths is then ``fnnet.fit`` on the two-stage parameters.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from fnnet._checks import (
    check_at_most_rows,
    check_floating,
    check_key,
    check_ndim,
    check_positive_int,
    check_real,
    check_rows,
    check_samples,
    is_concrete,
)
from fnnet._layer_checks import check_features, check_shape
from fnnet._types import Array, PRNGKey
from fnnet.layers import DenseParams, Layer
from fnnet.rules import hand_rule


class RBFParams(NamedTuple):
    """Gaussian RBF layer parameters: ``centres`` ``(k, d)`` and ``log_sigma`` ``(k, d)``."""

    centres: Array
    log_sigma: Array


def _scaled_sq_distances(centres: Array, inv_var: Array, x: Array) -> Array:
    """``Σ_i (x_ni − c_ji)² / σ_ji²`` as ``(batch, k)`` by matrix products, clamped at 0."""
    d2 = (x * x) @ inv_var.T - 2.0 * x @ (centres * inv_var).T + jnp.sum(centres**2 * inv_var, -1)
    return jnp.maximum(d2, 0.0)


@hand_rule
@jax.custom_vjp
def gaussian_rbf(params: RBFParams, x: Array) -> Array:
    """Gaussian radial basis ``φ_j(x) = exp(−½ Σ_i (x_i − c_ji)² / σ_ji²)``, ``(batch, k)``.

    Backward (``u = g ⊙ φ``; ``A = uᵀx``, ``s = Σ_n u_n``, ``1/σ²`` elementwise)::

        ∂L/∂c      = (A − s ⊙ c) / σ²
        ∂L/∂log σ  = (uᵀx² − 2 A ⊙ c + s ⊙ c²) / σ²
        ∂L/∂x      = −(x ⊙ (u (1/σ²)) − u (c/σ²))

    Args:
        params: ``RBFParams(centres (k, d), log_sigma (k, d))``.
        x: ``(batch, d)``.
    """
    inv_var = jnp.exp(-2.0 * params.log_sigma)
    return jnp.exp(-0.5 * _scaled_sq_distances(params.centres, inv_var, x))


def _gaussian_rbf_fwd(params, x):
    phi = gaussian_rbf(params, x)
    return phi, (params.centres, jnp.exp(-2.0 * params.log_sigma), x, phi)


def _gaussian_rbf_bwd(res, g):
    c, inv_var, x, phi = res
    u = g * phi
    a = u.T @ x  # Σ_n u_nj x_ni
    s = jnp.sum(u, axis=0)[:, None]  # Σ_n u_nj
    dc = inv_var * (a - s * c)
    dlog_sigma = inv_var * (u.T @ (x * x) - 2.0 * a * c + s * c * c)
    dx = -(x * (u @ inv_var) - u @ (c * inv_var))
    return RBFParams(dc, dlog_sigma), dx


gaussian_rbf.defvjp(_gaussian_rbf_fwd, _gaussian_rbf_bwd)


def rbf_params(centres: Any, widths: Any) -> RBFParams:
    """``RBFParams`` from centres ``(k, d)`` and positive widths ``σ`` (a scalar, ``(k,)``,
    or ``(k, d)``), stored as ``log σ``. Another shape, or non-positive widths, are an error
    naming ``widths``."""
    centres = check_ndim("centres", check_floating("centres", centres), (2,), layout="(k, d)")
    widths = jnp.asarray(widths, centres.dtype)
    k, d = centres.shape
    if widths.shape not in ((), (k,), (k, d)):
        raise ValueError(
            f"`widths` must be a scalar, ({k},) (one per centre) or ({k}, {d}) (one per centre "
            f"and dimension) for centres of shape ({k}, {d}); got shape {widths.shape}."
        )
    if widths.ndim == 1:
        widths = widths[:, None]
    if is_concrete(widths) and not bool(jnp.all(widths > 0)):
        raise ValueError(
            f"`widths` must be positive (σ > 0); got a minimum of {float(jnp.min(widths))}."
        )
    log_sigma = jnp.broadcast_to(jnp.log(widths), centres.shape)
    return RBFParams(centres, log_sigma)


def RBF(units: int, *, dtype: Any = jnp.float32) -> Layer:
    """A Gaussian RBF layer of ``units`` centres with per-dimension widths (``log σ``).

    ``init(key, input_shape)`` (the layer contract: ``key`` checked, ``input_shape`` a feature
    count or a shape whose last axis is the features) draws centres ``N(0, 1)`` with ``σ = 1``
    (for standardised inputs; :func:`rbf_two_stage` gives data-driven ones); ``apply`` maps
    ``(batch, d)`` or ``(d,)`` to ``(batch, units)`` through :func:`gaussian_rbf`.
    """
    units = check_positive_int("units", units)

    def init(key: PRNGKey, input_shape: Any) -> RBFParams:
        key = check_key("key", key)
        d = check_shape("input_shape", input_shape)[-1]
        centres = jax.random.normal(key, (units, d), dtype)
        return RBFParams(centres, jnp.zeros((units, d), dtype))

    def apply(params: RBFParams, x: Array, *, key: Any = None, training: bool = False) -> Array:
        del key, training
        x = check_features("x", x, params.centres.shape[1], params.centres.dtype)
        return gaussian_rbf(params, x[None])[0] if x.ndim == 1 else gaussian_rbf(params, x)

    return Layer(init, apply)


@functools.partial(jax.jit, static_argnums=(2, 3))
def _lloyd(key: PRNGKey, x: Array, k: int, iterations: int) -> tuple[Array, Array]:
    centres = x[jax.random.choice(key, x.shape[0], (k,), replace=False)]

    def assign(centres):
        d2 = jnp.sum(x * x, 1)[:, None] - 2.0 * x @ centres.T + jnp.sum(centres**2, 1)
        return jnp.argmin(d2, axis=1), jnp.maximum(jnp.min(d2, axis=1), 0.0)

    def step(_, centres):
        labels, _ = assign(centres)
        sums = jax.ops.segment_sum(x, labels, num_segments=k)
        counts = jax.ops.segment_sum(jnp.ones_like(labels, x.dtype), labels, num_segments=k)
        # an empty cluster keeps its centre
        return jnp.where(counts[:, None] > 0, sums / jnp.maximum(counts, 1.0)[:, None], centres)

    centres = jax.lax.fori_loop(0, iterations, step, centres)
    return centres, jnp.sum(assign(centres)[1])


def kmeans(
    x: Any, k: int, *, key: PRNGKey, iterations: int = 50, restarts: int = 3
) -> tuple[Array, Array]:
    """Lloyd's k-means in JAX: ``restarts`` runs (vmapped) from ``k`` distinct random rows, each
    ``iterations`` assignment/mean steps; returns the centres ``(k, d)`` of the run with the
    lowest inertia and that inertia (sum of squared distances to the nearest centre).

    Args:
        x: ``(n, d)`` data; integer data is cast to float32; NaN or ±inf is refused (naming
            the row).
        k: number of centres, ``1 <= k <= n``.
        key: the starting rows of each restart (``split(key, restarts)``), keyword-only.
        iterations: Lloyd steps per run.
        restarts: the number of runs.
    """
    key = check_key("key", key)
    x = check_samples("x", x)
    k = check_at_most_rows("k", k, x.shape[0], data="x")
    iterations = check_positive_int("iterations", iterations)
    restarts = check_positive_int("restarts", restarts)
    keys = jax.random.split(key, restarts)
    centres, inertia = jax.vmap(_lloyd, in_axes=(0, None, None, None))(keys, x, k, iterations)
    best = jnp.argmin(inertia)
    return centres[best], inertia[best]


def haykin_width(centres: Any) -> Array:
    """Haykin's width heuristic ``σ = d_max / √(2k)``, ``d_max`` the largest distance between
    two of the ``k`` centres ``(k, d)``."""
    centres = check_samples("centres", centres)
    d2 = jnp.sum((centres[:, None, :] - centres[None, :, :]) ** 2, axis=-1)
    return jnp.sqrt(jnp.max(d2)) / jnp.sqrt(2.0 * centres.shape[0])


def least_squares_output(features: Array, targets: Array, ridge: Any = 1e-3) -> DenseParams:
    """Output weights minimising ``‖φW + b − Y‖² + ridge ‖W‖²`` (the bias is not penalised):
    ``W = (φ̃ᵀφ̃ + ridge·I)⁻¹ φ̃ᵀỸ`` on centred ``φ̃``, ``Ỹ``; ``b = ȳ − φ̄ W``."""
    check_real("ridge", ridge, low=0.0)
    features = check_samples("features", features)
    targets = check_rows(
        "targets", check_samples("targets", targets), features.shape[0], like="features"
    )
    mean_f, mean_t = jnp.mean(features, 0), jnp.mean(targets, 0)
    f, t = features - mean_f, targets - mean_t
    gram = f.T @ f + jnp.asarray(ridge, f.dtype) * jnp.eye(f.shape[1], dtype=f.dtype)
    w = jnp.linalg.solve(gram, f.T @ t)
    return DenseParams(w, mean_t - mean_f @ w)


def rbf_two_stage(
    x: Any,
    targets: Any,
    units: int,
    *,
    key: PRNGKey,
    ridge: Any = 1e-3,
    iterations: int = 50,
    restarts: int = 3,
) -> tuple[RBFParams, DenseParams]:
    """The textbook's two-stage training of ``serial(RBF(units), Dense(m))``.

    1. centres by :func:`kmeans`; one width ``σ = d_max/√(2k)`` (:func:`haykin_width`) for
       every unit and dimension;
    2. output weights by :func:`least_squares_output` on the hidden activations.

    Args:
        x: ``(n, d)`` inputs (standardise them first); NaN or ±inf is refused.
        targets: ``(n, m)`` regression targets or one-hot class rows.
        units: number of centres ``k``.
        key: k-means initialisation (keyword-only).
        ridge: least-squares penalty on the output weights.
        iterations: Lloyd steps per k-means run.
        restarts: the number of k-means runs.

    Returns:
        The ``serial`` params ``(RBFParams, DenseParams)``, ready for ``apply`` or ``fnnet.fit``.
    """
    x = check_samples("x", x)
    targets = check_rows("targets", check_samples("targets", targets), x.shape[0], like="x")
    units = check_at_most_rows("units", units, x.shape[0], data="x")
    centres, _ = kmeans(x, units, key=key, iterations=iterations, restarts=restarts)
    hidden = rbf_params(centres, haykin_width(centres))
    features = gaussian_rbf(hidden, x)
    if is_concrete(features) and not np.all(np.isfinite(np.asarray(features))):
        raise ValueError(  # x is finite (checked above): the widths collapsed (equal centres)
            "the RBF activations of `x` are not finite: the centres coincide, so the width "
            "d_max/sqrt(2k) is 0; use fewer `units` or distinct rows of `x`."
        )
    return hidden, least_squares_output(features, targets, ridge)
