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
from typing import Any, Callable, NamedTuple, Sequence

import jax
import jax.numpy as jnp

from fnnet import activations, initializers
from fnnet._checks import check_key
from fnnet._types import Activation, Array, Initializer, PRNGKey
from fnnet.layers import DenseParams, Layer, check_activation, check_dense_params, check_input
from fnnet.layers._core import _as_shape
from fnnet.rules import hand_rule

Loss = Callable[[Array, Array], Array]


def _forward(activations_: Sequence[Activation], params, x):
    """Run the layers, keeping per layer the input ``a_{l−1}`` and the activation's pullback."""
    inputs, pullbacks = [], []
    a = x
    for f, (w, b) in zip(activations_, params):
        inputs.append(a)
        a, pullback = jax.vjp(f, a @ w + b)  # a_l = f_l(z_l); pullback applies ⊙ f_l'(z_l)
        pullbacks.append(pullback)
    return a, inputs, pullbacks


def _delta_recursion(params, inputs, pullbacks, delta):
    """The δ recursion from the output layer's δ down to ∂L/∂x, keeping every layer's δ_l.

    Returns ``(grads, dx, deltas)``; ``deltas[l]`` is ``δ = ∂L/∂z`` of layer ``l``, ``(batch,
    fan_out)``. Shared by both rules (through :func:`_backward`) and by ``fnnet.diagnostics``.
    """
    grads, deltas = [None] * len(params), [None] * len(params)
    for l in reversed(range(len(params))):
        w = params[l].w
        deltas[l] = delta
        grads[l] = DenseParams(inputs[l].T @ delta, delta.sum(axis=0))  # ∂W_l = a_{l−1}ᵀ δ_l
        upstream = delta @ w.T  # δ_l W_lᵀ = ∂L/∂a_{l−1}
        if l > 0:
            (delta,) = pullbacks[l - 1](upstream)  # δ_{l−1} = (δ_l W_lᵀ) ⊙ f'_{l−1}(z_{l−1})
        else:
            delta = upstream  # ∂L/∂x
    return tuple(grads), delta, tuple(deltas)


def _backward(params, inputs, pullbacks, delta):
    """The δ recursion from the output layer's δ down to ∂L/∂x: ``(grads, dx)``."""
    grads, dx, _ = _delta_recursion(params, inputs, pullbacks, delta)
    return grads, dx


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
    for f, (w, b) in zip(activations_, params):
        a = f(a @ w + b)
    return a


def _mlp_fwd(activations_, params, x):
    a, inputs, pullbacks = _forward(activations_, params, x)
    return a, (params, inputs, pullbacks)


def _mlp_bwd(activations_, res, da):
    params, inputs, pullbacks = res
    (delta,) = pullbacks[-1](da)  # output δ_L = ∂L/∂a_L ⊙ f_L'(z_L)
    return _backward(params, inputs, pullbacks, delta)


mlp.defvjp(_mlp_fwd, _mlp_bwd)


@hand_rule
@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def mlp_loss(activations_: tuple, loss: Loss, params: tuple, x: Array, y: Array) -> Array:
    """The loss of an MLP on a batch, ``loss(mlp(params, x), y)``, as one hand-written rule.

    Backward: the output δ comes from the loss's own rule, ``δ_L = ∂L/∂a_L ⊙ f_L'(z_L)``
    (for an identity output and a loss from logits, the loss's ``∂L/∂z``, e.g.
    ``(softmax(z)·Σy − y)/batch``; see the module table). Then the hidden recursion of
    :func:`mlp`. ``y`` gets its cotangent from the loss's rule (``None`` for integer labels).
    First-order rule: use :func:`fnnet.autodiff` for forward mode and Hessians.
    """
    return loss(mlp.forward(activations_, params, x), y)


def _loss_forward(activations_, loss, params, x, y):
    """:func:`mlp_loss`'s forward: ``(loss value, output a_L, residuals of the backward)``."""
    *hidden, last = activations_
    a_hidden, inputs, pullbacks = _forward(hidden, params[:-1], x)
    inputs.append(a_hidden)
    z = a_hidden @ params[-1].w + params[-1].b
    a, last_pullback = jax.vjp(last, z)
    pullbacks.append(last_pullback)
    value, loss_pullback = (
        jax.vjp(loss, a, y)
        if jnp.issubdtype(y.dtype, jnp.floating)
        else (jax.vjp(lambda a_: loss(a_, y), a))
    )
    return value, a, (params, inputs, pullbacks, loss_pullback)


