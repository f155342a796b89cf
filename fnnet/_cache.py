"""Compile once: compiled epoch programs cached across ``fit`` calls of the same structure.

``jax.jit`` caches by function identity, and every ``fit`` call builds new closures (the train
step, the epoch), so a second ``fit`` of the same model would trace and compile again. Here a
program is cached under a *structural* key: the functions' code and what their closures hold
(recursively; small concrete arrays by value, anything else by identity), plus the static
options and the shapes, dtypes and shardings of the arguments. Two optimizers built by the same
call with the same values (``adam(1e-3)`` twice, a fresh object each time) have the same key; so
do two ``lambda p: l2_penalty(p, 1e-4)`` written in one place. Other values (``adam(1e-2)``) are
a new key, because the constructor's closures hold them (the compiled program reads them from
the optimizer state, so the key is conservative, never wrong); to train several values with one
program, sweep them (:mod:`fnnet.sweep`), or set them in the state
(:func:`fnnet.optimizers.set_hyperparams`).
"""

from __future__ import annotations

import collections
import functools
import time
import types
from collections.abc import Callable, Hashable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.core import Tracer

_SMALL = 64  # arrays up to this many elements in a closure are keyed by value
_MAX_PROGRAMS = 32
_programs: collections.OrderedDict[Hashable, Any] = collections.OrderedDict()


def fingerprint(obj: Any, _depth: int = 0) -> Hashable:
    """A hashable structural key for a function (or a pytree of functions and constants)."""
    if _depth > 64:
        return ("id", id(obj), obj)
    deeper = functools.partial(fingerprint, _depth=_depth + 1)
    if obj is None or isinstance(obj, (bool, int, float, complex, str, bytes, np.generic)):
        return (type(obj).__name__, obj)
    if isinstance(obj, types.FunctionType):
        cells = tuple(deeper(c.cell_contents) for c in obj.__closure__ or ())
        defaults = deeper(obj.__defaults__) if obj.__defaults__ else None
        kwdefaults = deeper(tuple(sorted((obj.__kwdefaults__ or {}).items())))
        scope = obj.__globals__  # the globals it reads, so a changed global is a new key
        used = tuple((n, _global(scope[n])) for n in _global_names(obj.__code__) if n in scope)
        return ("fn", obj.__code__, cells, defaults, kwdefaults, used)
    if isinstance(obj, functools.partial):
        return (
            "partial",
            deeper(obj.func),
            deeper(obj.args),
            deeper(tuple(sorted(obj.keywords.items()))),
        )
    if isinstance(obj, types.MethodType):
        return ("method", deeper(obj.__func__), deeper(obj.__self__))
    if isinstance(obj, tuple):  # NamedTuples (Layer, Optimizer) included, keyed by their type
        return (type(obj), tuple(deeper(item) for item in obj))
    if isinstance(obj, list):
        return ("list", tuple(deeper(item) for item in obj))
    if isinstance(obj, dict):
        try:
            items = sorted(obj.items())
        except TypeError:
            return ("id", id(obj), obj)
        return ("dict", tuple((k, deeper(v)) for k, v in items))
    if isinstance(obj, (np.ndarray, jax.Array)) and not isinstance(obj, Tracer):
        if obj.size <= _SMALL and not jnp.issubdtype(obj.dtype, jax.dtypes.prng_key):
            value = np.asarray(obj)
            return ("array", value.shape, str(value.dtype), value.tobytes())
    try:
        hash(obj)
    except TypeError:
        return ("id", id(obj), obj)  # the object itself is held, so its id cannot be reused
    return ("obj", obj)


def _global(value: Any) -> Hashable:
    """A global by value if it is a constant, else by identity (module-level functions, classes
    and modules are the same objects from call to call; a redefined one is a new key)."""
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes, np.generic)):
        return (type(value).__name__, value)
    try:
        hash(value)
    except TypeError:
        return ("id", id(value), value)
    return ("obj", value) if isinstance(value, tuple) else ("id", id(value), value)


def _global_names(code: types.CodeType) -> list[str]:
    names = set(code.co_names)
    for const in code.co_consts:  # nested functions and lambdas
        if isinstance(const, types.CodeType):
            names.update(_global_names(const))
    return sorted(names)


def _signature(args: Any) -> Hashable:
    leaves, tree = jax.tree_util.tree_flatten(args)
    return tree, tuple(
        (np.shape(x), str(jax.numpy.result_type(x)), getattr(x, "sharding", None)) for x in leaves
    )


def compiled(key: Hashable, build: Callable[[], Callable], *args: Any) -> tuple[Callable, float]:
    """The compiled program for ``key`` and ``args``' structure, and the seconds spent compiling
    it now (``0.0`` when cached). ``build()`` returns the ``jax.jit``-ed function to compile."""
    full = (key, _signature(args))
    try:
        hit = _programs.get(full)
    except TypeError:  # an unhashable sharding or constant: compile without caching
        hit, full = None, None
    if hit is not None:
        _programs.move_to_end(full)
        return hit, 0.0
    tic = time.perf_counter()
    program = build().lower(*args).compile()
    seconds = time.perf_counter() - tic
    if full is not None:
        _programs[full] = program
        while len(_programs) > _MAX_PROGRAMS:
            _programs.popitem(last=False)
    return program, seconds


def clear() -> None:
    """Forget every cached program."""
    _programs.clear()
