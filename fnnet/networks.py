"""Whole networks whose backward pass is the textbook backpropagation algorithm in one loop.

``serial(Dense(...), Dense(...))`` already backpropagates correctly: each layer's rule hands
``∂L/∂x`` to the layer below. This module writes the same algorithm once, for a whole
multilayer perceptron, exactly as the textbook states it (``L`` layers, ``a_0 = x``)::

    forward    z_l = a_{l−1} W_l + b_l,   a_l = f_l(z_l)                      l = 1..L
    output δ   δ_L = ∂L/∂a_L ⊙ f_L'(z_L)
    hidden δ   δ_l = (δ_{l+1} W_{l+1}ᵀ) ⊙ f_l'(z_l)                          l = L−1..1
    gradients  ∂L/∂W_l = a_{l−1}ᵀ δ_l,   ∂L/∂b_l = Σ_batch δ_l

``⊙ f_l'(z_l)`` is carried out by the activation's own hand-written rule, from what its forward
saved (``a_l`` for sigmoid and tanh), so softmax hidden layers work too.

:func:`mlp_loss` adds the loss to the same rule. Its output δ is never re-derived here: it is the
loss's own hand rule, pulled back through the output activation's rule,
``δ_L = f_L'(z_L) ⊙ ∂L/∂a_L``. With an identity output layer and a loss that takes logits, the
loss's rule returns ``δ_L = ∂L/∂z_L`` directly (the activation's Jacobian is never formed):

================================  =========================================  ====================================
network output (last activation)  loss                                       output δ (from the loss's rule)
================================  =========================================  ====================================
``identity``                      ``losses.squared_error``                   ``(a − y) / batch``
``identity`` (logits)             ``losses.sigmoid_binary_cross_entropy``    ``(σ(z) − y) / batch``
``identity`` (logits)             ``losses.softmax_cross_entropy``           ``(softmax(z)·Σy − y) / batch``
================================  =========================================  ====================================

The textbook's ``δ_L = a − y`` (over the batch) is the special case of targets whose rows sum
to 1 (integer labels, one-hot, probabilities); multi-label 0/1 rows, rows summing to 0.5 or
unnormalised soft labels keep the ``Σy`` factor, and the rule gets it right because it asks
the loss. Any other output/loss pair goes through the same two rules.

All rules here are first-order (``jax.custom_vjp``): for ``jax.jvp``, ``jax.jacfwd`` or
``jax.hessian`` of a network, wrap the call in ``with fnnet.autodiff():`` (or use
``fnnet.with_autodiff(f)``), which differentiates the same forward code with JAX itself.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from fnnet import activations, initializers
from fnnet._checks import check_activation, check_positive_int
from fnnet._layer_checks import check_mlp_input
from fnnet._types import ActivationFn, Array, Initializer, PRNGKey
from fnnet.layers import (
    Dense,
    DenseParams,
    affine,
    affine_backward,
    dense,
    serial,
)
from fnnet.rules import hand_rule

Loss = Callable[[Array, Array], Array]


class Tape(NamedTuple):
    """What the forward pass keeps for the backward pass, one entry per layer ``l = 1..L``."""

    output: Array  # a_L, the network's output
    inputs: tuple  # a_{l−1}, the input of layer l (a_0 = x)
    pullbacks: tuple  # layer l's activation rule, ∂L/∂a_l ↦ (δ_l,) (applies ⊙ f_l'(z_l))


class LossTape(NamedTuple):
    """A :class:`Tape` plus the loss: its value and its own rule's pullback."""

    value: Array  # L(a_L, y)
    tape: Tape
    loss_pullback: Callable  # g ↦ (∂L/∂a_L, ∂L/∂y), or (∂L/∂a_L,) for integer labels


def record_forward(activations_: Sequence[ActivationFn], params: tuple, x: Array) -> Tape:
    """The forward pass ``z_l = a_{l−1} W_l + b_l``, ``a_l = f_l(z_l)``, keeping what backprop reads.

    ``z_l`` is the dense layer's :func:`fnnet.layers.affine`; ``a_l`` and its pullback come
    from ``jax.vjp`` of ``f_l``, i.e. from the activation's own hand rule.
    """
    inputs, pullbacks = [], []
    a = x
    for f, p in zip(activations_, params):
        inputs.append(a)
        a, pullback = jax.vjp(f, affine(p, a))
        pullbacks.append(pullback)
    return Tape(a, tuple(inputs), tuple(pullbacks))


