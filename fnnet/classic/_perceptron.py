"""The perceptron: the perceptron criterion as a loss whose gradient is the perceptron rule.

Rosenblatt's unit computes ``o = H(s)`` with ``s = x·w + b`` and ``H`` the Heaviside step
(:func:`fnnet.activations.binary_step`). His learning rule, one example at a time, is::

    Δw = η (t − o) x,    Δb = η (t − o)        (t, o ∈ {0, 1})

which changes nothing when ``o = t`` and adds ``± η x`` on a mistake. With the labels written
as ``t = ±1`` that is ``Δw = η t x`` on mistakes, and it is exactly a gradient-descent step on
the **perceptron criterion**::

    L = (1/batch) Σ_n Σ_j max(0, −t_nj s_nj),     ∂L/∂s = −t ⊙ [t ⊙ s ≤ 0] / batch

A point on the boundary (``s = 0``) counts as a mistake, as in Novikoff's convergence proof and
scikit-learn's ``Perceptron`` (so a perceptron started at ``w = 0`` updates on its first
example). :func:`perceptron_criterion` is that loss with a hand-written rule.

**Multiclass is one-vs-rest**, like scikit-learn's ``Perceptron``: ``k`` classes are ``k``
independent binary perceptrons (one output column each, trained at once), class ``j``'s column
gets ``t = +1`` for its own examples and ``t = −1`` for all others, and the prediction is the
arg-max of the ``k`` scores. (This is not Collins' multiclass perceptron, which updates only
the true and the predicted class.) A binary problem has one column and ``±1`` labels; its
prediction is ``binary_step(s)`` mapped to ``±1``.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from fnnet import activations, data
from fnnet._checks import (
    check_bool,
    check_floating,
    check_key,
    check_positive_int,
    check_real,
    is_concrete,
)
from fnnet._types import Array, PRNGKey
from fnnet.layers import DenseParams, check_input, dense
from fnnet.rules import hand_rule


def _check_signed(targets: Any, scores: Any) -> None:
    """``targets``: floating, shape and dtype of ``scores``, values in {−1, +1} (when concrete)."""
    if not (hasattr(scores, "shape") and jnp.issubdtype(scores.dtype, jnp.floating)):
        raise TypeError(f"`scores` must be a floating array; got {scores!r}.")
    if scores.ndim not in (1, 2):
        raise ValueError(f"`scores` must have shape (batch, k) or (k,); got {scores.shape}.")
    if not hasattr(targets, "shape") or tuple(targets.shape) != tuple(scores.shape):
        raise ValueError(
            f"`targets` must have the shape of `scores` {tuple(scores.shape)}; got "
            f"{getattr(targets, 'shape', type(targets).__name__)}."
        )
    if targets.dtype != scores.dtype:
        raise TypeError(
            f"`targets` must have the dtype of `scores` ({scores.dtype}); got {targets.dtype}."
        )
    if is_concrete(targets):
        values = np.unique(np.asarray(targets))
        bad = values[(values != 1) & (values != -1)]
        if bad.size:
            raise ValueError(
                f"`targets` must hold only -1 and +1 (one-vs-rest signs, see signed_targets); "
                f"got the values {bad[:5].tolist()}."
            )


@hand_rule
@jax.custom_vjp
def perceptron_criterion(scores: Array, targets: Array) -> Array:
    """The perceptron criterion ``L = mean_batch Σ_j max(0, −t_j s_j)``, labels ``t = ±1``.

    Backward (a mistake is ``t·s ≤ 0``, the boundary included)::

        ∂L/∂s = −t ⊙ [t ⊙ s ≤ 0] / batch,      targets get no cotangent

    so one SGD step with rate ``η`` on one example through ``s = x·w + b`` is the perceptron
    rule ``Δw = η t x``, ``Δb = η t`` on a mistake and nothing otherwise.

    Args:
        scores: ``s = x @ w + b``, floating, ``(batch, k)`` or ``(k,)`` (one example).
        targets: ``±1`` of the shape and dtype of ``scores`` (``signed_targets`` builds them
            from class indices); checked when concrete.

    Returns:
        A scalar of ``scores``' dtype: the batch mean of the summed margins violated.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from fnnet.classic import perceptron_criterion
        >>> s, t = jnp.array([[2.0], [-0.5], [0.0]]), jnp.array([[1.0], [1.0], [-1.0]])
        >>> perceptron_criterion(s, t)  # (0 + 0.5 + 0) / 3
        Array(0.16666667, dtype=float32)
        >>> jax.grad(perceptron_criterion)(s, t)[:, 0]  # −t / batch on mistakes (s = 0 is one)
        Array([-0.        , -0.33333334,  0.33333334], dtype=float32)
    """
    _check_signed(targets, scores)
    per_example = jnp.sum(jnp.maximum(-targets * scores, 0.0), axis=-1)
    return jnp.mean(per_example)


def _perceptron_criterion_fwd(scores, targets):
    return perceptron_criterion(scores, targets), (scores, targets)


def _perceptron_criterion_bwd(res, dloss):
    scores, targets = res
    batch = 1 if scores.ndim == 1 else scores.shape[0]
    margin = targets * scores
    mistake = jnp.where(
        jnp.isnan(margin), margin, (margin <= 0).astype(scores.dtype)
    )  # NaN stays NaN
    return -dloss * targets * mistake / batch, None  # δ = −t [t s ≤ 0] / batch


perceptron_criterion.defvjp(_perceptron_criterion_fwd, _perceptron_criterion_bwd)


def signed_targets(labels: Any, num_classes: int, *, dtype: Any = jnp.float32) -> Array:
    """One-vs-rest ``±1`` targets ``(n, num_classes)`` from integer class indices ``(n,)``.

    ``num_classes = 2`` gives one column (``+1`` for class 1, ``−1`` for class 0): the binary
    perceptron. Labels outside ``[0, num_classes)`` are an error naming them.
    """
    num_classes = check_positive_int("num_classes", num_classes)
    if num_classes < 2:
        raise ValueError(f"`num_classes` must be at least 2; got {num_classes}.")
    labels = jnp.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"`labels` must be class indices of shape (n,); got shape {labels.shape}.")
    signs = 2.0 * data.one_hot(labels, num_classes, dtype=dtype) - 1.0  # checks the range
    return signs[:, 1:] if num_classes == 2 else signs


def perceptron_init(
    num_features: int, num_outputs: int, *, dtype: Any = jnp.float32
) -> DenseParams:
    """Zero weights ``(num_features, num_outputs)`` and biases: Rosenblatt's starting point."""
    num_features = check_positive_int("num_features", num_features)
    num_outputs = check_positive_int("num_outputs", num_outputs)
    return DenseParams(
        jnp.zeros((num_features, num_outputs), dtype), jnp.zeros((num_outputs,), dtype)
    )


