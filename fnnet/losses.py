"""Losses ``L(a, y)``, each returning the batch mean of a per-example cost, with hand rules.

Every loss takes batch-major arrays, ``(batch, k)``, computes one cost per example (summed over
the ``k`` features or classes) and returns their **mean over the batch**, a scalar of the input
dtype. An unbatched ``(k,)`` vector is a batch of one. Because of the mean, every gradient
carries a factor ``1/batch``.

Each loss is paired with the output activation that makes its derivative collapse: the
**matched output δ** (the name fnnet uses for it; "fused" is kept for the dense layer's one
rule for ``x @ W + b`` and its activation, the *fused dense rule*). With
``z = x @ W + b`` the output layer's pre-activation, ``a = f(z)``, ``δ = ∂L/∂z`` and
``s = Σ_j y_j`` the sum of an example's targets:

* identity + :func:`squared_error`: ``δ = (a − y) / batch``;
* sigmoid + :func:`sigmoid_binary_cross_entropy`: ``δ = (σ(z) − y) / batch``;
* softmax + :func:`softmax_cross_entropy`: ``δ = (softmax(z)·s − y) / batch``, which is the
  textbook's ``(a − y) / batch`` only when every target row sums to 1 (labels, one-hot,
  probabilities), not for multi-label or unnormalised rows.

The two cross-entropies therefore take the *logits* ``z``, not the probabilities: they apply
the activation themselves (the forward bodies of :mod:`fnnet.activations`), stably, and their
backward rule returns that ``δ`` directly. This rule is the one place each output δ is written:
``fnnet.networks.mlp_loss`` and ``fnnet.diagnostics`` call it rather than re-deriving it.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from fnnet._checks import check_floating, check_indices, check_ndim
from fnnet._types import Array
from fnnet.activations import log_softmax, sigmoid, softplus
from fnnet.rules import hand_rule


def _describe(x: Any) -> str:
    return f"{x.dtype} with shape {tuple(x.shape)}"


def _check_float(x: Any, name: str) -> None:
    """Require a floating array of shape ``(batch, k)`` or ``(k,)``."""
    if not (hasattr(x, "shape") and hasattr(x, "dtype")):
        raise TypeError(f"`{name}` must be an array; got {type(x).__name__}.")
    check_floating(name, x)
    check_ndim(name, x, (1, 2), layout="(batch, k) or (k,)")


def _check_like(x: Any, name: str, ref: Any, ref_name: str) -> None:
    """Require ``x`` to be a floating array with the shape and dtype of ``ref``."""
    if not (hasattr(x, "shape") and hasattr(x, "dtype")):
        raise TypeError(f"`{name}` must be an array; got {type(x).__name__}.")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(
            f"`{name}` must have a floating dtype like `{ref_name}`; got {_describe(x)}, "
            f"`{ref_name}` is {_describe(ref)}."
        )
    if tuple(x.shape) != tuple(ref.shape):
        raise ValueError(
            f"`{name}` must have the shape of `{ref_name}`; got `{name}` shape "
            f"{tuple(x.shape)}, `{ref_name}` shape {tuple(ref.shape)}."
        )
    if x.dtype != ref.dtype:
        raise TypeError(
            f"`{name}` must have the dtype of `{ref_name}`; got `{name}` {x.dtype}, "
            f"`{ref_name}` {ref.dtype}. Cast one to the other."
        )


def _batch_size(x: Array) -> int:
    """Number of examples: ``x.shape[0]`` for ``(batch, k)``, 1 for an unbatched ``(k,)``."""
    return 1 if x.ndim == 1 else x.shape[0]


# --- squared error ------------------------------------------------------------------------


@hand_rule
@jax.custom_vjp
def squared_error(prediction: Array, target: Array) -> Array:
    """Squared error ``L = mean_batch ½‖y − a‖²``, the textbook quadratic cost.

    Forward (per example, summed over the ``k`` outputs, then averaged over the batch)::

        L = (1/batch) Σ_n ½ Σ_j (y_nj − a_nj)²

    Backward::

        ∂L/∂a = (a − y) / batch,    ∂L/∂y = (y − a) / batch

    Matched output δ: with a linear (identity) output layer ``a = z``, the output
    ``δ = ∂L/∂z = (a − y) / batch``.

    Args:
        prediction: ``a``, floating, shape ``(batch, k)`` or ``(k,)`` (one example). For a
            batch of scalar outputs use shape ``(batch, 1)``: a ``(batch,)`` vector is read
            as one example with ``batch`` outputs.
        target: ``y``, same shape and dtype as ``prediction`` (it may be differentiated).

    Returns:
        A scalar of ``prediction``'s dtype: the mean over the batch of ``½‖y − a‖²``.

    Raises:
        TypeError: non-floating inputs, or differing dtypes.
        ValueError: a rank other than 1 or 2, or differing shapes (both are named).
    """
    _check_float(prediction, "prediction")
    _check_like(target, "target", prediction, "prediction")
    per_example = 0.5 * jnp.sum(jnp.square(target - prediction), axis=-1)
    return jnp.mean(per_example)


def _squared_error_fwd(prediction, target):
    return squared_error(prediction, target), (prediction, target)


def _squared_error_bwd(res, dloss):
    prediction, target = res
    dprediction = dloss * (prediction - target) / _batch_size(prediction)  # (a − y) / batch
    return dprediction, -dprediction  # ∂L/∂y = (y − a) / batch


squared_error.defvjp(_squared_error_fwd, _squared_error_bwd)


# --- softmax cross-entropy ----------------------------------------------------------------


def _log_softmax(logits: Array) -> Array:
    """``z − logsumexp(z)`` over the last axis: :func:`fnnet.activations.log_softmax`'s body."""
    return log_softmax.forward(logits, -1)


