"""The maxout layer (Goodfellow et al. 2013): ``units`` groups of ``pieces`` affine maps, max per group.

``a_j = max_{p < pieces} z_{j·pieces + p}`` with ``z = x @ w + b``, ``w`` of shape
``(fan_in, units · pieces)``. It is :func:`fnnet.layers.dense` with the activation
``fnnet.activations.maxout``, so its backward pass is the one fused dense rule with maxout's own
rule inside it, no derivative written twice::

    δ_z = one-hot(winning piece) ⊙ g          (maxout's rule: δ routed to the arg-max)
    ∂L/∂w = xᵀ δ_z,   ∂L/∂b = Σ_batch δ_z,   ∂L/∂x = δ_z wᵀ   (dense algebra below it)

Ties go to the first (lowest-index) piece. The parameters are ``DenseParams``: a maxout layer of
``k`` units and ``p`` pieces has as many parameters as a ``Dense(k · p)`` layer.
"""

from __future__ import annotations

import functools
from typing import Any

import jax.numpy as jnp

from fnnet import activations, initializers
from fnnet._checks import check_positive_int
from fnnet._types import Initializer
from fnnet.layers._contract import Layer
from fnnet.layers._dense import Dense


def Maxout(
    units: int,
    pieces: int,
    w_init: Initializer | None = None,
    b_init: Initializer = initializers.zeros,
    *,
    dtype: Any = jnp.float32,
) -> Layer:
    """Maxout layer: a dense map to ``units × pieces`` and a max over each group of ``pieces``.

    Args:
        units: number of maxout units (outputs).
        pieces: affine pieces per unit (``k`` in the paper; 2 to 5 are usual).
        w_init: weight initializer; default Glorot normal over ``(fan_in, units · pieces)``.
        b_init: bias initializer; default zeros.
        dtype: parameter dtype.

    Returns:
        A ``Layer``: ``init(key, fan_in)`` gives ``DenseParams`` with ``w`` of shape
        ``(fan_in, units · pieces)``; ``apply`` maps ``(batch, fan_in)`` (or ``(fan_in,)``) to
        ``(batch, units)``.

    Example:
        >>> import jax, jax.numpy as jnp, fnnet
        >>> layer = fnnet.layers.Maxout(3, pieces=2)
        >>> params = layer.init(jax.random.key(0), 4)
        >>> params.w.shape, layer.apply(params, jnp.ones((5, 4))).shape
        ((4, 6), (5, 3))
    """
    units = check_positive_int("units", units)
    pieces = check_positive_int("pieces", pieces)
    group_max = functools.partial(activations.maxout, num_pieces=pieces)
    return Dense(units * pieces, group_max, w_init, b_init, dtype=dtype)
