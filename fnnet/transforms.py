"""The ``Optimizer(init, update)`` contract, ``chain``, and the small stateless-math transforms.

The protocol (optax's)::

    state = opt.init(params)
    updates, state = opt.update(grads, state, params)   # params: needed by weight decay only
    params = apply_updates(params, updates)             # params + updates, leaf by leaf

``update`` returns *updates*, not new params, which is what lets transforms compose:
``chain(clip_by_global_norm(1.0), scale_by_adam(), scale_by_learning_rate(1e-3))`` is Adam with
clipping. Updates are *added* to the params, so the descent sign lives in
:func:`scale_by_learning_rate` (``−lr · g``).

**Hyperparameters are state.** ``init`` stores every hyperparameter (learning rate, betas,
eps, momentum, weight decay, clipping thresholds) in the state as a typed 0-d array: float32,
or float64 if any params leaf is float64 (float32 for bfloat16/float16 params, so ``1 − β₂``
does not round to 0). ``update`` reads them from the state, never from the closure, so

* a jitted ``step(params, state, grads)`` does not recompile when a value stored in the state
  changes (:func:`set_hyperparams`), and
* an optimizer built inside ``jax.vmap`` from an array of learning rates (or betas, decays,
  seeds) runs all of them in one compiled program.

The hyperparameter's arithmetic (``1 − β``, bias corrections) runs in the state dtype; the
resulting coefficients are cast to each gradient leaf's dtype, so updates have the gradients'
dtype. A learning-rate *schedule* is a closure of the step count kept in the state; its own
parameters are closed over (build it inside the vmapped function to sweep them).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from fnnet._checks import check_real, is_concrete
from fnnet._types import Array, Grads, OptState, Params

_INT32_MAX = np.iinfo(np.int32).max


class Optimizer(NamedTuple):
    """A gradient transformation: ``init(params) -> state``, ``update(grads, state, params=None)``.

    ``update`` returns ``(updates, new_state)``; apply the updates with :func:`apply_updates`.
    """

    init: Callable[[Params], OptState]
    update: Callable[..., tuple[Grads, OptState]]


# ---------------------------------------------------------------- hyperparameters in the state

_HYPERPARAMS: dict[type, tuple[str, ...]] = {}


def register_hyperparams(*names: str) -> Callable[[type], type]:
    """Class decorator: declare which fields of a state NamedTuple are hyperparameters.

    :func:`get_hyperparams` and :func:`set_hyperparams` read and replace exactly these fields.
    """

    def register(cls: type) -> type:
        missing = [n for n in names if n not in getattr(cls, "_fields", ())]
        if missing:
            raise TypeError(f"`{cls.__name__}` has no fields {missing}; fields: {cls._fields}.")
        _HYPERPARAMS[cls] = names
        return cls

    return register


def hyperparam_dtype(params: Params) -> Any:
    """The dtype hyperparameters are stored in: float64 if any ``params`` leaf is, else float32."""
    for leaf in jax.tree_util.tree_leaves(params):
        if getattr(leaf, "dtype", None) == jnp.float64:
            return jnp.float64
    return jnp.float32


def store(value: Any, dtype: Any) -> Array:
    """``value`` (a number or a 0-d array, maybe traced) as a 0-d array of ``dtype``."""
    return jnp.asarray(value, dtype=dtype)


def _map_hyperparams(state: Any, fn: Callable[[str, Array], Array]) -> Any:
    names = _HYPERPARAMS.get(type(state))
    if names is not None:
        return state._replace(**{n: fn(n, getattr(state, n)) for n in names})
    if isinstance(state, tuple) and hasattr(state, "_fields"):
        return type(state)(*(_map_hyperparams(s, fn) for s in state))
    if isinstance(state, (tuple, list)):
        return type(state)(_map_hyperparams(s, fn) for s in state)
    if isinstance(state, dict):
        return {k: _map_hyperparams(v, fn) for k, v in state.items()}
    return state


def get_hyperparams(state: OptState) -> dict[str, Array]:
    """The hyperparameters stored in an optimizer state, by name (``learning_rate``, ``b1``, ...).

    Raises:
        ValueError: if a name occurs in more than one transform of a chain; read such values
            from the state directly (``state[i].learning_rate``).
    """
    found: dict[str, Array] = {}

    def collect(name, value):
        if name in found:
            raise ValueError(
                f"hyperparameter `{name}` occurs in several transforms of this state; "
                f"read it from the state directly, e.g. state[i].{name}."
            )
        found[name] = value
        return value

    _map_hyperparams(state, collect)
    return found


def set_hyperparams(state: OptState, **values: Any) -> OptState:
    """Return ``state`` with the named hyperparameters replaced (in every transform holding them).

    Each value is cast to the stored dtype; it must have the stored shape (``()``, or the sweep
    axis for a vmapped state) or be 0-d, and be finite where it is concrete (the ranges each
    transform checks at construction are not re-checked here). A jitted step fed the new state
    is not recompiled.

    Example:
        >>> import jax.numpy as jnp, fnnet
        >>> opt = fnnet.optimizers.adam(1e-3)
        >>> state = opt.init({"w": jnp.zeros((2, 2))})
        >>> state = set_hyperparams(state, learning_rate=0.01, b2=0.99)
        >>> float(get_hyperparams(state)["learning_rate"])
        0.009999999776482582
    """
    seen: set[str] = set()

    def replace(name, old):
        seen.add(name)
        if name not in values:
            return old
        new = values[name]
        if isinstance(new, (bool, np.bool_, str, bytes)) or callable(new) or new is None:
            raise TypeError(f"`{name}` must be a real number or an array; got {new!r}.")
        check = jnp.shape(new)
        if check not in ((), jnp.shape(old)):
            raise ValueError(
                f"`{name}` must have shape () or the stored shape {jnp.shape(old)}; got {check}."
            )
        if is_concrete(new) and not np.all(np.isfinite(np.asarray(new, dtype=np.float64))):
            raise ValueError(f"`{name}` must be finite; got {new!r}.")
        return jnp.broadcast_to(jnp.asarray(new, dtype=old.dtype), jnp.shape(old))

    new_state = _map_hyperparams(state, replace)
    unknown = sorted(set(values) - seen)
    if unknown:
        raise ValueError(
            f"no hyperparameter named {unknown} in this optimizer state; it holds {sorted(seen)}."
        )
    return new_state


# ---------------------------------------------------------------- trees


def check_same_tree(
    tree: Any, reference: Any, *, name: str = "grads", reference_name: str = "params"
) -> None:
    """Raise unless ``tree`` has ``reference``'s tree structure and leaf shapes.

    Raises:
        TypeError: for a structure mismatch; the message shows both structures.
        ValueError: for a leaf whose shape differs, named by its key path.
    """
    tree_def = jax.tree_util.tree_structure(tree)
    reference_def = jax.tree_util.tree_structure(reference)
    if tree_def != reference_def:
        raise TypeError(
            f"`{name}` must have the tree structure of `{reference_name}`: {reference_name} tree "
            f"{reference_def}, {name} tree {tree_def}."
        )
    leaves = jax.tree_util.tree_leaves_with_path(tree)
    for (path, leaf), ref in zip(leaves, jax.tree_util.tree_leaves(reference)):
        if jnp.shape(leaf) != jnp.shape(ref):
            raise ValueError(
                f"`{name}` leaf {jax.tree_util.keystr(path)} has shape {jnp.shape(leaf)} but the "
                f"`{reference_name}` leaf has shape {jnp.shape(ref)}."
            )


def check_state_tree(updates: Any, moments: Any) -> None:
    """Check ``updates`` against a moment tree made by ``init`` (structure, shapes and dtypes)."""
    check_same_tree(updates, moments, name="grads", reference_name="params given to init")
    leaves = jax.tree_util.tree_leaves_with_path(updates)
    for (path, g), m in zip(leaves, jax.tree_util.tree_leaves(moments)):
        if jnp.result_type(g) != m.dtype:
            raise TypeError(
                f"`grads` leaf {jax.tree_util.keystr(path)} has dtype {jnp.result_type(g)} but "
                f"the optimizer state (from the params given to init) has {m.dtype}."
            )


class StateMismatchError(TypeError):
    """An optimizer ``update`` was given a state made by another optimizer's ``init``."""


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