def _check_labels(logits: Any, labels: Any) -> None:
    """Integer labels of shape ``logits.shape[:-1]``, or float targets shaped like ``logits``."""
    _check_float(logits, "logits")
    if not (hasattr(labels, "shape") and hasattr(labels, "dtype")):
        raise TypeError(f"`labels` must be an array; got {type(labels).__name__}.")
    if jnp.issubdtype(labels.dtype, jnp.integer):
        if tuple(labels.shape) != tuple(logits.shape[:-1]):
            raise ValueError(
                f"`labels` holds integer class indices, so it must have shape "
                f"{tuple(logits.shape[:-1])} (the batch of `logits`); got `labels` shape "
                f"{tuple(labels.shape)}, `logits` shape {tuple(logits.shape)}."
            )
        check_indices("labels", labels, logits.shape[-1])  # concrete labels only
        return
    if not jnp.issubdtype(labels.dtype, jnp.floating):
        raise TypeError(
            f"`labels` must be integer class indices or floating probability targets; got "
            f"{_describe(labels)}."
        )
    if labels.ndim != logits.ndim:
        raise ValueError(
            f"`labels` of dtype {labels.dtype} are probability targets and must have the shape "
            f"of `logits` (batch, k); integer class indices of shape {tuple(logits.shape[:-1])} "
            f"are the alternative. Got `labels` shape {tuple(labels.shape)}, `logits` shape "
            f"{tuple(logits.shape)}."
        )
    if labels.ndim == 2 and labels.shape[0] != logits.shape[0]:
        raise ValueError(
            f"`labels` and `logits` must have the same batch size; got `labels` shape "
            f"{tuple(labels.shape)}, `logits` shape {tuple(logits.shape)}."
        )
    if labels.shape[-1] != logits.shape[-1]:
        raise ValueError(
            f"`labels` and `logits` must have the same number of classes; got `labels` shape "
            f"{tuple(labels.shape)}, `logits` shape {tuple(logits.shape)}."
        )
    if labels.dtype != logits.dtype:
        raise TypeError(
            f"`labels` must have the dtype of `logits`; got `labels` {labels.dtype}, "
            f"`logits` {logits.dtype}. Cast one to the other."
        )


