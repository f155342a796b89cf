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
import math
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp

from fnnet import activations as act
from fnnet import dropout as dropout_module
from fnnet import layers, losses, networks, regularizers
from fnnet._types import Array, PRNGKey
from fnnet.gradcheck import (
    _registry_boltzmann,
    _registry_classic,
    _registry_competitive,
    _registry_conv,
    _registry_recurrent,
)
from fnnet.gradcheck._check import RuleSpec
from fnnet.gradcheck._sampling import elementwise_sampler, integers, normals, shift_away
from fnnet.layers import DenseParams

# --- samplers ------------------------------------------------------------------------------


def _with_hyperparameter(value: float, *, kinks: Sequence[float] = ()) -> Callable:
    """``(z, h)``: an elementwise input and a scalar hyperparameter array (not differentiated)."""
    base = elementwise_sampler(kinks=kinks)

    def sampler(key: PRNGKey, dtype: Any, dims: tuple) -> tuple:
        (z,) = base(key, dtype, dims)
        return z, jnp.asarray(value, dtype)

    return sampler


def _matrix(key: PRNGKey, dtype: Any, dims: tuple) -> tuple:
    """``(z,)`` of shape ``(batch, k)``, for functions along the last axis."""
    return normals(key, dtype, (dims[0], dims[1]))


def _prelu_args(key: PRNGKey, dtype: Any, dims: tuple) -> tuple:
    """``(z, alpha)``: a batch and a learnable per-channel slope."""
    z, alpha = normals(key, dtype, (dims[0], dims[1]), (dims[1],))
    return shift_away(z), 0.25 + 0.1 * alpha


def _maxout_args(pieces: int) -> Callable:
    """``(z,)`` of shape ``(batch, units · pieces)`` whose pieces differ by at least 0.1 per group:
    ranks ``0..p−1`` in random order times 0.5, plus noise in (−0.2, 0.2), so no ties (no kink)."""

    def sampler(key: PRNGKey, dtype: Any, dims: tuple) -> tuple:
        shape = (dims[0], dims[1], pieces)
        order, noise, level = normals(key, jnp.float32, shape, shape, shape[:2] + (1,))
        ranks = jnp.argsort(jnp.argsort(order, axis=-1), axis=-1).astype(jnp.float32)
        z = 0.5 * ranks + 0.2 * jnp.tanh(noise) + level
        return (z.reshape(dims[0], dims[1] * pieces).astype(dtype),)

    return sampler


def _dense_params(w: Array, b: Array, x: Array, *, away_from_zero: bool) -> DenseParams:
    """With ``away_from_zero``, set each bias so that its unit's ``z = x @ w + b`` has one sign
    over the whole batch and ``|z| ≥ 0.1``: the kink of relu at 0 is never approached."""
    if away_from_zero:
        reach = jnp.max(jnp.abs(x) @ jnp.abs(w), axis=0)  # ≥ |x @ w| for every row
        b = jnp.where(b >= 0, 1.0, -1.0).astype(b.dtype) * (reach + 0.1 + jnp.abs(b))
    return DenseParams(w, b)


def _dense_args(*, away_from_zero: bool = False) -> Callable:
    """``(params, x)`` for a dense layer ``(batch, fan_in) -> (batch, fan_out)``."""

    def sampler(key: PRNGKey, dtype: Any, dims: tuple) -> tuple:
        batch, fan_in, fan_out = dims[:3]
        w, b, x = normals(key, dtype, (fan_in, fan_out), (fan_out,), (batch, fan_in))
        return _dense_params(w, b, x, away_from_zero=away_from_zero), x

    return sampler


# Targets from a normal draw ``y`` of the output's shape (batch, k), one kind per builder.
def _real_targets(key: PRNGKey, y: Array) -> Array:
    return y


def _one_hot_targets(key: PRNGKey, y: Array) -> Array:  # one 1 per row
    return jax.nn.one_hot(jnp.argmax(y, axis=-1), y.shape[-1], dtype=y.dtype)


def _unit_targets(key: PRNGKey, y: Array) -> Array:  # soft binary targets in (0, 1)
    return jax.nn.sigmoid(y)


def _probability_targets(key: PRNGKey, y: Array) -> Array:  # soft rows summing to 1
    return jax.nn.softmax(y)


def _half_targets(key: PRNGKey, y: Array) -> Array:  # rows summing to 0.5
    return 0.5 * jax.nn.softmax(y)


def _unnormalised_targets(key: PRNGKey, y: Array) -> Array:  # positive rows, sums ≠ 1
    return jnp.exp(0.5 * y)


