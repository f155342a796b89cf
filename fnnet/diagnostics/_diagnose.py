"""``diagnose``: one backward pass of an MLP or a serial network, and what it saw per layer."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from fnnet import _checks, networks, recurrent
from fnnet._layer_checks import check_mlp_input
from fnnet._types import ActivationFn, Array
from fnnet.diagnostics._regimes import Regime, check_regimes, fractions, regime_of
from fnnet.layers import DenseParams


class LayerStats(NamedTuple):
    """Per-layer statistics stacked over the ``L`` layers (axis 0 is the layer, layer 1 first)."""

    delta_norm: Array  # (L,) ‖δ_l‖, Frobenius over the batch
    grad_w_norm: Array  # (L,) ‖∂L/∂W_l‖ (Frobenius); NaN for a layer without weights
    grad_b_norm: Array  # (L,) ‖∂L/∂b_l‖; NaN for a layer without biases
    dead_fraction: Array  # (L,) fraction of units passing no gradient anywhere; NaN: no regime
    saturated_fraction: Array  # (L,) fraction of entries near an asymptote; NaN: no regime
    per_example_grad_norm: Array  # (L, batch) ‖∇_{W_l, b_l} ℓ_i‖ (MLP; NaN for serial)


class Diagnostics(NamedTuple):
    """What one backward pass computed: loss, gradients, per-layer statistics, δ through time."""

    loss: Array  # () the batch loss
    grads: tuple  # one entry per layer, the same arrays as jax.grad of the loss
    layers: LayerStats
    per_example_grad_norm: Array  # (batch,) ‖∇_θ ℓ_i‖ over all layers (MLP; NaN for serial)
    through_time: tuple = ()  # per layer: None, or a recurrent layer's (time,) ‖δh_t‖ means


def check_activations(
    activations: Any, name: str, num_layers: int | None = None, *, allow_none: bool = False
) -> tuple:
    """A non-empty tuple of activation functions (``None`` entries where ``allow_none``)."""
    if (
        isinstance(activations, (str, bytes))
        or not isinstance(activations, Sequence)
        or not activations
    ):
        raise TypeError(
            f"`{name}` must be a non-empty tuple of activation functions, one per layer; got "
            f"{activations!r}."
        )
    if num_layers is not None and len(activations) != num_layers:
        raise ValueError(
            f"`{name}` must name one activation (or None) per layer of the network, "
            f"{num_layers}; got {len(activations)}."
        )
    return tuple(
        f
        if f is None and allow_none
        else _checks.check_callable(f"{name}[{i}]", f, example="fnnet.activations.relu")
        for i, f in enumerate(activations)
    )


def mlp_activations(network: Any) -> tuple[ActivationFn, ...]:
    """The per-layer activation tuple of an ``MLP`` ``Network`` or of a tuple of functions."""
    if isinstance(network, networks.Network):
        if not network.activations:
            raise TypeError(
                "`network` is a Network that does not record its per-layer activations "
                "(its `activations` field is empty); pass the tuple of activation functions, "
                "one per layer, instead."
            )
        return tuple(network.activations)
    if _checks.is_layer(network):
        raise TypeError(
            "`network` is a single layer; diagnose takes an fnnet.MLP, a serial network or a "
            "tuple of activations: wrap the layer, fnnet.serial(layer)."
        )
    if isinstance(network, (str, bytes)) or not isinstance(network, Sequence) or not network:
        raise TypeError(
            "`network` must be an fnnet.MLP, an fnnet.serial network or a non-empty tuple of "
            f"activation functions, one per layer; got {network!r}."
        )
    return check_activations(network, "network")


def _check_margin(saturation_margin: Any) -> None:
    if isinstance(saturation_margin, (int, float)) and not isinstance(saturation_margin, bool):
        if not 0.0 < saturation_margin < 0.5:
            raise ValueError(
                f"`saturation_margin` must lie in (0, 0.5), a distance from an activation's "
                f"asymptotes (0 and 1 for the sigmoid); got {saturation_margin!r}."
            )


def _norm(x: Array, axis: Any = None) -> Array:
    return jnp.sqrt(jnp.sum(jnp.square(x), axis=axis))


def _mlp_pass(acts, regimes, loss, params, x, y, margin) -> Diagnostics:
    """One pass of the whole-network δ recursion of :func:`fnnet.networks.mlp_loss`."""
    pairs, x = check_mlp_input(params, x, len(acts), batch=True)
    params = tuple(DenseParams(w, b) for w, b in pairs)
    forward = networks.record_loss(acts, loss, params, x, jnp.asarray(y))
    delta, _ = networks.output_delta(forward, jnp.ones_like(forward.value))
    inputs, pullbacks = forward.tape.inputs, forward.tape.pullbacks  # inputs[l] = a_{l−1}
    grads, _, deltas = networks.backprop(params, inputs, pullbacks, delta)
    outputs = inputs[1:] + (forward.tape.output,)
    rows = []
    for f, a_in, a, delta, grad in zip(acts, inputs, outputs, deltas, grads):
        # ‖∇_{W,b} ℓ_i‖ = batch ‖δ_i‖ sqrt(‖a_i‖² + 1): the outer product a_iᵀδ_i is never formed
        per_example = x.shape[0] * _norm(delta, axis=1) * jnp.hypot(_norm(a_in, axis=1), 1.0)
        dead, saturated = fractions(regime_of(f, regimes), a, margin, delta.dtype)
        rows.append((_norm(delta), _norm(grad.w), _norm(grad.b), dead, saturated, per_example))
    layers = LayerStats(*(jnp.stack(column) for column in zip(*rows)))
    total = _norm(layers.per_example_grad_norm, axis=0)  # ‖∇_θ ℓ_i‖² = Σ_l ‖∇_{W_l,b_l} ℓ_i‖²
    return Diagnostics(forward.value, grads, layers, total, (None,) * len(acts))


def _leaf_norm(leaves: list, dtype: Any) -> Array:
    if not leaves:
        return jnp.full((), jnp.nan, dtype)
    return jnp.sqrt(sum(jnp.sum(jnp.square(leaf.astype(dtype))) for leaf in leaves))


def _serial_pass(layers, acts, regimes, loss, params, x, y, margin, key, training, align):
    """``jax.vjp`` of the serial forward (same calls and keys as its ``apply``) with zero probes."""
    if not isinstance(params, tuple) or len(params) != len(layers):
        raise TypeError(
            f"`params` must be a tuple of {len(layers)} layer params (from this network's "
            f"init); got {jax.tree_util.tree_structure(params)}."
        )
    y = jnp.asarray(y)

    def forward(params, probes):
        a, inputs, outputs = x, [], []
        for i, (layer, p) in enumerate(zip(layers, params)):
            inputs.append(a)
            layer_key = None if key is None else jax.random.fold_in(key, i)
            a = layer.apply(p, a, key=layer_key, training=training)
            if probes is not None:
                a = a + probes[i]  # zero: its cotangent is δ_i = ∂L/∂a_i
            outputs.append(a)
        return loss(a, y), (tuple(inputs), tuple(outputs))

    shapes = jax.eval_shape(lambda p: forward(p, None)[1][1], params)
    probes = tuple(jnp.zeros(s.shape, s.dtype) for s in shapes)
    value, pullback, (inputs, outputs) = jax.vjp(forward, params, probes, has_aux=True)
    grads, deltas = pullback(jnp.ones_like(value))
    dtype, batch = value.dtype, jax.tree_util.tree_leaves(x)[0].shape[0]
    rows, through_time = [], []
    for layer, f, p, a_in, a, delta, grad in zip(
        layers, acts, params, inputs, outputs, deltas, grads
    ):
        valid = norms = None
        if callable(getattr(layer, "deltas", None)):  # a RecurrentLayer: ∂L/∂h_t by its own rule
            sequence, lengths = a_in if isinstance(a_in, (tuple, list)) else (a_in, None)
            dh = layer.deltas(p, sequence, delta, lengths=lengths)
            norms = recurrent.delta_norms(dh, lengths, align=align).astype(dtype)
            if lengths is not None:  # padded steps output 0: not part of the statistics
                lengths = jnp.asarray(lengths)
                valid = (jnp.arange(a.shape[1], dtype=lengths.dtype) < lengths[:, None])[..., None]
        through_time.append(norms)
        leaves = jax.tree_util.tree_leaves(grad)
        dead, saturated = fractions(regime_of(f, regimes), a, margin, dtype, valid)
        rows.append(
            (
                _norm(delta).astype(dtype),
                _leaf_norm([g for g in leaves if g.ndim >= 2], dtype),
                _leaf_norm([g for g in leaves if g.ndim <= 1], dtype),
                dead,
                saturated,
                jnp.full((batch,), jnp.nan, dtype),
            )
        )
    stats = LayerStats(*(jnp.stack(column) for column in zip(*rows)))
    total = jnp.full((batch,), jnp.nan, dtype)
    return Diagnostics(value, grads, stats, total, tuple(through_time))


def diagnose(
    network: Any,
    loss: Callable[[Array, Array], Array],
    params: Any,
    x: Any,
    y: Any,
    *,
    activations: Sequence[ActivationFn | None] | None = None,
    regimes: Mapping[Any, Regime] | None = None,
    key: Any = None,
    training: bool = False,
    saturation_margin: float | Array = 0.01,
    align: str = "start",
) -> Diagnostics:
    """The loss, its gradients and per-layer δ statistics of a network on one batch.

    One forward and one backward pass (see the module docstring for each statistic): for an
    ``MLP``, of :func:`fnnet.networks.mlp_loss` with ``δ_l = ∂L/∂z_l``; for a ``serial``
    network, ``jax.vjp`` of its forward with a zero added to each layer's output, with
    ``δ_l = ∂L/∂a_l`` at the layer's output.

    Args:
        network: an ``fnnet.MLP(...)`` ``Network``, the tuple of per-layer activation
            functions as passed to :func:`fnnet.networks.mlp_loss`, or an ``fnnet.serial(...)``
            network. Static.
        loss: an fnnet loss ``loss(outputs, y)`` returning the batch mean (e.g.
            ``fnnet.losses.softmax_cross_entropy``). Static.
        params: the network's params (a tuple with one entry per layer).
        x: a batch of inputs, as the network's ``apply`` takes it (MLP: ``(batch, fan_in)`` of
            the parameters' dtype).
        y: targets as ``loss`` takes them (integer labels or float targets).
        activations: serial networks only: the activation each layer ends with, one entry per
            layer (``None`` for a layer without one: pooling, ``Flatten``, dropout, a linear
            ``Dense``), for the dead and saturated fractions. An MLP records its own.
        regimes: ``{activation function: Regime(dead=..., saturated=...)}`` for activations
            other than the built-in ReLU, sigmoid and tanh (matched by identity; an entry for
            a built-in one replaces it).
        key: serial networks: the key ``apply`` would get (layer ``i`` gets
            ``fold_in(key, i)``), needed by dropout when ``training`` is true.
        training: serial networks: the mode ``apply`` runs in (dropout on when true).
        saturation_margin: distance from an asymptote below which an entry counts as
            saturated; a float in ``(0, 0.5)`` or a (traced) 0-d array.
        align: ``"start"`` or ``"end"``: how a recurrent layer's ``through_time`` norms line up
            the rows (see :func:`fnnet.recurrent.delta_norms`).

    Returns:
        ``Diagnostics(loss, grads, layers, per_example_grad_norm, through_time)``: ``grads``
        equal to ``jax.grad`` of the loss (of ``mlp_loss`` for an MLP), ``layers`` a
        :class:`LayerStats` of arrays stacked over layers, ``per_example_grad_norm`` of shape
        ``(batch,)`` (NaN for a serial network), ``through_time`` one entry per layer: the
        batch-mean ``‖∂L/∂h_t‖`` per step ``(time,)`` for a recurrent layer, else ``None``. The
        statistics have the loss's dtype.

    Raises:
        TypeError: ``network`` is not an MLP, serial network or tuple of functions; ``loss``
            is not callable; ``activations``, ``regimes``, parameters or ``x`` of the wrong
            type (named).
        ValueError: shapes that do not chain, ``x`` not a batch, ``activations`` of the wrong
            length, ``saturation_margin`` outside ``(0, 0.5)`` or an unknown ``align``.
    """
    if not callable(loss):
        raise TypeError(
            f"`loss` must be a loss function such as fnnet.losses.squared_error; got {loss!r}."
        )
    _check_margin(saturation_margin)
    if align not in ("start", "end"):
        raise ValueError(f'`align` must be "start" or "end"; got {align!r}.')
    known = check_regimes(regimes)  # the user's pairs, then the built-in ones
    layers = getattr(network, "layers", None)
    if not (_checks.is_layer(network) and isinstance(layers, tuple)):  # an MLP or activations
        if activations is not None:
            raise TypeError(
                "`activations` is for serial networks: an MLP (or a tuple of activations) "
                "already names each layer's activation."
            )
        acts = mlp_activations(network)
        return _mlp_pass(acts, known, loss, params, x, y, jnp.asarray(saturation_margin))
    acts = (None,) * len(layers)
    if activations is not None:
        acts = check_activations(activations, "activations", len(layers), allow_none=True)
    _checks.check_bool("training", training)
    if key is not None:
        _checks.check_key("key", key)
    margin = jnp.asarray(saturation_margin)
    return _serial_pass(layers, acts, known, loss, params, x, y, margin, key, training, align)