def _targets(labels: Array, num_classes: int, dtype: Any) -> Array:
    """Probability targets ``y``: one-hot for integer labels (NaN rows when out of range)."""
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        return labels
    in_range = (labels >= 0) & (labels < num_classes)
    one_hot = jax.nn.one_hot(labels, num_classes, dtype=dtype)
    return jnp.where(in_range[..., None], one_hot, jnp.nan)


@hand_rule
@jax.custom_vjp
def softmax_cross_entropy(logits: Array, labels: Array) -> Array:
    """Softmax cross-entropy from logits, ``L = mean_batch (−Σ_j y_j log softmax(z)_j)``.

    Forward, stable for any logits (log-sum-exp shifted by the row maximum)::

        log p = z − max(z) − log Σ_j e^{z_j − max(z)}
        L = (1/batch) Σ_n (−Σ_j y_nj log p_nj)

    Backward (``p = softmax(z)``, ``s = Σ_j y_j`` per example)::

        δ = ∂L/∂z = (p·s − y) / batch,     ∂L/∂y = −log p / batch

    Output δ: because the loss takes logits, this rule's ``∂L/∂z`` *is* the output layer's δ
    (``fnnet.networks.mlp_loss`` calls this rule for it); the Jacobian of the softmax is never
    formed. Only for targets whose rows sum to 1 (integer labels, one-hot, probability rows)
    is ``s = 1`` and ``δ = (p − y) / batch``, the textbook's ``a − y``; multi-label 0/1 rows or
    unnormalised soft labels keep the ``p·s`` term.

    Args:
        logits: ``z``, floating, shape ``(batch, k)`` or ``(k,)`` (one example).
        labels: either integer class indices of shape ``(batch,)`` (``()`` for one example),
            which get no cotangent; or floating one-hot / probability targets with the shape
            and dtype of ``logits``, which are differentiated. Chosen by dtype at trace time.

    Returns:
        A scalar of ``logits``' dtype: the mean over the batch of the cross-entropy.

    Raises:
        TypeError: non-floating ``logits``; float labels of a different dtype; labels neither
            integer nor floating.
        ValueError: mismatched batch sizes or class counts, or float labels of rank 1 with a
            batch of logits (both shapes are named); concrete integer labels outside
            ``[0, k)`` (the value and its index are named).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from fnnet.losses import softmax_cross_entropy
        >>> logits = jnp.zeros((2, 4))  # uniform prediction over 4 classes: loss log 4
        >>> softmax_cross_entropy(logits, jnp.array([0, 3]))
        Array(1.3862944, dtype=float32)
        >>> jax.grad(softmax_cross_entropy)(logits, jnp.array([0, 3]))[0]  # (p − y) / batch
        Array([-0.375,  0.125,  0.125,  0.125], dtype=float32)

    Note:
        Concrete integer labels outside ``[0, k)`` are a ``ValueError`` naming the first bad
        label. Traced ones (inside ``jit``/``vmap``) cannot be checked, their values are not
        known at trace time: such an example's target row is NaN, so the loss and that example's
        row of the logits gradient are NaN (the other rows are unaffected); the error is
        visible rather than silently ignored, and ``jax_debug_nans`` locates it.
    """
    _check_labels(logits, labels)
    y = _targets(labels, logits.shape[-1], logits.dtype)
    per_example = -jnp.sum(y * _log_softmax(logits), axis=-1)
    return jnp.mean(per_example)


def _softmax_cross_entropy_fwd(logits, labels):
    return softmax_cross_entropy(logits, labels), (_log_softmax(logits), labels)