def apply_updates(params: Params, updates: Grads) -> Params:
    """``params + updates`` leaf by leaf; each update is cast to its param's dtype.

    Raises:
        TypeError: if the trees differ in structure (both are shown).
    """
    check_same_tree(updates, params, name="updates")
    return jax.tree_util.tree_map(
        lambda p, u: p + jnp.asarray(u).astype(jnp.result_type(p)), params, updates
    )


def global_norm(tree: Any) -> Array:
    """``sqrt(Σ_leaves Σ x²)``, computed in float32 (float64 if any leaf is float64)."""
    dtype = hyperparam_dtype(tree)
    leaves = jax.tree_util.tree_leaves(tree)
    squares = [jnp.sum(jnp.square(jnp.asarray(x).astype(dtype))) for x in leaves]
    return jnp.sqrt(sum(squares, jnp.zeros((), dtype)))


def increment(count: Array) -> Array:
    """``count + 1`` for a 0-d int32 step counter, saturating at the int32 maximum."""
    return jnp.where(count < _INT32_MAX, count + 1, count)


def cast_like(coefficient: Array, leaf: Array) -> Array:
    """A state-dtype coefficient cast to a gradient leaf's dtype."""
    return coefficient.astype(jnp.result_type(leaf))


def _check_transforms(transforms: tuple) -> None:
    for i, t in enumerate(transforms):
        if not (isinstance(t, tuple) and len(t) == 2 and all(map(callable, t))):
            raise TypeError(f"`transforms[{i}]` must be an Optimizer(init, update); got {t!r}.")


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
    _check_transforms(transforms)

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


# ---------------------------------------------------------------- small transforms


