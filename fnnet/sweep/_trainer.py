"""The per-member training function of a sweep: ``make_trainer`` builds it from fnnet pieces.

``trainer.run(hparams, key, data) -> (metrics, params)`` is one complete training run as a pure
function: parameter initialisation, then ``lax.scan`` over epochs of the same epoch function
``fnnet.fit`` compiles (:func:`fnnet.training.make_epoch`: shuffle, scan of the train step,
validation, the early-stopping update). It can be ``vmap``-ped over members
(:func:`fnnet.sweep.run`) without a host round trip per member or per epoch, and a member equals
``fnnet.fit(..., key=fold_in(key, 1), skip_nonfinite=True)`` by construction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from fnnet._checks import (
    check_at_most_rows,
    check_callable,
    check_positive_int,
    is_layer,
    is_optimizer,
)
from fnnet._data_checks import as_pair, check_labels, num_rows
from fnnet._types import Array, Params, PRNGKey
from fnnet.training import make_epoch, make_eval_step, make_train_step

Metrics = dict[str, Any]  # 0-d arrays per member, plus "history": {name: (epochs,) arrays}
RunFn = Callable[[dict[str, Array], PRNGKey, Any], tuple[Metrics, Params]]
HISTORY = ("loss", "accuracy", "val_loss", "val_accuracy", "skipped_steps")


class Trainer(NamedTuple):
    """A member's training function and the data every member reads.

    ``run(hparams, key, data) -> (metrics, params)`` is pure; ``data`` (a pytree of arrays) is
    passed to the compiled sweep as an argument, shared by all members, not baked into it.
    ``exact`` (optional) is the same run with the full per-step guard: ``run`` checks the new
    state once per epoch (``metrics["state_finite"]``) and :func:`fnnet.sweep.run` re-runs
    the members it flags with ``exact``, whose results are what a fully guarded run gives.
    """

    run: RunFn
    data: Any
    exact: RunFn | None = None


def make_trainer(
    model: Any,
    loss: Callable[[Array, Array], Array],
    optimizer: Any,
    data: Any,
    *,
    epochs: int,
    batch_size: int,
    validation: Any = None,
    penalty: Callable[[Params, dict[str, Array]], Array] | None = None,
    patience: int | None = None,
) -> Trainer:
    """Build a member's training run from fnnet pieces: epochs in ``lax.scan``, keys as in ``fit``.

    The member's key splits into ``fold_in(key, 0)`` (parameter initialisation, with the shape
    of one training batch, ``(batch_size, *x.shape[1:])``) and ``fit_key = fold_in(key, 1)``;
    the epochs are ``fnnet.fit``'s own epoch function, so a
    member equals ``fnnet.fit(..., key=fit_key, skip_nonfinite=True)`` (to float32 rounding of
    vmapped matmuls). Non-finite steps are skipped and counted.

    With ``patience``, each member stops on its own after ``patience`` epochs without a better
    validation loss, inside the compiled loop: a stopped member's state is frozen (the epoch's
    ``active`` flag), keeps its best parameters and returns them, while the others train on.

    Args:
        model: a ``Layer`` (``init``, ``apply``), or ``hparams -> Layer`` to sweep values the
            layers hold (``fnnet.Dropout(hp["drop_rate"])``).
        loss: ``loss(outputs, y) -> scalar``.
        optimizer: an ``Optimizer``, or ``hparams -> Optimizer``
            (``lambda hp: fnnet.optimizers.adam(hp["learning_rate"])``).
        data: ``(x, y)`` or a ``fnnet.data.Dataset``, as in ``fit``: ``x`` and ``y`` may be
            pytrees of arrays batched on their rows (``((sequences, lengths), labels)``);
            ``validation``: optional pair like it, evaluated after every epoch.
        epochs: as in ``fit``.
        batch_size: as in ``fit``.
        penalty: optional ``penalty(params, hparams) -> scalar`` added to the training loss
            (``lambda p, hp: fnnet.regularizers.l2_penalty(p, hp["weight_decay"])``).
        patience: per-member early stopping on the validation loss (needs ``validation``).

    Returns:
        A ``Trainer`` whose ``run(hparams, key, data)`` returns ``(metrics, params)``:
        ``metrics`` holds ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy`` of the returned
        parameters' epoch (the best one with ``patience``, else the last), ``best_epoch``
        (lowest validation loss, ``-1`` without validation), ``epochs_run``, ``stopped_early``,
        ``steps_taken`` (updates applied), ``state_finite`` (the per-epoch state check), and
        ``history``: per-epoch ``loss``, ``accuracy``,
        ``val_loss``, ``val_accuracy``, ``skipped_steps`` (NaN after a member stopped).
    """
    x, y = as_pair("data", data)
    epochs = check_positive_int("epochs", epochs)
    batch_size = check_at_most_rows("batch_size", batch_size, num_rows(("data", x)), data="data")
    arrays = {"x": x, "y": y}
    if validation is not None:
        arrays["val_x"], arrays["val_y"] = as_pair("validation", validation, like=(x, y))
    if patience is not None:
        if validation is None:
            raise ValueError(
                f"`patience` needs `validation` data; got patience={patience!r} and validation=None."
            )
        patience = check_positive_int("patience", patience)
    if not (is_layer(model) or callable(model)):
        raise TypeError(f"`model` must be a Layer or a function hparams -> Layer; got {model!r}.")
    if not (is_optimizer(optimizer) or callable(optimizer)):
        raise TypeError(
            f"`optimizer` must be an Optimizer or a function hparams -> Optimizer; got {optimizer!r}."
        )
    if penalty is not None:
        check_callable("penalty", penalty, example="lambda params, hparams: ...")
    has_val = validation is not None
    labels = [("data", y)] + ([("validation", arrays["val_y"])] if has_val else [])

    def member(hparams, key, data, *, check_update: bool) -> tuple[Metrics, Params]:
        # A Layer and an Optimizer: `model` and `optimizer` are checked above to be one or a
        # function of the hparams returning one (sweep imports neither layers nor optimizers).
        net: Any = model if is_layer(model) else model(hparams)
        opt: Any = optimizer if is_optimizer(optimizer) else optimizer(hparams)
        penalize = penalty  # a local name, which the type checker narrows inside the lambda
        reg = None if penalize is None else (lambda p: penalize(p, hparams))
        train_step = make_train_step(net.apply, loss, opt, penalty=reg, check_update=check_update)
        evaluate = make_eval_step(net.apply, loss) if has_val else None
        epoch = make_epoch(
            train_step.step, evaluate, batch_size=batch_size, halt_on_nonfinite=False
        )
        # The shape of one training batch (of x's first leaf, for an (x, lengths) input):
        # layers take batched shapes, docs/architecture.md's layer contract.
        first = jax.tree_util.tree_leaves(data["x"])[0]
        params = net.init(jax.random.fold_in(key, 0), (batch_size, *first.shape[1:]))
        fit_key = jax.random.fold_in(key, 1)
        # Traced once per program: the concrete labels against the model's output width.
        check_labels(
            net.apply, params, x, labels, key=fit_key, batch_size=batch_size, model="model"
        )

        def body(state, index):
            return epoch(state, data, fit_key, index)

        first = epoch.init(train_step.init(params), patience=patience)
        end, records = jax.lax.scan(body, first, jnp.arange(epochs, dtype=jnp.int32))
        history = {k: getattr(records, k) for k in HISTORY}
        epochs_run = jnp.sum(records.active).astype(jnp.int32)
        best_epoch = (
            jnp.full((), -1, jnp.int32) if end.stopping is None else end.stopping.best_epoch
        )
        use_best = (best_epoch >= 0) if patience is not None else jnp.zeros((), bool)
        final = jnp.where(use_best, best_epoch, epochs_run - 1)
        metrics = {k: history[k][final] for k in ("loss", "accuracy", "val_loss", "val_accuracy")}
        stopped = jnp.zeros((), bool) if end.stopping is None else end.stopping.stopped
        metrics.update(
            best_epoch=best_epoch, epochs_run=epochs_run, stopped_early=stopped,
            steps_taken=jnp.sum(records.steps), state_finite=jnp.all(records.state_finite),
            history=history,
        )  # fmt: skip
        if end.stopping is None:
            return metrics, end.train.params
        select = lambda b, p: jnp.where(use_best, b, p)  # noqa: E731
        return metrics, jax.tree_util.tree_map(select, end.stopping.best_params, end.train.params)

    def run(hparams: dict[str, Array], key: PRNGKey, data: dict[str, Array]):
        return member(hparams, key, data, check_update=False)

    def exact(hparams: dict[str, Array], key: PRNGKey, data: dict[str, Array]):
        return member(hparams, key, data, check_update=True)

    return Trainer(run, arrays, exact)
