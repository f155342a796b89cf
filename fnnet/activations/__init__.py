"""Activation functions ``a = f(z)``, each with a hand-written backward rule.

Every rule is a ``jax.custom_vjp`` written as primal, ``_fwd``, ``_bwd``, ``defvjp`` side by side.
The backward rule turns ``da = ∂L/∂a`` into ``dz = ∂L/∂z``, the textbook's ``δ`` (``z = x @ W +
b``, ``a = f(z)``); elementwise, ``dz = da ⊙ f'(z)``, computed from the saved *output* where the
textbook does (``σ' = a(1 − a)``, ``tanh' = 1 − a²``, ``elu' = a + α``). ``softmax`` and
``log_softmax`` act along ``axis``, ``maxout`` on groups of the last axis.

The package's private files: ``_elementwise.py`` (identity … GELU, and the one accurate
sigmoid), ``_parametric.py`` (PReLU, RReLU) and ``_across_units.py`` (softmax, log-softmax,
maxout); every name is public only here, ``fnnet.activations.<name>``.

Kinks use the ``z > 0`` convention (``relu'(0) = 0``, ``leaky_relu'(0) = negative_slope``, where
``jax.nn.leaky_relu`` gives 1, ``elu'(0) = α``); ``binary_step``'s derivative is 0 everywhere.
The forward bodies are written so that JAX's own derivative under :func:`fnnet.autodiff`
follows the same conventions.

Pass activations as functions (``Dense(10, activation=fnnet.activations.tanh)``), binding
hyperparameters with ``functools.partial(leaky_relu, negative_slope=0.2)``. Numeric
hyperparameters (``negative_slope``, ``elu``'s ``alpha``, ``rrelu``'s bounds) may be traced
arrays, so they can be swept with ``vmap``; they are cast to ``z``'s dtype and get no gradient.
Structural ones (``axis``, ``num_pieces``, ``approximate``, ``training``) are static Python
values. ``prelu``'s ``alpha`` is a parameter and gets its gradient.
"""

from fnnet.activations._across_units import log_softmax as log_softmax
from fnnet.activations._across_units import maxout as maxout
from fnnet.activations._across_units import softmax as softmax
from fnnet.activations._elementwise import binary_step as binary_step
from fnnet.activations._elementwise import elu as elu
from fnnet.activations._elementwise import gelu as gelu
from fnnet.activations._elementwise import gelu_exact as gelu_exact
from fnnet.activations._elementwise import gelu_tanh as gelu_tanh
from fnnet.activations._elementwise import identity as identity
from fnnet.activations._elementwise import leaky_relu as leaky_relu
from fnnet.activations._elementwise import relu as relu
from fnnet.activations._elementwise import sigmoid as sigmoid
from fnnet.activations._elementwise import silu as silu
from fnnet.activations._elementwise import softplus as softplus
from fnnet.activations._elementwise import tanh as tanh
from fnnet.activations._parametric import prelu as prelu
from fnnet.activations._parametric import rrelu as rrelu

__all__ = [
    "binary_step",
    "elu",
    "gelu",
    "gelu_exact",
    "gelu_tanh",
    "identity",
    "leaky_relu",
    "log_softmax",
    "maxout",
    "prelu",
    "relu",
    "rrelu",
    "sigmoid",
    "silu",
    "softmax",
    "softplus",
    "tanh",
]
