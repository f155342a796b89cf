"""Elementwise activations ``a = f(z)``, each with a hand-written backward rule.

Re-exported by :mod:`fnnet.activations` (use them from there, where the conventions are
stated). The one sigmoid of fnnet, :func:`_logistic_pair`, lives here and every other rule
that needs ``σ`` (SiLU, softplus', GELU-tanh, and through ``sigmoid.forward`` the losses) uses
it.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from fnnet._checks import check_bool
from fnnet._types import Array
from fnnet.rules import hand_rule


def _cast(h, z):
    """A hyperparameter (Python number or array) in ``z``'s dtype: keeps float32 paths float32."""
    return jnp.asarray(h).astype(z.dtype)


def _check_broadcasts_to(name: str, h, z) -> None:
    """Raise unless the hyperparameter ``h`` broadcasts to ``z.shape`` without enlarging it."""
    shape = jnp.shape(h)
    if len(shape) > z.ndim or any(n not in (1, m) for n, m in zip(shape[::-1], z.shape[::-1])):
        raise ValueError(
            f"`{name}` must be a scalar or broadcast to `z`'s shape {z.shape} (e.g. per-channel "
            f"shape ({z.shape[-1] if z.ndim else 1},)); got shape {shape}."
        )


@hand_rule
@jax.custom_vjp
def identity(z: Array) -> Array:
    """Identity ``a = z``. Backward: ``dz = da``."""
    return z


def _identity_fwd(z):
    return identity(z), None


def _identity_bwd(_, da):
    return (da,)


identity.defvjp(_identity_fwd, _identity_bwd)


@hand_rule
@jax.custom_vjp
def binary_step(z: Array) -> Array:
    """Heaviside step ``a = 1 if z ≥ 0 else 0`` (``H(0) = 1``; NaN stays NaN). Backward: ``dz = 0``.

    The derivative is 0 wherever it exists, so no gradient flows through a step unit: it is the
    perceptron's activation and cannot be trained by gradient descent, which is why the
    textbook moves on to the sigmoid.
    """
    step = jnp.where(z >= 0, jnp.ones_like(z), jnp.zeros_like(z))
    return jnp.where(jnp.isnan(z), z, step)  # NaN in, NaN out


def _binary_step_fwd(z):
    return binary_step(z), None


def _binary_step_bwd(_, da):
    return (jnp.zeros_like(da),)


binary_step.defvjp(_binary_step_fwd, _binary_step_bwd)


def _logistic_pair(z: Array) -> tuple[Array, Array]:
    """``(σ(z), σ(−z))``, both to a few ulp in both tails (the one sigmoid of fnnet).

    With ``e = e^{−|z|} ≤ 1`` (never overflows), ``σ(z) = 1/(1 + e)`` and ``σ(−z) = e/(1 + e)``
    for ``z ≥ 0``, swapped for ``z < 0``: neither is a difference of nearly equal numbers, so
    ``σ(−700) = 9.86e-305`` keeps its digits where ``½(1 + tanh(z/2))`` gives 0. The exponent is
    chosen by ``where`` rather than ``−|z|``, so JAX's own derivative is right at ``z = 0``.
    """
    nonnegative = z >= 0
    e = jnp.exp(jnp.where(nonnegative, -z, z))
    big, small = 1.0 / (1.0 + e), e / (1.0 + e)
    return jnp.where(nonnegative, big, small), jnp.where(nonnegative, small, big)


@hand_rule
@jax.custom_vjp
def sigmoid(z: Array) -> Array:
    """Logistic sigmoid ``a = 1 / (1 + e^{−z})``. Backward: ``dz = da ⊙ a(1 − a)``.

    ``1 − a = σ(−z)`` is computed directly, not by subtraction, so value and derivative keep
    full relative precision in both tails (float64: ≤ 5e-16 relative over ``[−708, 708]``,
    where both are normal floats), and no ``e^{−z}`` overflows for ``z = −1e4`` in float32.
    """
    return _logistic_pair(z)[0]


def _sigmoid_fwd(z):
    a, complement = _logistic_pair(z)  # a = σ(z), complement = 1 − a = σ(−z)
    return a, (a, complement)


def _sigmoid_bwd(res, da):
    a, complement = res
    return (da * a * complement,)  # σ'(z) = a(1 − a)


sigmoid.defvjp(_sigmoid_fwd, _sigmoid_bwd)