def _multi_label_targets(key: PRNGKey, y: Array) -> Array:  # 0/1 rows, any number of ones
    return (y > 0).astype(y.dtype)


def _class_targets(key: PRNGKey, y: Array) -> Array:  # int32 class indices, not differentiated
    return integers(key, y.shape[:-1], y.shape[-1])


def _mixed(*kinds: Callable) -> Callable:
    """Targets whose row ``n`` is of kind ``kinds[n % len(kinds)]``: every kind in one batch."""

    def targets(key: PRNGKey, y: Array) -> Array:
        rows = jnp.arange(y.shape[0]) % len(kinds)
        out = jnp.zeros_like(y)
        for i, kind in enumerate(kinds):
            out = jnp.where((rows == i)[:, None], kind(key, y), out)
        return out

    targets.kinds = len(kinds)
    return targets


# Every kind of float target each loss accepts (integer labels have entries of their own).
_SQUARED_ERROR_TARGETS = _mixed(
    _real_targets, _one_hot_targets, _probability_targets, _multi_label_targets
)
_CROSS_ENTROPY_TARGETS = _mixed(
    _one_hot_targets,
    _probability_targets,
    _unnormalised_targets,
    _multi_label_targets,
    _half_targets,
)
_BINARY_TARGETS = _mixed(_unit_targets, _multi_label_targets, _one_hot_targets)


def _batch(dims: tuple, targets: Callable | None) -> int:
    """``dims[0]`` examples, and at least one row of each kind of ``targets``."""
    return dims[0] + getattr(targets, "kinds", 1) - 1


def _mlp_args(*, away_from_zero: bool = False, targets: Callable | None = None) -> Callable:
    """``(params, x)``, or ``(params, x, y)`` with ``targets``, for a two-layer MLP; the hidden
    pre-activations are kept away from zero if asked (for relu)."""

    def sampler(key: PRNGKey, dtype: Any, dims: tuple) -> tuple:
        batch, n_in, n_hidden, n_out = _batch(dims, targets), dims[1], dims[2], 1 + dims[3]
        w1, b1, w2, b2, x, y = normals(
            key,
            dtype,
            (n_in, n_hidden),
            (n_hidden,),
            (n_hidden, n_out),
            (n_out,),
            (batch, n_in),
            (batch, n_out),
        )
        w1, w2 = (
            w1 / math.sqrt(n_in),
            w2 / math.sqrt(n_hidden),
        )  # as an initializer would: no saturation
        p1 = _dense_params(
            w1, b1, x, away_from_zero=away_from_zero
        )  # only the hidden layer has the kink
        args = ((p1, DenseParams(w2, b2)), x)
        return args if targets is None else args + (targets(key, y),)

    return sampler


def _loss_args(targets: Callable) -> Callable:
    """``(prediction or logits, targets)``, the prediction of shape ``(batch, k)``, ``k ≥ 2``."""

    def sampler(key: PRNGKey, dtype: Any, dims: tuple) -> tuple:
        shape = (_batch(dims, targets), 1 + dims[1])
        z, y = normals(key, dtype, shape, shape)
        return z, targets(key, y)

    return sampler


# Tail points: where a sigmoid written as ½(1 + tanh(z/2)) loses its digits (−30, −38) and the
# ends of float64's exponent range (±700), with a little noise. No point near 0: the finite
# difference step scales with max|z| (≈ 4e-3 here), too coarse for the curvature near 0.
_TAILS = (-700.0, -38.0, -30.0, 30.0, 38.0, 700.0)


def _tails(key: PRNGKey, dtype: Any, dims: tuple) -> tuple:
    """``(z,)``: the tail points, each repeated ``dims[0]`` times, plus noise in ±0.1."""
    (noise,) = normals(key, dtype, (dims[0], len(_TAILS)))
    return (jnp.asarray(_TAILS, dtype) + 0.1 * jnp.tanh(noise),)


def _tail_logits(key: PRNGKey, dtype: Any, dims: tuple) -> tuple:
    """``(logits, targets)``: tail logits with hard 0/1 and soft targets."""
    (z,) = _tails(key, dtype, dims)
    (y,) = normals(jax.random.fold_in(key, 1), dtype, z.shape)
    return z, _BINARY_TARGETS(key, y)


