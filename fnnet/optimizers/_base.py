"""The ``Optimizer(init, update)`` contract, :func:`chain` and :func:`apply_updates`.

The protocol (optax's)::

    state = opt.init(params)
    updates, state = opt.update(grads, state, params)   # params: needed by weight decay only
    params = apply_updates(params, updates)             # params + updates, leaf by leaf

``update`` returns *updates*, not new params, which is what lets transforms compose:
``chain(clip_by_global_norm(1.0), scale_by_adam(), scale_by_learning_rate(1e-3))`` is Adam with
clipping. Updates are *added* to the params, so the descent sign lives in
``scale_by_learning_rate`` (``−lr · g``). Each transform's ``update`` checks that its state is
the one its ``init`` makes (``check_state``), so a state from another optimizer is a
:class:`StateMismatchError`, never an ``AttributeError`` deep inside.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from fnnet._checks import check_optimizer
from fnnet._types import Grads, OptState, Params
from fnnet.optimizers._hyperparams import as_hyperparam
from fnnet.optimizers._tree import check_same_tree


class Optimizer(NamedTuple):
    """A gradient transformation: ``init(params) -> state``, ``update(grads, state, params=None)``.

    ``update`` returns ``(updates, new_state)``; apply the updates with :func:`apply_updates`.
    """

    init: Callable[[Params], OptState]
    update: Callable[..., tuple[Grads, OptState]]


class StateMismatchError(TypeError):
    """An optimizer ``update`` was given a state made by another optimizer's ``init``."""

    chain_context: bool = False  # set by chain on the error it re-raises with its position


def check_state(state: Any, state_type: type | tuple[type, ...], who: str) -> None:
    """Raise :class:`StateMismatchError` unless ``state`` is an instance of ``state_type``.

    ``who`` names the transform (``"scale_by_adam"``); the message shows the state it expects
    (type and fields) and the structure it got.
    """
    if isinstance(state, state_type):
        return
    types = state_type if isinstance(state_type, tuple) else (state_type,)
    expected = " or ".join(f"{t.__name__}({', '.join(t._fields)})" for t in types)
    raise StateMismatchError(
        f"`state` given to {who}'s update is not a state made by {who}'s init: expected "
        f"{expected}, got {type(state).__name__} with tree {jax.tree_util.tree_structure(state)}. "
        f"Was it made by another optimizer's init? Call init of the optimizer you update with."
    )


def hyperparam_transform(
    state_type: type, value: Any, who: str, apply: Callable[[Grads, Any, Any], Grads]
) -> Optimizer:
    """A transform whose state is one stored hyperparameter (``state_type``'s only field).

    ``init`` stores ``value`` (:func:`as_hyperparam`); ``update`` checks the state
    (:func:`check_state`) and returns ``apply(updates, hyperparameter, params)`` with the state
    unchanged. ``scale``, ``scale_by_learning_rate`` (a constant ``η``), the clippings and the
    decoupled decays are built this way.
    """

    def init(params: Params) -> Any:
        return state_type(as_hyperparam(value, params))

    def update(updates: Grads, state: Any, params: Params | None = None) -> tuple[Grads, Any]:
        check_state(state, state_type, who)
        return apply(updates, state[0], params), state

    return Optimizer(init, update)


def apply_updates(params: Params, updates: Grads) -> Params:
    """``params + updates`` leaf by leaf; each update is cast to its param's dtype.

    Raises:
        TypeError: if the trees differ in structure (both are shown).
    """
    check_same_tree(updates, params, name="updates")
    return jax.tree_util.tree_map(
        lambda p, u: p + jnp.asarray(u).astype(jnp.result_type(p)), params, updates
    )


def _expected(init: Callable[[Params], OptState], params: Params | None) -> str:
    """The state tree ``init(params)`` makes, for an error message (shapes only, no compute)."""
    if params is None:
        return ""
    expected = jax.tree_util.tree_structure(jax.eval_shape(init, params))
    return f" This optimizer's init makes {expected}."


def chain(*transforms: Optimizer) -> Optimizer:
    """Compose transforms: each ``update`` feeds the next; the state is the tuple of their states.

    Args:
        *transforms: ``Optimizer`` pairs, applied first to last.
    """
    for i, t in enumerate(transforms):
        check_optimizer(f"transforms[{i}]", t)

    def init(params: Params) -> tuple:
        return tuple(t.init(params) for t in transforms)

    def update(updates: Grads, state: tuple, params: Params | None = None) -> tuple[Grads, tuple]:
        if not isinstance(state, tuple) or len(state) != len(transforms):
            raise StateMismatchError(
                f"`state` must be the tuple of {len(transforms)} states from this chain's init; "
                f"got {type(state).__name__} with tree {jax.tree_util.tree_structure(state)}."
                f"{_expected(init, params)}"
            )
        if params is not None:
            check_same_tree(updates, params)
        new_state = []
        for i, (t, s) in enumerate(zip(transforms, state)):
            try:
                updates, s = t.update(updates, s, params)
            except StateMismatchError as error:
                if getattr(error, "chain_context", False):
                    raise
                new = StateMismatchError(
                    f"transform {i} of the chain: {error}{_expected(init, params)}"
                )
                new.chain_context = True
                raise new from None
            new_state.append(s)
        return updates, tuple(new_state)

    return Optimizer(init, update)
