"""Ensembles: seeds of one configuration trained together, their mean prediction and scores."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from fnnet._checks import check_bool
from fnnet._types import Array, Params, PRNGKey
from fnnet.sweep._run import SweepResult, run
from fnnet.sweep._space import point


class EnsembleMetrics(NamedTuple):
    """An ensemble's scores on labelled data: the averaged prediction's and each member's."""

    accuracy: Array  # accuracy of the arg-max of the averaged class probabilities
    nll: Array  # −mean log p̄(y), p̄ the averaged probabilities
    member_accuracy: Array  # (size,)


def ensemble(
    trainer: Any,
    hparams: dict[str, Any],
    key: PRNGKey,
    *,
    size: int,
    chunk_size: int | None = None,
    mesh: jax.sharding.Mesh | None = None,
) -> SweepResult:
    """Train ``size`` seeds of one configuration together (one compiled program).

    Returns a ``SweepResult`` with the single axis ``"seed"`` and ``params`` kept: every leaf
    leads with ``(size,)``, ready for :func:`predict_ensemble`. Member ``s`` is the sweep
    member with seed ``s``: it reproduces ``trainer.run(hparams, member_key(key, s), trainer.data)``.
    """
    return run(
        trainer,
        point(**hparams),
        key,
        seeds=size,
        keep_params=True,
        chunk_size=chunk_size,
        mesh=mesh,
    )


def _member_outputs(apply: Callable[..., Array], params: Params, x: Any) -> Array:
    x = jax.tree_util.tree_map(jnp.asarray, x)  # an array or a pytree such as (x, lengths)
    return jax.vmap(lambda p: apply(p, x, training=False))(params)


def predict_ensemble(
    apply: Callable[..., Array], params: Params, x: Any, *, probabilities: bool = False
) -> Array:
    """The members' mean prediction on ``x`` (inference mode).

    Args:
        apply: the model's apply function; ``params`` the members' params stacked on axis 0.
        x: inputs ``(batch, ...)``, or a pytree of them (``(sequences, lengths)``).
        probabilities: average the members' softmax probabilities (classifiers with logit
            outputs) instead of their raw outputs (regression).

    Returns:
        ``(batch, out_dim)``: the mean over members of the outputs or of the probabilities.
    """
    check_bool("probabilities", probabilities)
    outputs = _member_outputs(apply, params, x)
    if probabilities:
        outputs = jax.nn.softmax(outputs, axis=-1)
    return outputs.mean(axis=0)


def evaluate_ensemble(
    apply: Callable[..., Array], params: Params, x: Any, y: Array
) -> EnsembleMetrics:
    """Score a classifier ensemble on ``(x, y)`` (integer labels): averaged probabilities vs members."""
    y = jnp.asarray(y)
    if not jnp.issubdtype(y.dtype, jnp.integer) or y.ndim != 1:
        raise ValueError(
            f"`y` must be integer class labels of shape (batch,); got shape {y.shape} dtype {y.dtype}."
        )
    probs = jax.nn.softmax(_member_outputs(apply, params, x), axis=-1)
    mean = probs.mean(axis=0)
    hit = lambda p: jnp.mean((jnp.argmax(p, axis=-1) == y).astype(jnp.float32))  # noqa: E731
    nll = -jnp.mean(jnp.log(jnp.take_along_axis(mean, y[:, None], axis=-1)))
    return EnsembleMetrics(hit(mean), nll, jax.vmap(hit)(probs))
