"""The per-member training function of a sweep: ``make_trainer`` builds it from fnnet pieces.

``trainer.run(hparams, key, data) -> (metrics, params)`` is one complete training run as a pure
function: parameter initialisation, epochs in ``lax.scan`` (each a ``lax.scan`` of
:func:`fnnet.train.make_train_step` over :func:`fnnet.data.minibatches`), validation after every
epoch and early stopping with masks in the scan carry, so it can be ``vmap``-ped over members
(:func:`fnnet.sweep.run`) without a host round trip per member or per epoch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from fnnet._types import Array, Params, PRNGKey
from fnnet.data import check_pair, minibatches
from fnnet.train import init_state, make_eval_step, make_train_step

Metrics = dict[str, Any]  # 0-d arrays per member, plus "history": {name: (epochs,) arrays}
RunFn = Callable[[dict[str, Array], PRNGKey, Any], tuple[Metrics, Params]]


class Trainer(NamedTuple):
    """A member's training function and the data every member reads.

    ``run(hparams, key, data) -> (metrics, params)`` is pure; ``data`` (a pytree of arrays) is
    passed to the compiled sweep as an argument, shared by all members, not baked into it.
    """

    run: RunFn
    data: Any


class _Carry(NamedTuple):  # what the epoch scan carries for one member
    state: Any
    best_params: Params
    best_loss: Array
    best_epoch: Array
    wait: Array
    stopped: Array


def _check_int(name: str, value: Any, low: int) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
        raise ValueError(f"`{name}` must be an int >= {low}; got {value!r}.")
    return int(value)


def _is_layer(obj: Any) -> bool:
    return (
        isinstance(obj, tuple)
        and callable(getattr(obj, "init", None))
        and callable(getattr(obj, "apply", None))
    )


def _is_optimizer(obj: Any) -> bool:
    return (
        isinstance(obj, tuple)
        and callable(getattr(obj, "init", None))
        and callable(getattr(obj, "update", None))
    )


def _select(flag: Array, new: Any, old: Any) -> Any:
    return jax.tree_util.tree_map(lambda n, o: jnp.where(flag, n, o), new, old)


def _mean_where(values: Array, ok: Array) -> Array:
    count = jnp.sum(ok)
    total = jnp.sum(jnp.where(ok, values, jnp.zeros_like(values)))
    return jnp.where(count > 0, total / jnp.maximum(count, 1).astype(values.dtype), jnp.nan)


def make_trainer(
    model: Any,
    loss: Callable[[Array, Array], Array],
    optimizer: Any,
    train: tuple[Any, Any],
    *,
    epochs: int,
    batch_size: int,
    validation: tuple[Any, Any] | None = None,
    penalty: Callable[[Params, dict[str, Array]], Array] | None = None,
    patience: int | None = None,
) -> Trainer:
    """Build a member's training run from fnnet pieces: epochs in ``lax.scan``, keys as in ``fit``.

    The member's key splits into ``fold_in(key, 0)`` (parameter initialisation) and
    ``fit_key = fold_in(key, 1)``; epoch ``e`` then shuffles and draws dropout masks exactly as
    ``fnnet.fit(..., key=fit_key)`` does, so a member equals that ``fit`` run (to float32
    rounding). Non-finite steps are skipped (``fit``'s ``skip_nonfinite=True``) and counted.

    With ``patience``, each member stops on its own after ``patience`` epochs without a better
    validation loss, inside the compiled loop: a stopped member's state is masked out of the
    updates (the scan carries a ``stopped`` flag), keeps its best parameters and returns them,
    while the others train on.

    Args:
        model: a ``Layer`` (``init``, ``apply``), or ``hparams -> Layer`` to sweep values the
            layers hold (``fnnet.Dropout(hp["drop_rate"])``).
        loss: ``loss(outputs, y) -> scalar``.
        optimizer: an ``Optimizer``, or ``hparams -> Optimizer``
            (``lambda hp: fnnet.optimizers.adam(hp["learning_rate"])``).
        train: ``(x, y)``; ``validation``: optional ``(x, y)`` evaluated after every epoch.
        epochs, batch_size: as in ``fit``.
        penalty: optional ``penalty(params, hparams) -> scalar`` added to the training loss
            (``lambda p, hp: fnnet.regularizers.l2_penalty(p, hp["weight_decay"])``).
        patience: per-member early stopping on the validation loss (needs ``validation``).

    Returns:
        A ``Trainer`` whose ``run(hparams, key, data)`` returns ``(metrics, params)``:
        ``metrics`` holds ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy`` of the returned
        parameters' epoch (the best one with ``patience``, else the last), ``best_epoch``
        (lowest validation loss, ``-1`` without validation), ``epochs_run``, ``stopped_early``,
        and ``history``: per-epoch ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``,
        ``skipped_steps`` (NaN after a member stopped).
    """
    x, y = check_pair("train", train)
    epochs = _check_int("epochs", epochs, 1)
    batch_size = _check_int("batch_size", batch_size, 1)
    if batch_size > x.shape[0]:
        raise ValueError(
            f"`batch_size` ({batch_size}) must be at most the number of training rows ({x.shape[0]})."
        )
    data = {"x": x, "y": y}
    if validation is not None:
        data["val_x"], data["val_y"] = check_pair("validation", validation)
    if patience is not None:
        if validation is None:
            raise ValueError(
                f"`patience` needs `validation` data; got patience={patience!r} and validation=None."
            )
        patience = _check_int("patience", patience, 1)
    if not (_is_layer(model) or callable(model)):
        raise TypeError(f"`model` must be a Layer or a function hparams -> Layer; got {model!r}.")
    if not (_is_optimizer(optimizer) or callable(optimizer)):
        raise TypeError(
            f"`optimizer` must be an Optimizer or a function hparams -> Optimizer; got {optimizer!r}."
        )
    if penalty is not None and not callable(penalty):
        raise TypeError(
            f"`penalty` must be a function (params, hparams) -> scalar; got {penalty!r}."
        )
    has_val = validation is not None

    def run(
        hparams: dict[str, Array], key: PRNGKey, data: dict[str, Array]
    ) -> tuple[Metrics, Params]:
        net = model if _is_layer(model) else model(hparams)
        opt = optimizer if _is_optimizer(optimizer) else optimizer(hparams)
        reg = None if penalty is None else (lambda p: penalty(p, hparams))
        step = make_train_step(net.apply, loss, opt, penalty=reg)
        evaluate = make_eval_step(net.apply, loss)
        params = net.init(jax.random.fold_in(key, 0), data["x"].shape[1:])
        fit_key = jax.random.fold_in(key, 1)
        nan = jnp.full((), jnp.nan, jnp.float32)

        def epoch_body(carry: _Carry, epoch: Array) -> tuple[_Carry, dict[str, Array]]:
            shuffle_key, step_key = jax.random.split(jax.random.fold_in(fit_key, epoch))
            batches = minibatches(shuffle_key, data["x"], data["y"], batch_size)

            active = ~carry.stopped

            def body(state, batch):  # a stopped member's steps leave its params and optimizer state
                return step(
                    state,
                    batch,
                    jax.random.fold_in(step_key, state.step),
                    active=active,
                )

            state, m = jax.lax.scan(body, carry.state, (batches.x, batches.y))
            ok = m.applied
            record = {
                "loss": _mean_where(m.loss, ok),
                "accuracy": _mean_where(m.accuracy, ok),
                "skipped_steps": jnp.sum(~ok).astype(jnp.float32),
                "val_loss": nan,
                "val_accuracy": nan,
            }
            best = carry._replace(state=state)
            if has_val:
                val_loss, val_acc = evaluate(state.params, data["val_x"], data["val_y"])
                record["val_loss"], record["val_accuracy"] = (
                    val_loss.astype(jnp.float32),
                    val_acc,
                )
                improved = active & (record["val_loss"] < carry.best_loss)
                wait = jnp.where(improved, 0, carry.wait + active.astype(jnp.int32))
                best = _Carry(
                    state,
                    _select(improved, state.params, carry.best_params),
                    jnp.where(improved, record["val_loss"], carry.best_loss),
                    jnp.where(improved, epoch, carry.best_epoch),
                    wait,
                    carry.stopped | (wait >= patience) if patience is not None else carry.stopped,
                )
            record = {k: jnp.where(active, v, nan) for k, v in record.items()}
            return best, record

        start = _Carry(
            init_state(params, opt),
            params,
            jnp.full((), jnp.inf, jnp.float32),
            jnp.full((), -1, jnp.int32),
            jnp.zeros((), jnp.int32),
            jnp.zeros((), bool),
        )
        end, history = jax.lax.scan(epoch_body, start, jnp.arange(epochs, dtype=jnp.int32))
        epochs_run = jnp.sum(jnp.isfinite(history["skipped_steps"])).astype(jnp.int32)
        use_best = (end.best_epoch >= 0) if patience is not None else jnp.zeros((), bool)
        final = jnp.where(use_best, end.best_epoch, epochs_run - 1)
        metrics = {k: history[k][final] for k in ("loss", "accuracy", "val_loss", "val_accuracy")}
        metrics.update(
            best_epoch=end.best_epoch,
            epochs_run=epochs_run,
            stopped_early=end.stopped,
            history=history,
        )
        return metrics, _select(use_best, end.best_params, end.state.params)

    return Trainer(run, data)


__all__ = ["Metrics", "RunFn", "Trainer", "make_trainer"]
