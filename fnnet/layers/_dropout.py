"""Inverted dropout: the rule and the layer.

While training, each unit is zeroed with probability ``rate`` and the survivors are scaled by
``1 / (1 − rate)``, so the expected activation is unchanged and inference needs no rescaling:
at inference the layer is the identity. ``rate`` is the fraction *zeroed* (not kept, unlike
stax's ``Dropout``), and may be a traced array, so a sweep can ``vmap`` over dropout rates.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from fnnet._checks import check_real
from fnnet._types import Array, PRNGKey
from fnnet.layers._contract import Layer, no_params
from fnnet.rules import hand_rule


@hand_rule
@jax.custom_vjp
def dropout(x: Array, keep: Array, rate: Array) -> Array:
    """Inverted dropout with a given mask: ``a = x ⊙ m / (1 − p)``, ``m = keep`` (booleans).

    Backward: ``dx = da ⊙ m / (1 − p)``, the forward's own mask reused; no cotangent for the
    mask or the rate (a hyperparameter). The mask multiplies (it is not a ``where``), so a NaN
    or inf input stays non-finite where it was dropped too: NaN in, NaN out.
    """
    return x * (keep.astype(x.dtype) / (1.0 - jnp.asarray(rate, x.dtype)))


def _dropout_fwd(x, keep, rate):
    return dropout(x, keep, rate), (keep, rate)


def _dropout_bwd(res, da):
    keep, rate = res
    return da * (keep.astype(da.dtype) / (1.0 - jnp.asarray(rate, da.dtype))), None, None


dropout.defvjp(_dropout_fwd, _dropout_bwd)


def Dropout(rate: Any) -> Layer:
    """Dropout layer: zeroes each unit with probability ``rate`` when ``training=True``.

    Args:
        rate: fraction of units set to zero while training, in ``[0, 1)``; a Python float or
            a 0-d (possibly traced, sweepable) array.

    Raises:
        TypeError: ``rate`` is not a real number or 0-d array (e.g. the string ``"0.5"``).
        ValueError: a concrete ``rate`` outside ``[0, 1)`` or not finite.

    Returns:
        A parameter-free ``Layer``. ``apply(params, x, *, key, training)`` needs a ``key`` when
        ``training`` is true (``serial`` derives one per layer from the step key) and is the
        identity when it is false.
    """
    check_real("rate", rate, low=0.0, high=1.0, high_open=True)  # the fraction zeroed

    def apply(
        params: tuple, x: Array, *, key: PRNGKey | None = None, training: bool = False
    ) -> Array:
        del params
        x = jnp.asarray(x)
        if not training:
            return x
        if key is None:
            raise ValueError("`key` is required by Dropout when `training=True`; got None.")
        keep = jax.random.bernoulli(key, 1.0 - jnp.asarray(rate, jnp.float32), x.shape)
        return dropout(x, keep, rate)

    return Layer(no_params, apply)