@hand_rule
@jax.custom_vjp
def tanh(z: Array) -> Array:
    """Hyperbolic tangent ``a = tanh(z)``. Backward: ``dz = da ⊙ (1 − a²)``."""
    return jnp.tanh(z)


def _tanh_fwd(z):
    a = tanh(z)
    return a, a  # tanh'(z) = 1 − a²


def _tanh_bwd(a, da):
    return (da * (1.0 - a * a),)


tanh.defvjp(_tanh_fwd, _tanh_bwd)


@hand_rule
@jax.custom_vjp
def relu(z: Array) -> Array:
    """Rectified linear unit ``a = max(z, 0)`` (``relu(NaN) = NaN``). Backward: ``dz = da ⊙ [z > 0]``
    (``relu'(0) = 0``)."""
    # not jnp.maximum (autodiff gives ½ at 0); ``z ≤ 0`` rather than ``z > 0`` so NaN stays NaN
    return jnp.where(z <= 0, jnp.zeros_like(z), z)


def _relu_fwd(z):
    a = relu(z)
    return a, a


def _relu_bwd(a, da):
    return (jnp.where(a <= 0, jnp.zeros_like(da), da),)  # a ≤ 0 exactly where z ≤ 0


relu.defvjp(_relu_fwd, _relu_bwd)


@hand_rule
@jax.custom_vjp
def leaky_relu(z: Array, negative_slope: Array | float = 0.01) -> Array:
    """Leaky ReLU ``a = z if z > 0 else s·z`` (``s = negative_slope``).

    Backward: ``dz = da`` where ``z > 0``, ``s·da`` elsewhere (so ``leaky_relu'(0) = s``).
    ``negative_slope`` is a hyperparameter: a scalar or an array broadcasting to ``z``'s shape,
    possibly traced (vmappable), cast to ``z``'s dtype; it gets no gradient (cotangent ``None``).
    """
    _check_broadcasts_to("negative_slope", negative_slope, z)
    return jnp.where(z > 0, z, _cast(negative_slope, z) * z)


def _leaky_relu_fwd(z, negative_slope):
    return leaky_relu(z, negative_slope), (z > 0, _cast(negative_slope, z))


def _leaky_relu_bwd(res, da):
    positive, slope = res
    return jnp.where(positive, da, slope * da), None  # hyperparameter: no cotangent


leaky_relu.defvjp(_leaky_relu_fwd, _leaky_relu_bwd)


@hand_rule
@jax.custom_vjp
def elu(z: Array, alpha: Array | float = 1.0) -> Array:
    """Exponential linear unit ``a = z if z > 0 else α(e^z − 1)``.

    Backward, from the output: ``dz = da`` where ``z > 0``, ``da ⊙ (a + α)`` elsewhere
    (``elu'(0) = α``). ``e^z − 1`` is ``expm1`` of ``z`` clamped to ``≤ 0``, so ``z = 1e4`` never
    evaluates ``e^{1e4} = inf`` (no ``inf·0 = nan`` in JAX's own derivative either). ``alpha`` is
    a hyperparameter like ``leaky_relu``'s ``negative_slope``: no cotangent.
    """
    _check_broadcasts_to("alpha", alpha, z)
    negative_part = jnp.where(z > 0, jnp.zeros_like(z), z)  # clamp: expm1 sees only z ≤ 0
    return jnp.where(z > 0, z, _cast(alpha, z) * jnp.expm1(negative_part))


def _elu_fwd(z, alpha):
    a = elu(z, alpha)
    return a, (z > 0, a, _cast(alpha, z))


def _elu_bwd(res, da):
    positive, a, alpha = res
    return jnp.where(positive, da, da * (a + alpha)), None  # α e^z = a + α for z ≤ 0


elu.defvjp(_elu_fwd, _elu_bwd)


@hand_rule
@jax.custom_vjp
def silu(z: Array) -> Array:
    """SiLU / swish ``a = z·σ(z)``. Backward: ``dz = da ⊙ σ(z)(1 + z·σ(−z))``.

    ``σ(−z) = 1 − σ(z)`` comes from the same accurate sigmoid, so both tails keep their digits.
    """
    return z * sigmoid.forward(z)


def _silu_fwd(z):
    return silu(z), z