def backprop(params: tuple, inputs: tuple, pullbacks: tuple, delta: Array) -> tuple:
    """The δ recursion from the output layer's ``δ_L`` down to ``∂L/∂x``.

    Per layer, from ``l = L`` down: ``∂W_l, ∂b_l, ∂L/∂a_{l−1}`` from the dense layer's
    :func:`fnnet.layers.affine_backward` (``a_{l−1}ᵀ δ_l``, ``Σ δ_l``, ``δ_l W_lᵀ``), then
    ``δ_{l−1} = pullbacks[l−1](δ_l W_lᵀ)``, the activation's rule applying ``⊙ f'_{l−1}``.

    Args:
        params: a tuple of ``DenseParams``, one per layer.
        inputs: the :class:`Tape` field of the forward pass.
        pullbacks: the :class:`Tape` field of the forward pass.
        delta: ``δ_L = ∂L/∂z_L`` of the output layer, ``(batch, fan_out)``.

    Returns:
        ``(grads, dx, deltas)``: a tuple of ``DenseParams`` gradients, ``∂L/∂x``, and the tuple
        of every layer's ``δ_l`` (layer 1 first). Used by :func:`mlp`, :func:`mlp_loss` and
        ``fnnet.diagnostics``.
    """
    grads: list[Any] = [None] * len(params)  # filled from the last layer down
    deltas: list[Any] = [None] * len(params)
    for l in reversed(range(len(params))):
        deltas[l] = delta
        grads[l], upstream = affine_backward(params[l], inputs[l], delta)  # upstream = ∂L/∂a_{l−1}
        if l > 0:
            (delta,) = pullbacks[l - 1](upstream)  # δ_{l−1} = (δ_l W_lᵀ) ⊙ f'_{l−1}(z_{l−1})
        else:
            delta = upstream  # ∂L/∂x
    return tuple(grads), delta, tuple(deltas)


@hand_rule
@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def mlp(activations_: tuple, params: tuple, x: Array) -> Array:
    """A multilayer perceptron ``a_L`` of ``x``, backpropagated by the textbook loop.

    Forward ``z_l = a_{l−1} W_l + b_l``, ``a_l = f_l(z_l)``; backward from ``g = ∂L/∂a_L``:
    ``δ_L = g ⊙ f_L'(z_L)``, ``δ_l = (δ_{l+1} W_{l+1}ᵀ) ⊙ f_l'(z_l)``, ``∂W_l = a_{l−1}ᵀ δ_l``,
    ``∂b_l = Σ δ_l``, ``∂x = δ_1 W_1ᵀ``. ``activations_`` is a static tuple of functions, one per
    layer; ``params`` a tuple of ``DenseParams``; ``x`` is ``(batch, fan_in)``. First-order rule:
    use :func:`fnnet.autodiff` for forward mode and Hessians.
    """
    a = x
    for f, p in zip(activations_, params):
        a = dense.forward(f, p, a)  # the dense layer's own forward body
    return a


def _mlp_fwd(activations_, params, x):
    forward = record_forward(activations_, params, x)
    return forward.output, (params, forward)


def _mlp_bwd(activations_, res, da):
    params, forward = res
    (delta,) = forward.pullbacks[-1](da)  # output δ_L = ∂L/∂a_L ⊙ f_L'(z_L)
    grads, dx, _ = backprop(params, forward.inputs, forward.pullbacks, delta)
    return grads, dx


mlp.defvjp(_mlp_fwd, _mlp_bwd)


def record_loss(activations_: tuple, loss: Loss, params: tuple, x: Array, y: Array) -> LossTape:
    """The forward pass and the loss ``loss(a_L, y)``, with the loss's own rule kept for δ_L.

    Float targets are an argument of the loss's pullback (they get a cotangent); integer labels
    are closed over (they get none).
    """
    forward = record_forward(activations_, params, x)
    if jnp.issubdtype(y.dtype, jnp.floating):
        value, loss_pullback = jax.vjp(loss, forward.output, y)
    else:
        value, loss_pullback = jax.vjp(lambda a: loss(a, y), forward.output)
    return LossTape(value, forward, loss_pullback)


def output_delta(loss_tape: LossTape, g: Array) -> tuple[Array, Array | None]:
    """The output layer's ``δ_L = g ∂L/∂z_L`` and ``∂L/∂y``, both from the loss's own rule.

    ``δ_L = ∂L/∂a_L ⊙ f_L'(z_L)``: the loss's rule gives ``∂L/∂a_L`` (for an identity output
    and a loss from logits already the textbook's ``δ_L``, e.g. ``(softmax(z)·Σy − y)/batch``),
    the output activation's rule the ``⊙ f_L'``. ``∂L/∂y`` is ``None`` for integer labels.
    """
    cotangents = loss_tape.loss_pullback(g)
    dy = cotangents[1] if len(cotangents) == 2 else None
    (delta,) = loss_tape.tape.pullbacks[-1](cotangents[0])
    return delta, dy


@hand_rule
@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def mlp_loss(activations_: tuple, loss: Loss, params: tuple, x: Array, y: Array) -> Array:
    """The loss of an MLP on a batch, ``loss(mlp(params, x), y)``, as one hand-written rule.

    Backward: the output δ comes from the loss's own rule, ``δ_L = ∂L/∂a_L ⊙ f_L'(z_L)``
    (:func:`output_delta`; for an identity output and a loss from logits, the loss's ``∂L/∂z``,
    e.g. ``(softmax(z)·Σy − y)/batch``; see the module table). Then the hidden recursion,
    :func:`backprop`. ``y`` gets its cotangent from the loss's rule (``None`` for integer
    labels). First-order rule: use :func:`fnnet.autodiff` for forward mode and Hessians.
    """
    return loss(mlp.forward(activations_, params, x), y)