def _mlp_loss_fwd(activations_, loss, params, x, y):
    value, _, res = _loss_forward(activations_, loss, params, x, y)
    return value, res


def _loss_backward(res, g):
    """:func:`mlp_loss`'s backward from the loss cotangent ``g`` (1 under ``jax.grad``).

    Returns ``(grads, dx, dy, deltas)``, ``deltas[l]`` being layer ``l``'s ``δ = g ∂L/∂z_l``.
    """
    params, inputs, pullbacks, loss_pullback = res
    cotangents = loss_pullback(g)  # the loss's own rule: ∂L/∂a_L (and ∂L/∂y for float targets)
    dy = cotangents[1] if len(cotangents) == 2 else None
    (delta,) = pullbacks[-1](cotangents[0])  # δ_L = ∂L/∂a_L ⊙ f_L'(z_L); = ∂L/∂z_L for identity
    grads, dx, deltas = _delta_recursion(params, inputs, pullbacks, delta)
    return grads, dx, dy, deltas


def _mlp_loss_bwd(activations_, loss, res, g):
    grads, dx, dy, _ = _loss_backward(res, g)
    return grads, dx, dy


mlp_loss.defvjp(_mlp_loss_fwd, _mlp_loss_bwd)


def _check_network_input(params, x, num_layers: int):
    if not isinstance(params, tuple) or len(params) != num_layers:
        raise TypeError(
            f"`params` must be a tuple of {num_layers} DenseParams; got "
            f"{jax.tree_util.tree_structure(params)}."
        )
    params = tuple(check_dense_params(p, name=f"params[{i}]") for i, p in enumerate(params))
    for i in range(1, num_layers):
        if params[i].w.shape[0] != params[i - 1].w.shape[1]:
            raise ValueError(
                f"`params[{i}].w` has shape {params[i].w.shape} but layer {i - 1} has "
                f"{params[i - 1].w.shape[1]} outputs."
            )
    return params, check_input(x, params[0].w.shape[0], params[0].w.dtype)


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
    activation: Activation = activations.sigmoid,
    output_activation: Activation = activations.identity,
    w_init: Initializer | None = None,
    b_init: Initializer = initializers.zeros,
    *,
    dtype: Any = jnp.float32,
) -> Layer:
    """A multilayer perceptron as one ``Layer`` with the whole-network rule :func:`mlp`.

    Args:
        layer_sizes: units per layer after the input, e.g. ``(2, 2)`` for the 2-2-2 network.
        activation: hidden activation function (default sigmoid, the textbook's).
        output_activation: last layer's activation (default identity: logits or regression).
        w_init, b_init: initializers (default Glorot normal weights, zero biases).
        dtype: parameter dtype.

    Returns:
        A ``Layer`` whose params are a tuple of ``DenseParams``, the same structure as
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
    if not sizes or not all(
        isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in sizes
    ):
        raise ValueError(
            f"`layer_sizes` must be a non-empty sequence of positive ints; got {layer_sizes!r}."
        )
    acts = tuple([check_activation(activation)] * (len(sizes) - 1)) + (
        check_activation(output_activation, "output_activation"),
    )
    w_init = initializers.glorot_normal() if w_init is None else w_init

    def init(key: PRNGKey, input_shape: Any) -> tuple:
        check_key("key", key)
        fan_in = _as_shape(input_shape)[-1]
        params = []
        for layer_key, fan_out in zip(jax.random.split(key, len(sizes)), sizes):
            w_key, b_key = jax.random.split(layer_key)
            params.append(
                DenseParams(
                    w_init(w_key, (fan_in, fan_out), dtype), b_init(b_key, (fan_out,), dtype)
                )
            )
            fan_in = fan_out
        return tuple(params)

    def apply(
        params: tuple, x: Array, *, key: PRNGKey | None = None, training: bool = False
    ) -> Array:
        del key, training
        params, x = _check_network_input(params, x, len(sizes))
        if x.ndim == 1:
            return mlp(acts, params, x[None, :])[0]
        return mlp(acts, params, x)

    def loss(params: tuple, x: Array, y: Array, loss_fn: Loss) -> Array:
        params, x = _check_network_input(params, x, len(sizes))
        if x.ndim != 2:
            raise ValueError(
                f"`x` must be a batch (batch, {params[0].w.shape[0]}); got shape {x.shape}."
            )
        return mlp_loss(acts, loss_fn, params, x, jnp.asarray(y))

    return Network(init, apply, loss, acts)


__all__ = ["mlp", "mlp_loss", "MLP", "Network"]
