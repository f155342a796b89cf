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
example). :func:`perceptron_criterion` is that loss with a hand-written rule, so training is
the core's: :func:`perceptron_fit` runs ``fnnet.training.make_train_step`` with ``sgd(η)`` on
batches of one example (the guard, batching, key schedule of ``fnnet.fit``), and the averaged
perceptron is the optimizer transform ``fnnet.optimizers.polyak_average``.

**Multiclass is one-vs-rest**, like scikit-learn's ``Perceptron``: ``k`` classes are ``k``
independent binary perceptrons (one output column each, trained at once), class ``j``'s column
gets ``t = +1`` for its own examples and ``t = −1`` for all others, and the prediction is the
arg-max of the ``k`` scores. (This is not Collins' multiclass perceptron, which updates only
the true and the predicted class.) A binary problem has one column and ``±1`` labels; its
prediction is ``binary_step(s)``: class 1 (the ``+1`` side) or class 0.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from fnnet import activations, data, training
from fnnet._checks import (
    check_bool,
    check_key,
    check_ndim,
    check_positive_int,
    check_real,
    check_rows,
    check_samples,
    is_concrete,
)
from fnnet._types import Array, PRNGKey
from fnnet.layers import DenseParams, dense
from fnnet.optimizers import averaged_params, chain, polyak_average, sgd
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
    perceptron. Labels that are not integers, or lie outside ``[0, num_classes)``, are an error
    naming ``labels``.
    """
    num_classes = check_positive_int("num_classes", num_classes)
    if num_classes < 2:
        raise ValueError(f"`num_classes` must be at least 2; got {num_classes}.")
    kind = labels.dtype if hasattr(labels, "dtype") else np.asarray(labels).dtype
    if not np.issubdtype(kind, np.integer):
        raise TypeError(
            f"`labels` must be integer class indices in [0, {num_classes}); got dtype {kind}. "
            f"Map names to indices first, e.g. np.unique(names, return_inverse=True)[1]."
        )
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


def _scores(params: DenseParams, x: Array, *, key: Any = None, training: bool = False) -> Array:
    """The layer-contract ``apply`` the train step calls: ``x @ w + b`` by the fused dense rule."""
    del key, training
    return dense(activations.identity, params, x)


def perceptron_scores(params: DenseParams, x: Any) -> Array:
    """``s = x @ w + b`` ``(samples, k)`` for ``x`` of shape ``(samples, features)`` (through
    ``fnnet.layers.dense``). Integer ``x`` is cast to the weights' dtype; a row with NaN scores
    NaN."""
    x = check_samples(
        "x", x, features=params.w.shape[0], source=f"the weights, w.shape = {params.w.shape}"
    )
    return _scores(params, x.astype(params.w.dtype))


def perceptron_predict(params: DenseParams, x: Any) -> Array:
    """The class of each row of ``x``, int32 ``(samples,)``.

    One output column (the binary perceptron): class ``1`` where ``s ≥ 0`` (the ``+1`` side,
    ``binary_step(s)``), else ``0``, the indices :func:`signed_targets` maps to ``±1``. Several
    columns (one-vs-rest): the arg-max. A row whose scores are NaN (a NaN in ``x``, possible
    under ``jit``, where values cannot raise) is ``-1``, never a class.
    """
    s = perceptron_scores(params, x)
    if params.w.shape[1] == 1:
        classes = activations.binary_step(s[:, 0]).astype(jnp.int32)
    else:
        classes = jnp.argmax(s, axis=-1).astype(jnp.int32)
    return jnp.where(jnp.any(jnp.isnan(s), axis=-1), -1, classes)


class PerceptronFit(NamedTuple):
    """Result of :func:`perceptron_fit`.

    ``params``: the final weights; ``averaged``: the mean of the weights after every example
    (the averaged perceptron, :func:`fnnet.optimizers.averaged_params` of the state);
    ``state``: the ``fnnet.training.TrainState`` (its ``opt_state`` holds the running sum);
    ``history``: per-epoch arrays ``(epochs,)``: ``"errors"``, the training rows misclassified
    after the epoch (some column with ``t·s ≤ 0``; 0 once converged), ``"loss"``, the mean
    criterion over the epoch's steps, and ``"skipped_steps"``, steps the non-finite guard
    rejected (an overflow; 0 in any ordinary run).
    """

    params: DenseParams
    averaged: DenseParams
    state: Any
    history: dict


def perceptron_fit(
    x: Any,
    targets: Any,
    *,
    key: PRNGKey,
    epochs: int,
    learning_rate: Any = 1.0,
    shuffle: bool = True,
) -> PerceptronFit:
    """Train a perceptron online, one example at a time, for ``epochs`` passes.

    Each example is one step of ``fnnet.training.make_train_step`` on
    :func:`perceptron_criterion` (whose gradient is the perceptron rule) with the optimizer
    ``chain(sgd(learning_rate), polyak_average())``, so the core's non-finite guard protects it,
    and the epochs are ``fnnet.training.make_epoch``'s (batches of one row, the same key
    schedule as ``fnnet.fit``: epoch ``e`` shuffles with ``split(fold_in(key, e))[0]``). The
    program is compiled once per shape and flag, and reused by later calls.

    Args:
        x: inputs ``(n, features)``; integer data is cast to the default float dtype
            (float32). NaN or ±inf is refused, naming the row.
        targets: ``±1`` of shape ``(n, k)``: ``k = 1`` binary, or one-vs-rest columns from
            :func:`signed_targets`.
        key: shuffles the example order of each epoch (keyword-only).
        epochs: passes over the data (a perceptron on separable data stops making mistakes
            and then no longer changes; ``history["errors"]`` shows when).
        learning_rate: ``η > 0`` (an array leaf: sweepable with ``vmap``); from ``w = 0`` the
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
    x = check_samples("x", x)
    layout = "(n, k): build them with signed_targets(labels, num_classes)"
    targets = check_ndim("targets", jnp.asarray(targets), (2,), layout=layout)
    targets = check_rows("targets", targets, x.shape[0], like="x").astype(x.dtype)
    _check_signed(targets, jnp.zeros(targets.shape, x.dtype))
    state, history = _train(
        x, targets, jnp.asarray(learning_rate, x.dtype), key, epochs=epochs, shuffle=shuffle
    )
    return PerceptronFit(state.params, averaged_params(state.opt_state), state, history)


@functools.partial(jax.jit, static_argnames=("epochs", "shuffle"))
def _train(x, targets, learning_rate, key, *, epochs, shuffle):
    """The whole run, pure: ``make_epoch`` of the guarded train step, epochs in ``lax.scan``.
    A module-level ``jit`` whose optimizer is built inside from the ``learning_rate`` leaf: one
    compilation per shape and flag, whatever the call."""
    optimizer = chain(sgd(learning_rate), polyak_average())
    train_step = training.make_train_step(_scores, perceptron_criterion, optimizer)
    epoch = training.make_epoch(
        train_step.step, None, batch_size=1, halt_on_nonfinite=False, shuffle=shuffle
    )
    params = perceptron_init(x.shape[1], targets.shape[1], dtype=x.dtype)
    data = {"x": x, "y": targets}

    def body(run, index):
        run, record = epoch(run, data, key, index)
        margins = targets * _scores(run.train.params, x)
        errors = jnp.sum(jnp.any(margins <= 0, axis=-1)).astype(jnp.int32)
        return run, {"errors": errors, "loss": record.loss, "skipped_steps": record.skipped_steps}

    run = epoch.init(train_step.init(params))
    run, history = jax.lax.scan(body, run, jnp.arange(epochs, dtype=jnp.int32))
    return run.train, history