def perceptron_scores(params: DenseParams, x: Array) -> Array:
    """``s = x @ w + b`` for ``x`` of shape ``(batch, features)`` (through ``fnnet.layers.dense``)."""
    x = check_input(x, params.w.shape[0], params.w.dtype)
    if x.ndim == 1:
        return dense(activations.identity, params, x[None, :])[0]
    return dense(activations.identity, params, x)


def perceptron_predict(params: DenseParams, x: Array) -> Array:
    """Binary (one output): ``±1`` from ``binary_step(s)``; one-vs-rest: the arg-max class."""
    s = perceptron_scores(params, x)
    if params.w.shape[1] == 1:
        return (2.0 * activations.binary_step(s[..., 0]) - 1.0).astype(jnp.int32)
    return jnp.argmax(s, axis=-1).astype(jnp.int32)


class PerceptronState(NamedTuple):
    """The online perceptron: current ``params``, their running ``total`` over every step
    (for the averaged perceptron) and the number of steps ``count`` (int32)."""

    params: DenseParams
    total: DenseParams
    count: Array


def averaged(state: PerceptronState) -> DenseParams:
    """The averaged perceptron: the mean of the weights after every example seen so far."""
    count = jnp.maximum(state.count, 1).astype(state.params.w.dtype)
    return jax.tree_util.tree_map(lambda t: t / count, state.total)


def perceptron_step(
    state: PerceptronState, x: Array, t: Array, learning_rate: Array
) -> tuple[PerceptronState, Array]:
    """One example: ``w ← w − η ∂L/∂w`` with ``L = perceptron_criterion`` (the perceptron
    rule), then add the new weights to the running total. Returns the new state and whether
    the example was a mistake (0-d bool)."""

    def loss(params):
        return perceptron_criterion(perceptron_scores(params, x[None, :]), t[None, :])

    grads = jax.grad(loss)(state.params)
    eta = jnp.asarray(learning_rate, state.params.w.dtype)
    params = jax.tree_util.tree_map(lambda p, g: p - eta * g, state.params, grads)
    total = jax.tree_util.tree_map(jnp.add, state.total, params)
    mistake = jnp.any(grads.b != 0)  # ∂L/∂b = −t on a mistake, 0 otherwise
    return PerceptronState(params, total, state.count + 1), mistake


