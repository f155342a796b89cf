"""Hyperparameters as state: every transform's ``init`` stores its hyperparameters (learning
rate, betas, eps, momentum, weight decay, clipping thresholds) in the state as typed 0-d arrays.

The dtype is float32, or float64 if any params leaf is float64 (float32 for bfloat16/float16
params, so ``1 − β₂`` does not round to 0). ``update`` reads them from the state, never from
the closure, so

* a jitted ``step(params, state, grads)`` does not recompile when a value stored in the state
  changes (:func:`set_hyperparams`), and
* an optimizer built inside ``jax.vmap`` from an array of learning rates (or betas, decays,
  seeds) runs all of them in one compiled program.

The hyperparameter's arithmetic (``1 − β``, bias corrections) runs in the state dtype; the
resulting coefficients are cast to each gradient leaf's dtype (``cast_like``), so updates
have the gradients' dtype. Step counters are 0-d int32 arrays that saturate
(:func:`safe_increment`).

Public (for a transform of your own): :func:`hyperparam_fields`, :func:`as_hyperparam`,
:func:`safe_increment`, :func:`get_hyperparams`, :func:`set_hyperparams`. The rest is the
package's plumbing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from fnnet._checks import check_real, is_concrete
from fnnet._types import Array, OptState, Params

_INT32_MAX = np.iinfo(np.int32).max

_HYPERPARAMS: dict[type, tuple[str, ...]] = {}

_UNIT = {"low": 0.0, "high": 1.0, "high_open": True}  # decays, momenta, betas: [0, 1)
_POSITIVE = {"low": 0.0, "low_open": True}
# the range of every hyperparameter by name (finite always; names not listed: finite only)
HYPERPARAM_RANGES: dict[str, dict[str, Any]] = {
    "learning_rate": {"low": 0.0},
    "momentum": _UNIT,
    "decay": _UNIT,
    "b1": _UNIT,
    "b2": _UNIT,
    "eps": {"low": 0.0},
    "initial_accumulator_value": {"low": 0.0},
    "weight_decay": {"low": 0.0},
    "l1_decay": {"low": 0.0},
    "max_delta": _POSITIVE,
    "max_norm": _POSITIVE,
    "step_size": {},
}


def check_hyperparam(name: str, value: Any) -> Any:
    """A hyperparameter: a real scalar in its range (finite; learning rates, epsilons and decays
    ``>= 0``; momenta and betas in ``[0, 1)``; clipping thresholds ``> 0``), checked by
    :func:`fnnet._checks.check_real` where it is concrete; a traced value passes."""
    return check_real(name, value, **HYPERPARAM_RANGES.get(name, {}))


def hyperparam_fields(*names: str) -> Callable[[type], type]:
    """Class decorator: declare which fields of a state NamedTuple hold hyperparameters.

    :func:`get_hyperparams` and :func:`set_hyperparams` read and replace exactly these fields
    (store their values with :func:`as_hyperparam`).

    Args:
        *names: field names of the decorated NamedTuple.

    Returns:
        The decorator; it returns the class unchanged.

    Raises:
        TypeError: if the class has no field of one of the names.

    Example:
        >>> from typing import NamedTuple
        >>> import jax
        >>> from fnnet.optimizers import hyperparam_fields
        >>> @hyperparam_fields("decay")
        ... class EmaState(NamedTuple):
        ...     ema: dict
        ...     decay: jax.Array
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


def as_hyperparam(value: Any, params: Params) -> Array:
    """``value`` as the 0-d array a state stores a hyperparameter in, for these ``params``.

    The dtype is float32, or float64 if any ``params`` leaf is float64 (bfloat16 and float16
    params get float32, so ``1 − β`` does not round to 0). Cast it to each gradient leaf's dtype
    where it meets one (``decay.astype(g.dtype)``).

    Args:
        value: a Python number or a 0-d array, maybe traced (built inside ``jax.vmap``).
        params: the params given to the transform's ``init``.

    Returns:
        A 0-d array.

    Example:
        >>> import jax.numpy as jnp
        >>> from fnnet.optimizers import as_hyperparam
        >>> as_hyperparam(0.9, {"w": jnp.zeros((2, 2), jnp.bfloat16)}).dtype
        dtype('float32')
    """
    return jnp.asarray(value, dtype=hyperparam_dtype(params))


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
    axis for a vmapped state) or be 0-d, and lie in its range where it is concrete, as at
    construction (:func:`check_hyperparam`). A jitted step fed the new state is not recompiled.

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
        if jnp.ndim(new) == 0:
            check_hyperparam(name, new)
        elif is_concrete(new):  # a sweep axis: every entry in range
            for entry in np.ravel(np.asarray(new, dtype=np.float64)):
                check_hyperparam(name, float(entry))
        return jnp.broadcast_to(jnp.asarray(new, dtype=old.dtype), jnp.shape(old))

    new_state = _map_hyperparams(state, replace)
    unknown = sorted(set(values) - seen)
    if unknown:
        raise ValueError(
            f"no hyperparameter named {unknown} in this optimizer state; it holds {sorted(seen)}."
        )
    return new_state


def safe_increment(count: Array) -> Array:
    """``count + 1`` for a 0-d int32 step counter, saturating at the int32 maximum.

    Args:
        count: a 0-d int32 array (start it at ``jnp.zeros((), jnp.int32)`` in ``init``).

    Returns:
        ``count + 1``, or ``count`` once it is the int32 maximum (never wraps to negative).
    """
    return jnp.where(count < _INT32_MAX, count + 1, count)


def cast_like(coefficient: Array, leaf: Array) -> Array:
    """A state-dtype coefficient cast to a gradient leaf's dtype."""
    return coefficient.astype(jnp.result_type(leaf))