@register_hyperparams("step_size")
class ScaleState(NamedTuple):
    step_size: Array  # shape (), the hyperparameter dtype


def scale(step_size: Any) -> Optimizer:
    """Multiply the updates by ``step_size`` (no sign flip); ``step_size`` finite, any sign."""
    check_real("step_size", step_size)

    def init(params):
        return ScaleState(store(step_size, hyperparam_dtype(params)))

    def update(updates, state, params=None):
        del params
        check_state(state, ScaleState, "scale")
        return jax.tree_util.tree_map(lambda g: cast_like(state.step_size, g) * g, updates), state

    return Optimizer(init, update)


@register_hyperparams("learning_rate")
class ScaleByLearningRateState(NamedTuple):
    learning_rate: Array  # shape (), the hyperparameter dtype


class ScaleByScheduleState(NamedTuple):
    count: Array  # shape (), int32: updates applied so far


def scale_by_learning_rate(learning_rate: Any) -> Optimizer:
    """Descent step ``u = −η · g``, with ``η`` a number, a 0-d array, or a schedule ``step -> η``.

    A constant ``η`` is stored in the state (``ScaleByLearningRateState``); a schedule is
    evaluated at the state's int32 ``count`` (0 for the first update), which is then incremented.
    A concrete ``η`` must be finite and ``>= 0`` (a traced one is not checked).
    """
    if callable(learning_rate):
        schedule = learning_rate

        def init_schedule(params):
            del params
            return ScaleByScheduleState(jnp.zeros((), jnp.int32))

        def update_schedule(updates, state, params=None):
            del params
            check_state(state, ScaleByScheduleState, "scale_by_learning_rate (with a schedule)")
            lr = jnp.asarray(schedule(state.count))
            if lr.shape != ():
                raise ValueError(f"`learning_rate` schedule must return shape (); got {lr.shape}.")
            updates = jax.tree_util.tree_map(lambda g: -cast_like(lr, g) * g, updates)
            return updates, ScaleByScheduleState(increment(state.count))

        return Optimizer(init_schedule, update_schedule)

    check_real("learning_rate", learning_rate, low=0.0)

    def init(params):
        return ScaleByLearningRateState(store(learning_rate, hyperparam_dtype(params)))

    def update(updates, state, params=None):
        del params
        check_state(state, ScaleByLearningRateState, "scale_by_learning_rate")
        lr = state.learning_rate
        return jax.tree_util.tree_map(lambda g: -cast_like(lr, g) * g, updates), state

    return Optimizer(init, update)


@register_hyperparams("max_delta")
class ClipByValueState(NamedTuple):
    max_delta: Array  # shape (), the hyperparameter dtype


def clip_by_value(max_delta: Any) -> Optimizer:
    """Clip every update entry to ``[−max_delta, max_delta]`` (``max_delta > 0``)."""
    check_real("max_delta", max_delta, low=0.0, low_open=True)

    def init(params):
        return ClipByValueState(store(max_delta, hyperparam_dtype(params)))

    def update(updates, state, params=None):
        del params
        check_state(state, ClipByValueState, "clip_by_value")

        def clip(g):
            m = cast_like(state.max_delta, g)
            return jnp.clip(g, -m, m)

        return jax.tree_util.tree_map(clip, updates), state

    return Optimizer(init, update)


@register_hyperparams("max_norm")
class ClipByGlobalNormState(NamedTuple):
    max_norm: Array  # shape (), the hyperparameter dtype


def clip_by_global_norm(max_norm: Any) -> Optimizer:
    """Rescale all updates by ``min(1, max_norm / ‖g‖)``, ``‖g‖`` the norm over every leaf.

    ``max_norm`` must be positive. Zero gradients stay zero.

    References:
        Pascanu, Mikolov & Bengio, "On the difficulty of training recurrent neural networks",
        ICML 2013.
    """
    check_real("max_norm", max_norm, low=0.0, low_open=True)

    def init(params):
        return ClipByGlobalNormState(store(max_norm, hyperparam_dtype(params)))

    def update(updates, state, params=None):
        del params
        check_state(state, ClipByGlobalNormState, "clip_by_global_norm")
        norm = global_norm(updates).astype(state.max_norm.dtype)
        factor = state.max_norm / jnp.maximum(norm, state.max_norm)  # 1 when ‖g‖ <= max_norm
        return jax.tree_util.tree_map(lambda g: cast_like(factor, g) * g, updates), state

    return Optimizer(init, update)


__all__ = [
    "Optimizer",
    "chain",
    "apply_updates",
    "register_hyperparams",
    "get_hyperparams",
    "set_hyperparams",
    "hyperparam_dtype",
    "check_same_tree",
    "check_state_tree",
    "check_state",
    "StateMismatchError",
    "global_norm",
    "store",
    "cast_like",
    "increment",
    "scale",
    "scale_by_learning_rate",
    "clip_by_value",
    "clip_by_global_norm",
    "ScaleState",
    "ScaleByLearningRateState",
    "ScaleByScheduleState",
    "ClipByValueState",
    "ClipByGlobalNormState",
]