def perceptron_epoch(
    state: PerceptronState, x: Array, targets: Array, learning_rate: Array
) -> tuple[PerceptronState, Array]:
    """One pass over the rows of ``x`` in order, one example at a time (``lax.scan``).
    Returns the state and the number of examples on which some column made a mistake."""

    def body(carry, example):
        carry, mistake = perceptron_step(carry, example[0], example[1], learning_rate)
        return carry, mistake

    state, mistakes = jax.lax.scan(body, state, (x, targets))
    return state, jnp.sum(mistakes.astype(jnp.int32))


class PerceptronFit(NamedTuple):
    """Result of :func:`perceptron_fit`: the final ``params``, the ``averaged`` params, the
    online ``state``, and the number of mistakes in each epoch (``(epochs,)`` int32)."""

    params: DenseParams
    averaged: DenseParams
    state: PerceptronState
    mistakes: Array


def perceptron_fit(
    key: PRNGKey,
    x: Any,
    targets: Any,
    *,
    epochs: int,
    learning_rate: Any = 1.0,
    shuffle: bool = True,
) -> PerceptronFit:
    """Train a perceptron online, one example at a time, for ``epochs`` passes.

    Args:
        key: shuffles the example order of each epoch (``fold_in(key, epoch)``).
        x: inputs ``(n, features)``, floating.
        targets: ``±1`` of shape ``(n, k)``: ``k = 1`` binary, or one-vs-rest columns from
            :func:`signed_targets`.
        epochs: passes over the data (a perceptron on separable data stops making mistakes
            and then no longer changes; ``mistakes`` shows when).
        learning_rate: ``η`` (an array leaf: sweepable with ``vmap``); from ``w = 0`` the
            predictions of the plain perceptron do not depend on it.
        shuffle: visit the examples in a new random order every epoch (scikit-learn's default)
            or in the given order.

    Returns:
        A :class:`PerceptronFit`.
    """
    key = check_key("key", key)
    epochs = check_positive_int("epochs", epochs)
    shuffle = check_bool("shuffle", shuffle)
    check_real("learning_rate", learning_rate, low=0.0, low_open=True)
    x = check_floating("x", x)
    if x.ndim != 2:
        raise ValueError(f"`x` must have shape (n, features); got {x.shape}.")
    targets = jnp.asarray(targets)
    if targets.ndim != 2 or targets.shape[0] != x.shape[0]:
        raise ValueError(
            f"`targets` must have shape (n, k) with n = {x.shape[0]} rows like `x`; got "
            f"{targets.shape}. Build them with signed_targets(labels, num_classes)."
        )
    _check_signed(targets.astype(x.dtype), jnp.zeros(targets.shape, x.dtype))
    params = perceptron_init(x.shape[1], targets.shape[1], dtype=x.dtype)
    return _fit(
        key,
        x,
        targets.astype(x.dtype),
        params,
        jnp.asarray(learning_rate, x.dtype),
        epochs,
        shuffle,
    )


@functools.partial(jax.jit, static_argnums=(5, 6))
def _fit(key, x, targets, params, learning_rate, epochs, shuffle):
    zero = jax.tree_util.tree_map(jnp.zeros_like, params)
    state = PerceptronState(params, zero, jnp.zeros((), jnp.int32))

    def epoch(state, i):
        order = jax.random.permutation(jax.random.fold_in(key, i), x.shape[0])
        order = order if shuffle else jnp.arange(x.shape[0])
        return perceptron_epoch(state, x[order], targets[order], learning_rate)

    state, mistakes = jax.lax.scan(epoch, state, jnp.arange(epochs))
    return PerceptronFit(state.params, averaged(state), state, mistakes)


__all__ = [
    "PerceptronFit",
    "PerceptronState",
    "averaged",
    "perceptron_criterion",
    "perceptron_epoch",
    "perceptron_fit",
    "perceptron_init",
    "perceptron_predict",
    "perceptron_scores",
    "perceptron_step",
    "signed_targets",
]