def _penalty_args(num_strengths: int, *, kinks: Sequence[float] = ()) -> Callable:
    """``(params, *strengths)``: a two-layer params tuple (weights away from ``kinks``) and scalars."""

    def sampler(key: PRNGKey, dtype: Any, dims: tuple) -> tuple:
        a, b, c = dims[:3]
        w1, b1, w2, b2, s = normals(key, dtype, (a, b), (b,), (b, c), (c,), (num_strengths,))
        params = (DenseParams(shift_away(w1, kinks), b1), DenseParams(shift_away(w2, kinks), b2))
        return (params, *(0.5 + 0.1 * s[i] for i in range(num_strengths)))

    return sampler


def _dropout_args(key: PRNGKey, dtype: Any, dims: tuple) -> tuple:
    """``(x, keep, rate)``: a fixed boolean mask and the rate as a (non-differentiated) array."""
    x, u = normals(key, dtype, (dims[0], dims[1]), (dims[0], dims[1]))
    return x, u > 0, jnp.asarray(0.3, dtype)


# --- references: the same math, written independently ---------------------------------------


def _sum_weights(params: tuple, fn: Callable[[Array], Array]) -> Array:
    return sum(jnp.sum(fn(p.w)) for p in params)


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


_MASK = (DenseParams(True, False), DenseParams(True, False))  # weights only, as weight_mask
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
    RuleSpec("activations.sigmoid[tails]", act.sigmoid, jax.nn.sigmoid, _tails),
    RuleSpec("activations.tanh", act.tanh, jnp.tanh, elementwise_sampler()),
    RuleSpec("activations.tanh[tails]", act.tanh, jnp.tanh, _tails),
    RuleSpec("activations.relu", act.relu, jax.nn.relu, elementwise_sampler(kinks=(0.0,))),
    RuleSpec(
        "activations.leaky_relu",
        act.leaky_relu,
        jax.nn.leaky_relu,
        _with_hyperparameter(0.2, kinks=(0.0,)),
        wrt=(0,),
    ),
    RuleSpec(
        "activations.elu", act.elu, jax.nn.elu, _with_hyperparameter(0.7, kinks=(0.0,)), wrt=(0,)
    ),
    RuleSpec("activations.silu", act.silu, jax.nn.silu, elementwise_sampler()),
    RuleSpec("activations.silu[tails]", act.silu, jax.nn.silu, _tails),
    RuleSpec("activations.softplus", act.softplus, jax.nn.softplus, elementwise_sampler()),
    RuleSpec("activations.softplus[tails]", act.softplus, jax.nn.softplus, _tails),
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
        _tails,
    ),
    RuleSpec(
        "activations.gelu_exact[tails]",
        act.gelu_exact,
        functools.partial(jax.nn.gelu, approximate=False),
        _tails,
    ),
    RuleSpec("activations.softmax", act.softmax, jax.nn.softmax, _matrix),
    RuleSpec(
        "activations.softmax[axis=0]",
        functools.partial(act.softmax, axis=0),
        functools.partial(jax.nn.softmax, axis=0),
        _matrix,
    ),
    RuleSpec("activations.log_softmax", act.log_softmax, jax.nn.log_softmax, _matrix),
    RuleSpec(
        "activations.prelu", act.prelu, lambda z, alpha: jnp.where(z > 0, z, alpha * z), _prelu_args
    ),
    RuleSpec(
        "activations.maxout",
        functools.partial(act.maxout, num_pieces=3),
        lambda z: jnp.max(z.reshape(z.shape[0], -1, 3), axis=-1),
        _maxout_args(3),
    ),
    # layers: the fused dense rule with several activations
    RuleSpec(
        "layers.dense[identity]",
        layers.dense,
        lambda p, x: x @ p.w + p.b,
        _dense_args(),
        static_args=(act.identity,),
    ),
    RuleSpec(
        "layers.dense[sigmoid]",
        layers.dense,
        lambda p, x: jax.nn.sigmoid(x @ p.w + p.b),
        _dense_args(),
        static_args=(act.sigmoid,),
    ),
    RuleSpec(
        "layers.dense[tanh]",
        layers.dense,
        lambda p, x: jnp.tanh(x @ p.w + p.b),
        _dense_args(),
        static_args=(act.tanh,),
    ),
    RuleSpec(
        "layers.dense[relu]",
        layers.dense,
        lambda p, x: jax.nn.relu(x @ p.w + p.b),
        _dense_args(away_from_zero=True),
        static_args=(act.relu,),
    ),
    RuleSpec(
        "layers.dense[softmax]",
        layers.dense,
        lambda p, x: jax.nn.softmax(x @ p.w + p.b),
        _dense_args(),
        static_args=(act.softmax,),
    ),
    # dropout with a fixed mask
    RuleSpec(
        "dropout.dropout",
        dropout_module.dropout,
        lambda x, keep, rate: jnp.where(keep, x / (1.0 - rate), 0.0).astype(x.dtype),
        _dropout_args,
        wrt=(0,),
    ),
    # losses
    RuleSpec(
        "losses.squared_error",
        losses.squared_error,
        _mean_squared_half,
        _loss_args(_SQUARED_ERROR_TARGETS),
    ),
    RuleSpec(
        "losses.softmax_cross_entropy[int]",
        losses.softmax_cross_entropy,
        _cross_entropy,
        _loss_args(_class_targets),
    ),
    RuleSpec(
        "losses.softmax_cross_entropy[float targets]",
        losses.softmax_cross_entropy,
        _cross_entropy,
        _loss_args(_CROSS_ENTROPY_TARGETS),
    ),
    RuleSpec(
        "losses.sigmoid_binary_cross_entropy",
        losses.sigmoid_binary_cross_entropy,
        _binary_cross_entropy,
        _loss_args(_BINARY_TARGETS),
    ),
    RuleSpec(
        "losses.sigmoid_binary_cross_entropy[tails]",
        losses.sigmoid_binary_cross_entropy,
        _binary_cross_entropy,
        _tail_logits,
    ),
    # penalties (weights only; the strengths get their exact derivative too)
    RuleSpec(
        "regularizers.masked_l2",
        regularizers.masked_l2,
        lambda params, lam: lam * 0.5 * _sum_weights(params, jnp.square),
        _penalty_args(1),
        static_args=(_MASK,),
    ),
    RuleSpec(
        "regularizers.masked_l1",
        regularizers.masked_l1,
        lambda params, lam: lam * _sum_weights(params, jnp.abs),
        _penalty_args(1, kinks=(0.0,)),
        static_args=(_MASK,),
    ),
    # whole networks
    RuleSpec(
        "networks.mlp[tanh, identity]",
        networks.mlp,
        _mlp_reference(jnp.tanh, _identity),
        _mlp_args(),
        static_args=(_TANH_OUT,),
    ),
    RuleSpec(
        "networks.mlp[relu, sigmoid]",
        networks.mlp,
        _mlp_reference(jax.nn.relu, jax.nn.sigmoid),
        _mlp_args(away_from_zero=True),
        static_args=((act.relu, act.sigmoid),),
    ),
    RuleSpec(
        "networks.mlp_loss[squared_error]",
        networks.mlp_loss,
        _mlp_loss_reference(jnp.tanh, _identity, _mean_squared_half),
        _mlp_args(targets=_SQUARED_ERROR_TARGETS),
        static_args=(_TANH_OUT, losses.squared_error),
    ),
    RuleSpec(
        "networks.mlp_loss[softmax_cross_entropy, int]",
        networks.mlp_loss,
        _mlp_loss_reference(jax.nn.relu, _identity, _cross_entropy),
        _mlp_args(away_from_zero=True, targets=_class_targets),
        static_args=(_RELU_OUT, losses.softmax_cross_entropy),
    ),
    RuleSpec(
        "networks.mlp_loss[softmax_cross_entropy, float targets]",
        networks.mlp_loss,
        _mlp_loss_reference(jnp.tanh, _identity, _cross_entropy),
        _mlp_args(targets=_CROSS_ENTROPY_TARGETS),
        static_args=(_TANH_OUT, losses.softmax_cross_entropy),
    ),
    RuleSpec(
        "networks.mlp_loss[sigmoid_binary_cross_entropy]",
        networks.mlp_loss,
        _mlp_loss_reference(jnp.tanh, _identity, _binary_cross_entropy),
        _mlp_args(targets=_BINARY_TARGETS),
        static_args=(_TANH_OUT, losses.sigmoid_binary_cross_entropy),
    ),
    RuleSpec(
        "networks.mlp_loss[tanh output, squared_error]",
        networks.mlp_loss,
        _mlp_loss_reference(jnp.tanh, jnp.tanh, _mean_squared_half),
        _mlp_args(targets=_SQUARED_ERROR_TARGETS),
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


def select(substring: str = "") -> tuple[RuleSpec, ...]:
    """The registry entries whose name contains ``substring`` (all for ``""``)."""
    if not isinstance(substring, str):
        raise TypeError(f"`substring` must be a str; got {type(substring).__name__}.")
    return tuple(spec for spec in REGISTRY if substring in spec.name)


__all__ = ["REGISTRY", "select"]