def _mlp_loss_fwd(activations_, loss, params, x, y):
    forward = record_loss(activations_, loss, params, x, y)
    return forward.value, (params, forward)


def _mlp_loss_bwd(activations_, loss, res, g):
    params, forward = res
    delta, dy = output_delta(forward, g)
    grads, dx, _ = backprop(params, forward.tape.inputs, forward.tape.pullbacks, delta)
    return grads, dx, dy


mlp_loss.defvjp(_mlp_loss_fwd, _mlp_loss_bwd)


def _check_input(
    params: Any, x: Any, num_layers: int, *, batch: bool = False
) -> tuple[tuple, Array]:
    pairs, x = check_mlp_input(params, x, num_layers, batch=batch)
    return tuple(DenseParams(w, b) for w, b in pairs), x


class Network(NamedTuple):
    """A ``Layer`` plus its whole-network loss rule: ``loss(params, x, y, loss_fn) -> scalar``.

    ``init`` and ``apply`` follow the layer contract, so a ``Network`` composes with ``serial``.
    ``activations`` is the static tuple of per-layer activation functions (``()`` if unknown),
    the first argument of :func:`mlp` and :func:`mlp_loss` (and of ``fnnet.diagnostics``).
    """

    init: Callable[..., Any]
    apply: Callable[..., Array]
    loss: Callable[..., Array]
    activations: tuple = ()


def MLP(
    layer_sizes: Sequence[int],
    activation: ActivationFn = activations.sigmoid,
    output_activation: ActivationFn = activations.identity,
    w_init: Initializer | None = None,
    b_init: Initializer = initializers.zeros,
    *,
    dtype: Any = jnp.float32,
) -> Network:
    """A multilayer perceptron as a ``Network``: a layer plus its whole-network rule ``mlp_loss``.

    Args:
        layer_sizes: units per layer after the input, e.g. ``(2, 2)`` for the 2-2-2 network.
        activation: hidden activation function (default sigmoid, the textbook's).
        output_activation: last layer's activation (default identity: logits or regression).
        w_init: weight initializer (default Glorot normal).
        b_init: bias initializer (default zeros).
        dtype: parameter dtype.

    Returns:
        A :class:`Network`, usable wherever a ``Layer`` is (its first two fields are
        ``init`` and ``apply``), whose params are a tuple of ``DenseParams``, the same structure as
        ``serial(Dense(...), ...)``, and whose ``apply`` maps ``(batch, fan_in)`` to
        ``(batch, layer_sizes[-1])``; ``loss(params, x, y, loss_fn)`` is the whole-network rule
        :func:`mlp_loss` (output δ from the loss's rule); ``activations`` the per-layer tuple of
        activation functions (for ``fnnet.diagnostics.diagnose``).

    Example:
        >>> import jax, jax.numpy as jnp, fnnet
        >>> net = fnnet.MLP((4, 3))
        >>> params = net.init(jax.random.key(0), 2)
        >>> x, labels = jnp.ones((5, 2)), jnp.zeros(5, jnp.int32)
        >>> grads = jax.grad(net.loss)(params, x, labels, fnnet.losses.softmax_cross_entropy)
        >>> [g.w.shape for g in grads]
        [(2, 4), (4, 3)]
    """
    sizes = tuple(layer_sizes)
    if not sizes:
        raise ValueError(
            f"`layer_sizes` must be a non-empty sequence of ints; got {layer_sizes!r}."
        )
    for i, n in enumerate(sizes):
        check_positive_int(f"layer_sizes[{i}]", n)
    acts = tuple([check_activation("activation", activation)] * (len(sizes) - 1)) + (
        check_activation("output_activation", output_activation),
    )
    # The same layers as serial(Dense(...), ...): Dense's own init (same keys, same params).
    layers = serial(*(Dense(n, f, w_init, b_init, dtype=dtype) for n, f in zip(sizes, acts)))

    def apply(
        params: tuple, x: Array, *, key: PRNGKey | None = None, training: bool = False
    ) -> Array:
        del key, training
        params, x = _check_input(params, x, len(sizes))
        if x.ndim == 1:
            return mlp(acts, params, x[None, :])[0]
        return mlp(acts, params, x)

    def loss(params: tuple, x: Array, y: Array, loss_fn: Loss) -> Array:
        params, x = _check_input(params, x, len(sizes), batch=True)
        return mlp_loss(acts, loss_fn, params, x, jnp.asarray(y))

    return Network(layers.init, apply, loss, acts)


__all__ = [
    "MLP",
    "Network",
    "Tape",
    "backprop",
    "mlp",
    "mlp_loss",
    "output_delta",
    "record_forward",
    "record_loss",
]
