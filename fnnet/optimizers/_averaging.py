"""Polyak–Ruppert averaging: the running mean of the iterates, kept in the optimizer state.

``chain(sgd(η), polyak_average())`` trains as ``sgd(η)`` does (the updates pass through
unchanged) and also sums the parameters after every update; :func:`averaged_params` reads their
mean. The averaged perceptron (Collins 2002; scikit-learn's ``SGDClassifier(average=True)``) is
the perceptron rule with this transform.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from fnnet._types import Array, Params
from fnnet.optimizers._base import Optimizer, StateMismatchError, apply_updates, check_state
from fnnet.optimizers._hyperparams import safe_increment
from fnnet.optimizers._tree import check_state_tree


class PolyakAverageState(NamedTuple):
    total: Params  # like params: the sum of the params after each update
    count: Array  # shape (), int32: the updates summed


def polyak_average() -> Optimizer:
    """Sum the parameters after every update; their mean is the Polyak–Ruppert average.

    ``update(u, state, params)`` returns ``u`` unchanged and adds ``params + u`` (the new
    parameters) to ``state.total``. Chain it **last**, after the transform that sets the step
    (``chain(sgd(η), polyak_average())``), so ``u`` is the final update. Read the average with
    :func:`averaged_params`. No hyperparameters; the count saturates at the int32 maximum.

    References:
        Polyak & Juditsky, "Acceleration of stochastic approximation by averaging", 1992.
        Collins, "Discriminative training methods for hidden Markov models: theory and
        experiments with perceptron algorithms", EMNLP 2002 (the averaged perceptron).

    Example:
        >>> import jax.numpy as jnp
        >>> from fnnet.optimizers import apply_updates, averaged_params, chain, polyak_average, sgd
        >>> opt = chain(sgd(1.0), polyak_average())
        >>> params, state = {"w": jnp.zeros(1)}, opt.init({"w": jnp.zeros(1)})
        >>> for g in (-1.0, -3.0):  # params after each update: 1, then 4
        ...     updates, state = opt.update({"w": jnp.array([g])}, state, params)
        ...     params = apply_updates(params, updates)
        >>> averaged_params(state)["w"]
        Array([2.5], dtype=float32)
    """

    def init(params: Params) -> PolyakAverageState:
        return PolyakAverageState(
            jax.tree_util.tree_map(jnp.zeros_like, params), jnp.zeros((), jnp.int32)
        )

    def update(updates: Any, state: PolyakAverageState, params: Params | None = None):
        check_state(state, PolyakAverageState, "polyak_average")
        if params is None:
            raise ValueError("`params` must be passed to update: polyak_average sums them.")
        check_state_tree(updates, state.total)
        total = jax.tree_util.tree_map(jnp.add, state.total, apply_updates(params, updates))
        return updates, PolyakAverageState(total, safe_increment(state.count))

    return Optimizer(init, update)


def averaged_params(opt_state: Any) -> Params:
    """The mean of the parameters after every update so far (the params' zeros before any).

    Args:
        opt_state: a :class:`PolyakAverageState`, or an optimizer state holding exactly one
            (e.g. the state of ``chain(sgd(η), polyak_average())``).

    Returns:
        A pytree like the params: ``total / max(count, 1)``.
    """
    found = [
        s
        for s in jax.tree_util.tree_leaves(
            opt_state, is_leaf=lambda s: isinstance(s, PolyakAverageState)
        )
        if isinstance(s, PolyakAverageState)
    ]
    if len(found) != 1:
        raise StateMismatchError(
            f"`opt_state` must hold exactly one PolyakAverageState (the state of an optimizer "
            f"chained with polyak_average()); found {len(found)} in "
            f"{jax.tree_util.tree_structure(opt_state)}."
        )
    state = found[0]

    def mean(total: Array) -> Array:
        return total / jnp.maximum(state.count, 1).astype(total.dtype)

    return jax.tree_util.tree_map(mean, state.total)
