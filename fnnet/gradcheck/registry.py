"""Every hand-written rule of fnnet, with an independent reference forward and an input sampler.

An entry is ``RuleSpec(name, rule, reference, sampler, static_args=(), wrt=None,
second_order=True)``:

* ``rule`` is the fnnet function itself (or a ``functools.partial`` of it fixing static
  keywords), so the coverage test can match it against every ``custom_vjp`` in the package;
* ``reference`` is the same math written with ``jax.nn`` or plain ``jnp``, never the rule's
  ``.forward``; it is differentiated by JAX;
* ``sampler(key, dtype, dims) -> args`` draws the arguments (sizes from ``dims``, values from
  ``key`` with :func:`fnnet.gradcheck.normals`), away from kinks;
* ``wrt`` leaves out hyperparameters that the rule deliberately gives no cotangent.

To register a new rule, add one entry to ``REGISTRY`` below (see docs/gradcheck.md);
``tests/test_registry_coverage.py`` fails until every rule has one.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable

import jax
import jax.numpy as jnp

from fnnet import activations as act
from fnnet import layers, losses, networks, regularizers
from fnnet._types import Array
from fnnet.gradcheck import (
    _registry_boltzmann,
    _registry_classic,
    _registry_competitive,
    _registry_conv,
    _registry_recurrent,
)
from fnnet.gradcheck._check import RuleSpec
from fnnet.gradcheck._core_samplers import (
    BINARY_TARGETS,
    CROSS_ENTROPY_TARGETS,
    SQUARED_ERROR_TARGETS,
    class_targets,
    dense_args,
    dropout_args,
    loss_args,
    matrix,
    maxout_args,
    mlp_args,
    penalty_args,
    prelu_args,
    tail_logits,
    tails,
)
from fnnet.gradcheck._sampling import elementwise_sampler, with_hyperparameter
from fnnet.layers import DenseParams

# --- references: the same math, written independently ---------------------------------------


def _sum_weights(params: tuple, fn: Callable[[Array], Array]) -> Array:
    return functools.reduce(operator.add, [jnp.sum(fn(p.w)) for p in params])


def _mlp_reference(hidden: Callable, output: Callable) -> Callable:
    def forward(params: tuple, x: Array) -> Array:
        (w1, b1), (w2, b2) = params
        return output(hidden(x @ w1 + b1) @ w2 + b2)

    return forward


def _mean_squared_half(a: Array, y: Array) -> Array:
    return jnp.mean(0.5 * jnp.sum((a - y) ** 2, axis=-1))


def _cross_entropy(logits: Array, y: Array) -> Array:
    if jnp.issubdtype(y.dtype, jnp.integer):
        y = jax.nn.one_hot(y, logits.shape[-1], dtype=logits.dtype)
    return jnp.mean(-jnp.sum(y * jax.nn.log_softmax(logits), axis=-1))


def _binary_cross_entropy(logits: Array, y: Array) -> Array:
    per_output = -(y * jax.nn.log_sigmoid(logits) + (1.0 - y) * jax.nn.log_sigmoid(-logits))
    return jnp.mean(jnp.sum(per_output, axis=-1))


def _mlp_loss_reference(hidden: Callable, output: Callable, loss: Callable) -> Callable:
    forward = _mlp_reference(hidden, output)
    return lambda params, x, y: loss(forward(params, x), y)


# weights only, as weight_mask; Python bools: a static (hashable) argument of the rule
_MASK = (DenseParams(True, False), DenseParams(True, False))  # pyright: ignore[reportArgumentType]
_TANH_OUT = (act.tanh, act.identity)
_RELU_OUT = (act.relu, act.identity)
_identity = lambda z: z  # noqa: E731

# --- the registry ------------------------------------------------------------------------------

_CORE: tuple[RuleSpec, ...] = (
    # activations
    RuleSpec("activations.identity", act.identity, _identity, elementwise_sampler()),
    RuleSpec(
        "activations.binary_step",
        act.binary_step,
        lambda z: jnp.where(z >= 0, 1.0, 0.0).astype(z.dtype),
        elementwise_sampler(kinks=(0.0,)),
    ),
    RuleSpec("activations.sigmoid", act.sigmoid, jax.nn.sigmoid, elementwise_sampler()),
    RuleSpec("activations.sigmoid[tails]", act.sigmoid, jax.nn.sigmoid, tails),
    RuleSpec("activations.tanh", act.tanh, jnp.tanh, elementwise_sampler()),
    RuleSpec("activations.tanh[tails]", act.tanh, jnp.tanh, tails),
    RuleSpec("activations.relu", act.relu, jax.nn.relu, elementwise_sampler(kinks=(0.0,))),
    RuleSpec(
        "activations.leaky_relu",
        act.leaky_relu,
        jax.nn.leaky_relu,
        with_hyperparameter(0.2, kinks=(0.0,)),
        wrt=(0,),
    ),
    RuleSpec(
        "activations.elu", act.elu, jax.nn.elu, with_hyperparameter(0.7, kinks=(0.0,)), wrt=(0,)
    ),
    RuleSpec("activations.silu", act.silu, jax.nn.silu, elementwise_sampler()),
    RuleSpec("activations.silu[tails]", act.silu, jax.nn.silu, tails),
    RuleSpec("activations.softplus", act.softplus, jax.nn.softplus, elementwise_sampler()),
    RuleSpec("activations.softplus[tails]", act.softplus, jax.nn.softplus, tails),
    RuleSpec(
        "activations.gelu_exact",
        act.gelu_exact,
        functools.partial(jax.nn.gelu, approximate=False),
        elementwise_sampler(),
    ),
    RuleSpec(
        "activations.gelu_tanh",
        act.gelu_tanh,
        functools.partial(jax.nn.gelu, approximate=True),
        elementwise_sampler(),
    ),
    RuleSpec(
        "activations.gelu_tanh[tails]",
        act.gelu_tanh,
        functools.partial(jax.nn.gelu, approximate=True),
        tails,
    ),
    RuleSpec(
        "activations.gelu_exact[tails]",
        act.gelu_exact,
        functools.partial(jax.nn.gelu, approximate=False),
        tails,
    ),
    RuleSpec("activations.softmax", act.softmax, jax.nn.softmax, matrix),
    RuleSpec(
        "activations.softmax[axis=0]",
        functools.partial(act.softmax, axis=0),
        functools.partial(jax.nn.softmax, axis=0),
        matrix,
    ),
    RuleSpec("activations.log_softmax", act.log_softmax, jax.nn.log_softmax, matrix),
    RuleSpec(
        "activations.prelu", act.prelu, lambda z, alpha: jnp.where(z > 0, z, alpha * z), prelu_args
    ),
    RuleSpec(
        "activations.maxout",
        functools.partial(act.maxout, num_pieces=3),
        lambda z: jnp.max(z.reshape(z.shape[0], -1, 3), axis=-1),
        maxout_args(3),
    ),
    # layers: the fused dense rule with several activations
    *(
        RuleSpec(
            f"layers.dense[{name}]",
            layers.dense,
            lambda p, x, f=reference: f(x @ p.w + p.b),
            dense_args(away_from_zero=name == "relu"),
            static_args=(rule,),
        )
        for name, rule, reference in (
            ("identity", act.identity, lambda z: z),
            ("sigmoid", act.sigmoid, jax.nn.sigmoid),
            ("tanh", act.tanh, jnp.tanh),
            ("relu", act.relu, jax.nn.relu),
            ("softmax", act.softmax, jax.nn.softmax),
        )
    ),
    # dropout with a fixed mask
    RuleSpec(
        "layers.dropout",
        layers.dropout,
        lambda x, keep, rate: jnp.where(keep, x / (1.0 - rate), 0.0).astype(x.dtype),
        dropout_args,
        wrt=(0,),
    ),
    # losses
    RuleSpec(
        "losses.squared_error",
        losses.squared_error,
        _mean_squared_half,
        loss_args(SQUARED_ERROR_TARGETS),
    ),
    RuleSpec(
        "losses.softmax_cross_entropy[int]",
        losses.softmax_cross_entropy,
        _cross_entropy,
        loss_args(class_targets),
    ),
    RuleSpec(
        "losses.softmax_cross_entropy[float targets]",
        losses.softmax_cross_entropy,
        _cross_entropy,
        loss_args(CROSS_ENTROPY_TARGETS),
    ),
    RuleSpec(
        "losses.sigmoid_binary_cross_entropy",
        losses.sigmoid_binary_cross_entropy,
        _binary_cross_entropy,
        loss_args(BINARY_TARGETS),
    ),
    RuleSpec(
        "losses.sigmoid_binary_cross_entropy[tails]",
        losses.sigmoid_binary_cross_entropy,
        _binary_cross_entropy,
        tail_logits,
    ),
    # penalties (weights only; the strengths get their exact derivative too)
    RuleSpec(
        "regularizers.masked_l2",
        regularizers.masked_l2,
        lambda params, lam: lam * 0.5 * _sum_weights(params, jnp.square),
        penalty_args(1),
        static_args=(_MASK,),
    ),
    RuleSpec(
        "regularizers.masked_l1",
        regularizers.masked_l1,
        lambda params, lam: lam * _sum_weights(params, jnp.abs),
        penalty_args(1, kinks=(0.0,)),
        static_args=(_MASK,),
    ),
    # whole networks
    RuleSpec(
        "networks.mlp[tanh, identity]",
        networks.mlp,
        _mlp_reference(jnp.tanh, _identity),
        mlp_args(),
        static_args=(_TANH_OUT,),
    ),
    RuleSpec(
        "networks.mlp[relu, sigmoid]",
        networks.mlp,
        _mlp_reference(jax.nn.relu, jax.nn.sigmoid),
        mlp_args(away_from_zero=True),
        static_args=((act.relu, act.sigmoid),),
    ),
    RuleSpec(
        "networks.mlp_loss[squared_error]",
        networks.mlp_loss,
        _mlp_loss_reference(jnp.tanh, _identity, _mean_squared_half),
        mlp_args(targets=SQUARED_ERROR_TARGETS),
        static_args=(_TANH_OUT, losses.squared_error),
    ),
    RuleSpec(
        "networks.mlp_loss[softmax_cross_entropy, int]",
        networks.mlp_loss,
        _mlp_loss_reference(jax.nn.relu, _identity, _cross_entropy),
        mlp_args(away_from_zero=True, targets=class_targets),
        static_args=(_RELU_OUT, losses.softmax_cross_entropy),
    ),
    RuleSpec(
        "networks.mlp_loss[softmax_cross_entropy, float targets]",
        networks.mlp_loss,
        _mlp_loss_reference(jnp.tanh, _identity, _cross_entropy),
        mlp_args(targets=CROSS_ENTROPY_TARGETS),
        static_args=(_TANH_OUT, losses.softmax_cross_entropy),
    ),
    RuleSpec(
        "networks.mlp_loss[sigmoid_binary_cross_entropy]",
        networks.mlp_loss,
        _mlp_loss_reference(jnp.tanh, _identity, _binary_cross_entropy),
        mlp_args(targets=BINARY_TARGETS),
        static_args=(_TANH_OUT, losses.sigmoid_binary_cross_entropy),
    ),
    RuleSpec(
        "networks.mlp_loss[tanh output, squared_error]",
        networks.mlp_loss,
        _mlp_loss_reference(jnp.tanh, jnp.tanh, _mean_squared_half),
        mlp_args(targets=SQUARED_ERROR_TARGETS),
        static_args=((act.tanh, act.tanh), losses.squared_error),
    ),
)

# Each model family keeps its entries in its own file here (``_registry_<family>.py``, a tuple
# ``SPECS``), so that the families' rules are registered beside their samplers and references.
REGISTRY: tuple[RuleSpec, ...] = (
    _CORE
    + _registry_conv.SPECS
    + _registry_recurrent.SPECS
    + _registry_classic.SPECS
    + _registry_boltzmann.SPECS
    + _registry_competitive.SPECS
)


__all__ = ["REGISTRY"]
