"""Activations with a learned or random slope: PReLU (parameter ``α``) and RReLU.

Re-exported by :mod:`fnnet.activations`. ``prelu`` is a hand rule with a cotangent for ``α``;
``rrelu`` draws its slopes and reuses :func:`fnnet.activations.leaky_relu`'s rule.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from fnnet._checks import check_bool, check_floating
from fnnet._types import Array, PRNGKey
from fnnet.activations._elementwise import _cast, _check_broadcasts_to, leaky_relu
from fnnet.rules import hand_rule


def _sum_to_shape(x: Array, shape: tuple[int, ...]) -> Array:
    """Sum ``x`` over the axes along which an array of ``shape`` was broadcast to ``x.shape``."""
    lead = x.ndim - len(shape)
    stretched = tuple(lead + i for i, n in enumerate(shape) if n == 1 and x.shape[lead + i] != 1)
    return jnp.sum(x, axis=tuple(range(lead)) + stretched).reshape(shape)


@hand_rule
@jax.custom_vjp
def prelu(z: Array, alpha: Array) -> Array:
    """Parametric ReLU ``a = z if z > 0 else α·z`` with a learnable slope ``α``.

    ``alpha`` is a scalar or broadcasts to ``z`` (typically per-channel, shape ``(features,)``).
    Backward: ``dz = da`` where ``z > 0``, ``α·da`` elsewhere (``prelu'(0) = α``), and
    ``dα = Σ da ⊙ min(z, 0)``, summed over the axes ``α`` was broadcast along, so ``dα`` has
    ``α``'s shape and dtype.
    """
    _check_broadcasts_to("alpha", alpha, z)
    return jnp.where(z > 0, z, _cast(alpha, z) * z)


def _prelu_fwd(z, alpha):
    return prelu(z, alpha), (z, jnp.asarray(alpha))


def _prelu_bwd(res, da):
    z, alpha = res
    positive = z > 0
    dz = jnp.where(positive, da, _cast(alpha, z) * da)
    dalpha = _sum_to_shape(jnp.where(positive, jnp.zeros_like(da), z * da), alpha.shape)
    return dz, dalpha.astype(alpha.dtype)


prelu.defvjp(_prelu_fwd, _prelu_bwd)


def rrelu(
    z: Array,
    *,
    key: PRNGKey | None = None,
    lower: Array | float = 1.0 / 8.0,
    upper: Array | float = 1.0 / 3.0,
    training: bool = False,
) -> Array:
    """Randomized leaky ReLU (torch's ``RReLU``): ``a = z if z > 0 else s·z``.

    With ``training=True``, ``s ~ U(lower, upper)`` is drawn per element from ``key`` (a
    ``ValueError`` if ``key`` is None); otherwise ``s = (lower + upper) / 2``. The backward pass
    is :func:`leaky_relu`'s rule with these slopes as ``negative_slope``: the rule saves them, so
    it uses exactly the slopes the forward drew. ``lower``/``upper`` may be traced and get no
    gradient; ``training`` is static.
    """
    training = check_bool("training", training)
    z = check_floating("z", z)
    lo, hi = _cast(lower, z), _cast(upper, z)
    if not training:
        return leaky_relu(z, 0.5 * (lo + hi))
    if key is None:
        raise ValueError(
            "`key` must be a jax.random key when `training=True` (the slopes are drawn from "
            "U(lower, upper)); got None."
        )
    slopes = jax.random.uniform(key, z.shape, z.dtype, minval=lo, maxval=hi)
    return leaky_relu(z, slopes)
