"""Per-layer backpropagation diagnostics, read off the one backward pass that computes the gradients.

:func:`diagnose` returns the loss, its gradients and, per layer ``l = 1..L``, statistics of the
error signal ``δ_l`` that backpropagation hands down. It takes two kinds of network:

* an ``fnnet.MLP`` (or the tuple of its activations, as :func:`fnnet.networks.mlp_loss` takes
  it): one pass of the whole-network δ recursion, with ``δ_l = ∂L/∂z_l`` at the
  **pre-activation** ``z_l = a_{l−1} W_l + b_l`` (the textbook's δ), and the gradients the very
  arrays ``jax.grad`` of ``mlp_loss`` returns;
* a ``serial`` network of any fnnet layers (dense, dropout, convolution, pooling, maxout,
  recurrent, residual, ...): ``jax.vjp`` of the network's own forward with a zero added to
  every layer's output, so one backward pass yields the gradients and ``δ_l = ∂L/∂a_l`` at each
  layer's **output** ``a_l`` (a fused layer such as ``Dense(n, f)`` keeps its ``z`` inside its
  rule; write ``Dense(n)`` then ``Activation(f)`` to see ``∂L/∂z``). A recurrent layer's δ
  through time, ``∂L/∂h_t`` per step, comes from its own ``deltas`` (one more backward pass of
  that layer only).

Per layer (``LayerStats``, stacked over layers):

* ``delta_norm``: ``‖δ_l‖``, Frobenius over the batch. A vanishing gradient is this norm
  shrinking from the output layer down to layer 1 (``σ' ≤ ¼`` for the sigmoid).
* ``grad_w_norm``, ``grad_b_norm``: ``‖∂L/∂W_l‖`` (Frobenius) and ``‖∂L/∂b_l‖``. In a serial
  network, the norm over the layer's parameter leaves of rank ≥ 2 (weights, kernels) and of
  rank ≤ 1 (biases, slopes); NaN where the layer has none.
* ``dead_fraction``: the fraction of units (the last axis) that pass no gradient on *every*
  entry of the batch (every example, step and position), e.g. ReLU units with ``z ≤ 0``
  throughout (``relu'(0) = 0``).
* ``saturated_fraction``: the fraction of entries within ``saturation_margin`` (default 0.01) of
  an asymptote: ``a < m`` or ``a > 1 − m`` for the sigmoid (there ``σ' < 0.0099``),
  ``|a| > 1 − m`` for tanh (there ``tanh' < 0.02``).
* ``per_example_grad_norm`` (MLP only; NaN for a serial network): for example ``i`` and its own
  loss ``ℓ_i`` (fnnet's losses are the batch mean ``L = (1/batch) Σ_i ℓ_i``), the norm of
  ``∇_{W_l, b_l} ℓ_i``. Row ``i`` of ``δ_l`` is ``(1/batch) ∂ℓ_i/∂z_{l,i}``, and the per-example
  weight gradient is the outer product ``batch · a_{l−1,i}ᵀ δ_{l,i}``, whose Frobenius norm is
  ``‖a_{l−1,i}‖ ‖δ_{l,i}‖``. With the bias::

      ‖∇_{W_l, b_l} ℓ_i‖ = batch · ‖δ_{l,i}‖ · sqrt(‖a_{l−1,i}‖² + 1)

  computed from norms only: no per-example gradient is ever formed. ``Diagnostics`` also
  carries the norm over all layers, ``sqrt(Σ_l ‖∇_{W_l, b_l} ℓ_i‖²) = ‖∇_θ ℓ_i‖`` (what
  DP-SGD clips). Example ``i``'s share of ``grads`` is ``∇_θ ℓ_i / batch``.

Dead and saturated are properties of the activation a layer ends with, read off its output
``a`` by a :class:`Regime`. Built in: ``fnnet.activations.relu`` and ``jax.nn.relu`` (dead:
``a ≤ 0``); ``fnnet.activations.sigmoid``, ``jax.nn.sigmoid``, ``fnnet.activations.tanh``,
``jnp.tanh`` and ``jax.nn.tanh`` (saturated). Declare any other activation's with
``regimes={f: Regime(...)}``; a layer whose activation has no regime gets NaN. An MLP records
its activations; for a serial network, name each layer's with ``activations=``.

Everything is an array and :func:`diagnose` is jittable, with no host callbacks, so it can
replace ``jax.value_and_grad`` of the loss in a compiled training loop and log every step: the
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

from fnnet.diagnostics._diagnose import diagnose as diagnose
from fnnet.diagnostics._regimes import Regime as Regime
from fnnet.diagnostics._table import format_table as format_table

__all__ = ["Regime", "diagnose", "format_table"]