def _softmax_cross_entropy_bwd(res, dloss):
    log_p, labels = res
    y = _targets(labels, log_p.shape[-1], log_p.dtype)
    scale = dloss / _batch_size(log_p)
    p = jnp.exp(log_p)
    # δ = (p·Σy − y)/batch: the matched output δ, (p − y)/batch whenever the targets sum to 1
    dlogits = scale * (p * jnp.sum(y, axis=-1, keepdims=True) - y)
    if jnp.issubdtype(labels.dtype, jnp.integer):  # static: dtype, not a value
        return dlogits, None  # class indices are not differentiable
    return dlogits, -scale * log_p  # ∂L/∂y = −log p / batch


softmax_cross_entropy.defvjp(_softmax_cross_entropy_fwd, _softmax_cross_entropy_bwd)


# --- sigmoid binary cross-entropy ---------------------------------------------------------


@hand_rule
@jax.custom_vjp
def sigmoid_binary_cross_entropy(logits: Array, targets: Array) -> Array:
    """Binary cross-entropy from logits, ``−y log σ(z) − (1 − y) log(1 − σ(z))``, mean.

    Forward, elementwise, then summed over the ``k`` outputs of each example and averaged over
    the batch, written with :func:`fnnet.activations.softplus` (``−log σ(z) = softplus(−z)``)::

        ℓ(z, y) = y·softplus(−z) + (1 − y)·softplus(z)
        L = (1/batch) Σ_n Σ_j ℓ(z_nj, y_nj)

    Both terms are non-negative for ``y ∈ [0, 1]``, so nothing cancels: for ``y = 1``,
    ``z = 700`` the loss is ``e^{−700}``, not ``700 − 700 = 0``.

    Backward (``σ(−z) = 1 − σ(z)`` from :func:`fnnet.activations.sigmoid`'s body)::

        δ = ∂L/∂z = ((1 − y)·σ(z) − y·σ(−z)) / batch  (= (σ(z) − y) / batch),   ∂L/∂y = −z / batch

    the first form exact in both tails for hard 0/1 targets. Output δ: because the loss takes
    logits, this ``∂L/∂z`` is the output layer's δ (the ``σ'(z)`` of a sigmoid output cancels
    against the loss); ``fnnet.networks.mlp_loss`` calls this rule for it.

    Args:
        logits: ``z``, floating, shape ``(batch, k)`` or ``(k,)`` (one example), ``k``
            independent binary outputs.
        targets: ``y`` in ``[0, 1]``, same shape and dtype as ``logits`` (differentiated).

    Returns:
        A scalar of ``logits``' dtype: the mean over the batch of the summed cross-entropies.

    Raises:
        TypeError: non-floating inputs, or differing dtypes.
        ValueError: a rank other than 1 or 2, or differing shapes (both are named).
    """
    _check_float(logits, "logits")
    _check_like(targets, "targets", logits, "logits")
    # −y log σ(z) − (1 − y) log σ(−z), with −log σ(z) = softplus(−z)
    elementwise = targets * softplus.forward(-logits) + (1.0 - targets) * softplus.forward(logits)
    return jnp.mean(jnp.sum(elementwise, axis=-1))


def _sigmoid_binary_cross_entropy_fwd(logits, targets):
    return sigmoid_binary_cross_entropy(logits, targets), (logits, targets)


def _sigmoid_binary_cross_entropy_bwd(res, dloss):
    logits, targets = res
    scale = dloss / _batch_size(logits)
    p, complement = sigmoid.forward(logits), sigmoid.forward(-logits)  # σ(z), σ(−z) = 1 − σ(z)
    dlogits = scale * ((1.0 - targets) * p - targets * complement)  # δ = (σ(z) − y) / batch
    return dlogits, -scale * logits  # ∂L/∂y = −z / batch


sigmoid_binary_cross_entropy.defvjp(
    _sigmoid_binary_cross_entropy_fwd, _sigmoid_binary_cross_entropy_bwd
)


__all__ = ["squared_error", "softmax_cross_entropy", "sigmoid_binary_cross_entropy"]
