"""Per-layer backpropagation diagnostics, read off one pass of the whole-network δ recursion.

:func:`diagnose` runs the forward and backward pass of :func:`fnnet.networks.mlp_loss` once and
returns, besides the loss and the gradients (the same arrays ``jax.grad`` of ``mlp_loss``
gives), what that recursion computed on the way, per layer ``l = 1..L``::

    δ_l = ∂L/∂z_l                     (batch, fan_out)    the textbook's error signal
    ∂L/∂W_l = a_{l−1}ᵀ δ_l,   ∂L/∂b_l = Σ_batch δ_l

* ``delta_norm``: ``‖δ_l‖``, Frobenius over the batch. A vanishing gradient is this norm
  shrinking from the output layer down to layer 1 (``σ' ≤ ¼`` for the sigmoid).
* ``grad_w_norm``, ``grad_b_norm``: ``‖∂L/∂W_l‖`` (Frobenius) and ``‖∂L/∂b_l‖``.
* ``dead_fraction``: ReLU layers only, the fraction of units whose pre-activation is ``≤ 0``
  for *every* example of the batch (``relu'(0) = 0``: such a unit passes no gradient on this
  batch). NaN for any other activation.
* ``saturated_fraction``: sigmoid and tanh layers only, the fraction of (example, unit)
  entries within ``saturation_margin`` (default 0.01) of an asymptote: ``a < m`` or
  ``a > 1 − m`` for the sigmoid (there ``σ' < 0.0099``), ``|a| > 1 − m`` for tanh (there
  ``tanh' < 0.02``). NaN for any other activation.
* ``per_example_grad_norm``: for example ``i`` and its own loss ``ℓ_i`` (fnnet's losses are
  the batch mean ``L = (1/batch) Σ_i ℓ_i``), the norm of ``∇_{W_l, b_l} ℓ_i``. Row ``i`` of
  ``δ_l`` is ``(1/batch) ∂ℓ_i/∂z_{l,i}``, and the per-example weight gradient is the outer
  product ``batch · a_{l−1,i}ᵀ δ_{l,i}``, whose Frobenius norm is ``‖a_{l−1,i}‖ ‖δ_{l,i}‖``.
  With the bias::

      ‖∇_{W_l, b_l} ℓ_i‖ = batch · ‖δ_{l,i}‖ · sqrt(‖a_{l−1,i}‖² + 1)

  computed from norms only: no per-example gradient is ever formed. ``Diagnostics`` also
  carries the norm over all layers, ``sqrt(Σ_l ‖∇_{W_l, b_l} ℓ_i‖²) = ‖∇_θ ℓ_i‖`` (what
  DP-SGD clips). Example ``i``'s share of ``grads`` is ``∇_θ ℓ_i / batch``.

Recognised activations: ``fnnet.activations.relu`` and ``jax.nn.relu`` (dead units);
``fnnet.activations.sigmoid``, ``jax.nn.sigmoid``, ``fnnet.activations.tanh``, ``jnp.tanh``
and ``jax.nn.tanh`` (saturation). Leaky ReLU, ELU and the rest have no dead or saturated
regime in this sense, and get NaN.

Everything is an array and :func:`diagnose` is jittable, with no host callbacks, so it can
replace ``jax.value_and_grad(net.loss)`` in a compiled training loop and log every step: the
statistics cost a few reductions over arrays the backward pass already holds. Only
:func:`format_table` runs on the host. A penalty (``fnnet.regularizers``) is not included:
``loss`` and ``grads`` are those of the data term.

Example:
    >>> import jax, jax.numpy as jnp, fnnet
    >>> from fnnet.diagnostics import diagnose
    >>> net = fnnet.MLP((8, 8, 3), activation=fnnet.activations.relu)
    >>> params = net.init(jax.random.key(0), 4)
    >>> x, y = jnp.ones((5, 4)), jnp.zeros(5, jnp.int32)
    >>> d = jax.jit(lambda p: diagnose(net, fnnet.losses.softmax_cross_entropy, p, x, y))(params)
    >>> d.layers.delta_norm.shape, d.layers.per_example_grad_norm.shape
    ((3,), (3, 5))
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from fnnet import networks
from fnnet._checks import check_activation
from fnnet._types import ActivationFn, Array
from fnnet.activations import relu, sigmoid, tanh

_RELU = (relu, jax.nn.relu)
_SIGMOID = (sigmoid, jax.nn.sigmoid)
_TANH = (tanh, jnp.tanh, jax.nn.tanh)


class LayerStats(NamedTuple):
    """Per-layer statistics stacked over the ``L`` layers (axis 0 is the layer, layer 1 first)."""

    delta_norm: Array  # (L,) ‖δ_l‖, Frobenius over the batch; δ_l = ∂L/∂z_l
    grad_w_norm: Array  # (L,) ‖∂L/∂W_l‖ (Frobenius)
    grad_b_norm: Array  # (L,) ‖∂L/∂b_l‖
    dead_fraction: Array  # (L,) ReLU: fraction of units with z ≤ 0 on every example; else NaN
    saturated_fraction: Array  # (L,) sigmoid/tanh: fraction of entries near an asymptote; else NaN
    per_example_grad_norm: Array  # (L, batch) ‖∇_{W_l, b_l} ℓ_i‖ of example i's own loss


class Diagnostics(NamedTuple):
    """What one pass of the δ recursion computed: loss, gradients and per-layer statistics."""

    loss: Array  # () the batch loss, as mlp_loss returns it
    grads: tuple  # tuple of DenseParams, the same arrays as jax.grad of mlp_loss
    layers: LayerStats
    per_example_grad_norm: Array  # (batch,) ‖∇_θ ℓ_i‖ over all layers


def _is_one_of(f: Any, known: tuple) -> bool:
    return any(f is k for k in known)


def _check_activations(activations: Any) -> tuple[ActivationFn, ...]:
    """The per-layer activation tuple, from a tuple of functions or an ``MLP`` ``Network``."""
    if isinstance(activations, networks.Network):
        if not activations.activations:
            raise TypeError(
                "`activations` is a Network that does not record its per-layer activations "
                "(its `activations` field is empty); pass the tuple of activation functions, "
                "one per layer, instead."
            )
        return tuple(activations.activations)
    if (
        isinstance(activations, (str, bytes))
        or not isinstance(activations, Sequence)
        or not activations
    ):
        raise TypeError(
            "`activations` must be an fnnet.MLP Network or a non-empty tuple of activation "
            f"functions, one per layer; got {activations!r}."
        )
    return tuple(check_activation(f"activations[{i}]", f) for i, f in enumerate(activations))


def _check_margin(saturation_margin: Any) -> None:
    if isinstance(saturation_margin, (int, float)) and not isinstance(saturation_margin, bool):
        if not 0.0 < saturation_margin < 0.5:
            raise ValueError(
                f"`saturation_margin` must lie in (0, 0.5), a distance from the sigmoid's "
                f"asymptotes 0 and 1; got {saturation_margin!r}."
            )


def _norm(x: Array, axis: Any = None) -> Array:
    return jnp.sqrt(jnp.sum(jnp.square(x), axis=axis))


def _layer_stats(f, a_in, a, delta, grad, margin, batch) -> tuple[Array, ...]:
    """One layer's entries of ``LayerStats``, from its input, output, δ and gradient."""
    nan = jnp.full((), jnp.nan, delta.dtype)
    if _is_one_of(f, _RELU):
        dead = jnp.mean(jnp.all(a <= 0, axis=0).astype(delta.dtype))  # relu(z) = 0 ⇔ z ≤ 0
    else:
        dead = nan
    if _is_one_of(f, _SIGMOID):
        saturated = jnp.mean(((a < margin) | (a > 1.0 - margin)).astype(delta.dtype))
    elif _is_one_of(f, _TANH):
        saturated = jnp.mean((jnp.abs(a) > 1.0 - margin).astype(delta.dtype))
    else:
        saturated = nan
    # ‖∇_{W,b} ℓ_i‖ = batch ‖δ_i‖ sqrt(‖a_i‖² + 1): the outer product a_iᵀδ_i is never formed
    per_example = batch * _norm(delta, axis=1) * jnp.hypot(_norm(a_in, axis=1), 1.0)
    return _norm(delta), _norm(grad.w), _norm(grad.b), dead, saturated, per_example