def _silu_bwd(z, da):
    s, complement = _logistic_pair(z)  # σ(z), σ(−z)
    return (da * s * (1.0 + z * complement),)


silu.defvjp(_silu_fwd, _silu_bwd)


@hand_rule
@jax.custom_vjp
def softplus(z: Array) -> Array:
    """Softplus ``a = log(1 + e^z)``, stably ``logaddexp(z, 0) = max(z, 0) + log1p(e^{−|z|})``.

    Backward: ``dz = da ⊙ σ(z)``, with :func:`sigmoid`'s accurate body. Both are relatively
    accurate in both tails (``softplus(−700) = e^{−700}``).
    """
    return jnp.logaddexp(z, 0.0)


def _softplus_fwd(z):
    return softplus(z), sigmoid.forward(z)


def _softplus_bwd(s, da):
    return (da * s,)  # softplus' = σ


softplus.defvjp(_softplus_fwd, _softplus_bwd)

_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_CUBIC = 0.044715


@hand_rule
@jax.custom_vjp
def gelu_exact(z: Array) -> Array:
    """Exact GELU ``a = z·Φ(z)``, ``Φ(z) = ½ erfc(−z/√2)`` the standard normal CDF.

    Backward: ``dz = da ⊙ (Φ(z) + z·φ(z))``, ``φ(z) = e^{−z²/2} / √(2π)``.
    """
    return z * (0.5 * jax.scipy.special.erfc(-z * _SQRT_HALF))


def _gelu_exact_fwd(z):
    return gelu_exact(z), z


def _gelu_exact_bwd(z, da):
    cdf = 0.5 * jax.scipy.special.erfc(-z * _SQRT_HALF)  # Φ(z)
    pdf = jnp.exp(-0.5 * z * z) * _INV_SQRT_2PI  # φ(z)
    return (da * (cdf + z * pdf),)


gelu_exact.defvjp(_gelu_exact_fwd, _gelu_exact_bwd)


@hand_rule
@jax.custom_vjp
def gelu_tanh(z: Array) -> Array:
    """Tanh-approximate GELU ``a = ½ z (1 + tanh(u))``, ``u = √(2/π)(z + 0.044715 z³)``.

    Computed as ``a = z·σ(2u)`` (``½(1 + tanh u) = σ(2u)`` exactly), with fnnet's accurate
    sigmoid: ``1 + tanh(u)`` would cancel for ``z < −3`` (relative error 3e-10 at ``z = −5``,
    7e-3 at ``z = −7`` and exactly 0 below ``z ≈ −7.19`` in float64). Backward, with ``s = σ(2u)``,
    ``1 − s = σ(−2u)`` and ``u' = √(2/π)(1 + 3·0.044715 z²)``::

        dz = da ⊙ s (1 + 2 z σ(−2u) u')   (= ½(1 + t) + ½ z (1 − t²) u', t = tanh u)

    Accuracy in float64: value and derivative within 2e-13 relative while ``|a| > 1e-290``
    (``z ≳ −19``); what is left is the conditioning of ``e^{2u}`` (about ``|2u|·eps``), not
    cancellation. Below that the value runs into the subnormals and then 0.
    """
    u = _SQRT_2_OVER_PI * (z + _GELU_CUBIC * z * z * z)
    return z * sigmoid.forward(2.0 * u)


def _gelu_tanh_fwd(z):
    return gelu_tanh(z), z


def _gelu_tanh_bwd(z, da):
    u = _SQRT_2_OVER_PI * (z + _GELU_CUBIC * z * z * z)
    s, complement = _logistic_pair(2.0 * u)  # σ(2u), σ(−2u)
    du = _SQRT_2_OVER_PI * (1.0 + 3.0 * _GELU_CUBIC * z * z)  # ∂u/∂z
    return (da * s * (1.0 + 2.0 * z * complement * du),)


gelu_tanh.defvjp(_gelu_tanh_fwd, _gelu_tanh_bwd)


def gelu(z: Array, *, approximate: bool = False) -> Array:
    """Gaussian error linear unit: :func:`gelu_exact` (default) or, with ``approximate=True``,
    :func:`gelu_tanh`. Matches ``jax.nn.gelu(z, approximate=...)``; note that ``jax.nn.gelu``
    defaults to the approximation and fnnet to the exact form.
    """
    return gelu_tanh(z) if check_bool("approximate", approximate) else gelu_exact(z)