def diagnose(
    activations: Any,
    loss: Callable[[Array, Array], Array],
    params: tuple,
    x: Array,
    y: Array,
    *,
    saturation_margin: float | Array = 0.01,
) -> Diagnostics:
    """The loss, its gradients and per-layer δ statistics of an MLP on one batch.

    One forward and one backward pass of :func:`fnnet.networks.mlp_loss` (the output δ from
    the loss's own rule); see the module docstring for each statistic.

    Args:
        activations: an ``fnnet.MLP(...)`` ``Network``, or the tuple of per-layer activation
            functions as passed to :func:`fnnet.networks.mlp_loss`. Static.
        loss: an fnnet loss ``loss(a_L, y)`` returning the batch mean (e.g.
            ``fnnet.losses.softmax_cross_entropy``). Static.
        params: a tuple of ``DenseParams``, one per layer.
        x: inputs ``(batch, fan_in)``, of the parameters' dtype.
        y: targets as ``loss`` takes them (integer labels or float targets).
        saturation_margin: distance from an asymptote below which a sigmoid/tanh entry counts
            as saturated; a float in ``(0, 0.5)`` or a (traced) 0-d array.

    Returns:
        ``Diagnostics(loss, grads, layers, per_example_grad_norm)``: ``grads`` equal to
        ``jax.grad`` of ``mlp_loss``, ``layers`` a :class:`LayerStats` of arrays stacked
        over layers, ``per_example_grad_norm`` of shape ``(batch,)``; all of ``x``'s dtype.

    Raises:
        TypeError: ``activations`` is neither a ``Network`` nor a tuple of functions;
            ``loss`` is not callable; parameters or ``x`` of the wrong type (named).
        ValueError: shapes that do not chain, ``x`` not a batch, or ``saturation_margin``
            outside ``(0, 0.5)``.
    """
    acts = _check_activations(activations)
    if not callable(loss):
        raise TypeError(
            f"`loss` must be a loss function such as fnnet.losses.squared_error; got {loss!r}."
        )
    _check_margin(saturation_margin)
    params, x = networks.check_mlp_input(params, x, len(acts))
    if x.ndim != 2:
        raise ValueError(
            f"`x` must be a batch (batch, {params[0].w.shape[0]}); got shape {x.shape}."
        )
    forward = networks.record_loss(acts, loss, params, x, jnp.asarray(y))
    delta, _ = networks.output_delta(forward, jnp.ones_like(forward.value))
    inputs, pullbacks = forward.tape.inputs, forward.tape.pullbacks  # inputs[l] = a_{l−1}
    grads, _, deltas = networks.backprop(params, inputs, pullbacks, delta)
    outputs = inputs[1:] + (forward.tape.output,)
    margin = jnp.asarray(saturation_margin).astype(x.dtype)
    columns = zip(
        *(
            _layer_stats(f, a_in, a, delta, grad, margin, x.shape[0])
            for f, a_in, a, delta, grad in zip(acts, inputs, outputs, deltas, grads)
        )
    )
    layers = LayerStats(*(jnp.stack(column) for column in columns))
    total = _norm(layers.per_example_grad_norm, axis=0)  # ‖∇_θ ℓ_i‖² = Σ_l ‖∇_{W_l,b_l} ℓ_i‖²
    return Diagnostics(forward.value, grads, layers, total)


def _name(f: Any) -> str:
    while isinstance(f, functools.partial):
        f = f.func
    return getattr(f, "__name__", type(f).__name__)


def _fraction(v: float) -> str:
    return "–" if math.isnan(v) else f"{100.0 * v:.1f}%"


def format_table(diagnostics: Diagnostics, activations: Any = None) -> str:
    """A printable table of one step's :class:`Diagnostics`, one row per layer (host side).

    Columns: layer (1 = first hidden layer), activation name (when ``activations`` is given:
    the ``Network`` or tuple passed to :func:`diagnose`), ``‖δ‖``, ``‖∂W‖``, ``‖∂b‖``, dead
    and saturated fractions (``–`` where not applicable), and the median over the batch of
    the per-example gradient norm. Not jittable: it reads the arrays with numpy.
    """
    if not isinstance(diagnostics, Diagnostics):
        raise TypeError(
            f"`diagnostics` must be a Diagnostics from diagnose(); got {type(diagnostics).__name__}."
        )
    if np.ndim(diagnostics.loss) != 0:
        raise ValueError(
            f"`diagnostics` must be one step's, with a scalar loss; got a loss of shape "
            f"{np.shape(diagnostics.loss)} (index a stacked history first, e.g. with "
            f"jax.tree_util.tree_map(lambda v: v[-1], history))."
        )
    stats = LayerStats(*(np.asarray(v) for v in diagnostics.layers))
    num_layers = stats.delta_norm.shape[0]
    names = (
        [""] * num_layers
        if activations is None
        else [_name(f) for f in _check_activations(activations)]
    )
    if len(names) != num_layers:
        raise ValueError(
            f"`activations` has {len(names)} layers but `diagnostics` has {num_layers}."
        )
    total = np.asarray(diagnostics.per_example_grad_norm)
    lines = [
        f"loss {float(diagnostics.loss):.6g}   per-example ‖∇ℓ_i‖: median {np.median(total):.3e}, "
        f"max {np.max(total):.3e}",
        f"{'layer':>5}  {'activation':<10}  {'‖δ‖':>9}  {'‖∂W‖':>9}  {'‖∂b‖':>9}  {'dead':>6}  "
        f"{'saturated':>9}  {'‖∇ℓ_i‖ median':>13}",
    ]
    for l in range(num_layers):
        lines.append(
            f"{l + 1:>5}  {names[l]:<10}  {stats.delta_norm[l]:9.3e}  {stats.grad_w_norm[l]:9.3e}  "
            f"{stats.grad_b_norm[l]:9.3e}  {_fraction(stats.dead_fraction[l]):>6}  "
            f"{_fraction(stats.saturated_fraction[l]):>9}  "
            f"{np.median(stats.per_example_grad_norm[l]):13.3e}"
        )
    return "\n".join(lines)


__all__ = ["Diagnostics", "LayerStats", "diagnose", "format_table"]
