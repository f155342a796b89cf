"""Where a custom rule keeps its reference: the primal body of a ``jax.custom_vjp`` /
``jax.custom_jvp`` function, and how example arguments split into data and static values.

The primal body is reached through public attributes only: ``jax.custom_vjp`` and
``jax.custom_jvp`` objects keep the decorated function as ``.fun`` and the static positions as
``.nondiff_argnums`` (JAX 0.10.2, ``jax/_src/custom_derivatives.py``); an fnnet hand rule keeps
its ``jax.custom_vjp`` as ``.custom_vjp`` and the body as ``.forward``. ``functools.partial``
and ``jax.jit`` wrappers (``jax.stages.Wrapped``, whose ``__wrapped__`` is the jitted function)
are looked through. Anything else is refused with a clear error: a plain Python function has
no rule of its own to check against its body.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple, cast

import jax
import numpy as np


class Primal(NamedTuple):
    """The primal body of a custom rule, called like the rule itself."""

    body: Callable[..., Any]
    static: frozenset[int]  # positional arguments the rule takes as static (nondiff_argnums)
    kind: str  # "jax.custom_vjp", "jax.custom_jvp" or "fnnet hand rule"


def _custom_calls(fn: Callable[..., Any], args: tuple, kwargs: dict) -> list[str]:
    """Names of the custom-rule primitives in ``fn``'s trace (best effort: [] if it fails)."""
    try:
        jaxpr = jax.make_jaxpr(functools.partial(fn, **kwargs))(*args)
    except Exception:
        return []
    return sorted({e.primitive.name for e in _equations(jaxpr.jaxpr, custom=True)} & _CUSTOM)


_CUSTOM = {"custom_vjp_call", "custom_jvp_call", "custom_vjp_call_jaxpr"}


def find_primal(f: Any, args: tuple = (), kwargs: dict | None = None) -> Primal:
    """The primal body of ``f`` (a custom_vjp/custom_jvp, an fnnet hand rule, or a partial or
    ``jax.jit`` of one), called with ``f``'s own arguments; ``TypeError`` otherwise."""
    if isinstance(f, functools.partial):
        inner = find_primal(f.func)
        bound = len(f.args)
        return Primal(
            functools.partial(inner.body, *f.args, **f.keywords),
            frozenset(i - bound for i in inner.static if i >= bound),
            inner.kind,
        )
    custom = getattr(f, "custom_vjp", None)
    if isinstance(custom, jax.custom_vjp) and callable(getattr(f, "forward", None)):
        return Primal(f.forward, frozenset(custom.nondiff_argnums), "fnnet hand rule")
    if isinstance(f, (jax.custom_vjp, jax.custom_jvp)):
        kind = "jax.custom_vjp" if isinstance(f, jax.custom_vjp) else "jax.custom_jvp"
        return Primal(f.fun, frozenset(f.nondiff_argnums), kind)
    if isinstance(f, jax.stages.Wrapped) and hasattr(f, "__wrapped__"):  # jax.jit(rule)
        return find_primal(cast(Any, f).__wrapped__)
    if not callable(f):
        raise TypeError(f"`f` must be a function with a custom derivative rule; got {f!r}.")
    calls = _custom_calls(f, args, kwargs or {})
    inside = (
        f" It calls one ({', '.join(calls)} in its trace): pass that function itself, with the "
        f"static arguments as keywords."
        if calls
        else ""
    )
    raise TypeError(
        f"`f` ({getattr(f, '__qualname__', repr(f))}) is not a jax.custom_vjp or jax.custom_jvp "
        f"function (nor an fnnet hand rule, a functools.partial or a jax.jit of one), so it has "
        f"no custom rule to check against its own body.{inside} For any other function, write "
        f"the reference yourself: fnnet.gradcheck.check_rule(f, reference, sampler, key=...)."
    )


def signature(f: Any) -> inspect.Signature | None:
    """``f``'s signature when Python can tell (it follows partials and ``__wrapped__``)."""
    try:
        return inspect.signature(f)
    except (TypeError, ValueError):
        return None


def is_array(x: Any) -> bool:
    """Whether ``x`` is array data (traced and, if floating, differentiated) rather than static."""
    return isinstance(x, (jax.Array, np.ndarray, np.generic))


class Split(NamedTuple):
    """Example arguments split into array data and static values, and the way back."""

    data: tuple  # (*positional, keywords): every static leaf replaced by None
    rebuild: Callable[[tuple], tuple[tuple, dict]]  # data-shaped -> (args, kwargs)
    static: list[str]  # descriptions of the static arguments, for the report


def split_arguments(
    args: tuple, kwargs: dict, static_positions: frozenset[int], names: list[str]
) -> Split:
    """Arrays (``jax.Array``, NumPy) are data; a position in ``nondiff_argnums`` and every other
    leaf (a Python number, a function, a string) is static: held fixed and never traced. The
    keyword arguments are the last entry of the data (their arrays are data, never
    differentiated: constants cast with the rest for the float64 differences)."""
    entries = [(names[i], arg, i in static_positions) for i, arg in enumerate(args)]
    entries += [(k, v, False) for k, v in kwargs.items()]
    plans, data, static = [], [], []
    for name, arg, fixed_whole in entries:
        if fixed_whole:
            plans.append(None)
            data.append(None)
            static.append(f"{name}={_short(arg)}")
            continue
        leaves, treedef = jax.tree_util.tree_flatten(arg)
        mask = [is_array(leaf) for leaf in leaves]
        plans.append((treedef, mask, [None if m else leaf for leaf, m in zip(leaves, mask)]))
        data.append(
            jax.tree_util.tree_unflatten(treedef, [l if m else None for l, m in zip(leaves, mask)])
        )
        if not all(mask):
            shown = arg if not any(mask) else [l for l, m in zip(leaves, mask) if not m]
            static.append(f"{name}={_short(shown)}")
    values = [arg for _, arg, _ in entries]

    def rebuild(given: tuple) -> tuple[tuple, dict]:
        out = []
        keywords = given[-1]  # a dict comes back from JAX with its keys sorted
        for arg, value, plan in zip(values, (*given[:-1], *(keywords[k] for k in kwargs)), plans):
            if plan is None:
                out.append(arg)
                continue
            treedef, mask, fixed = plan
            leaves = iter(jax.tree_util.tree_leaves(value))
            full = [next(leaves) if m else f for m, f in zip(mask, fixed)]
            out.append(jax.tree_util.tree_unflatten(treedef, full))
        return tuple(out[: len(args)]), dict(zip(kwargs, out[len(args) :]))

    return Split((*data[: len(args)], dict(zip(kwargs, data[len(args) :]))), rebuild, static)


def _short(value: Any) -> str:
    name = getattr(value, "__qualname__", None)
    text = name if callable(value) and name else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def arg_names(f: Any, n: int) -> list[str]:
    """Names of ``f``'s first ``n`` positional parameters (``args[i]`` when unknown)."""
    sig = signature(f)
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    names = [p.name for p in sig.parameters.values() if p.kind in kinds] if sig else []
    return [names[i] if i < len(names) else f"args[{i}]" for i in range(n)]


# Primitives whose derivative JAX takes as zero (or which cut the gradient): found in a primal
# body, they explain why its derivative differs from the rule's or from finite differences.
_ZERO_DERIVATIVE = {"stop_gradient", "round", "floor", "ceil", "sign", "argmax", "argmin"}


def _equations(jaxpr: Any, *, custom: bool) -> Iterator[Any]:
    """Every equation of ``jaxpr`` and of the jaxprs nested in its parameters (jit, scan, cond,
    ...); with ``custom=False``, not inside custom-rule calls (their own rules decide)."""
    for eqn in jaxpr.eqns:
        yield eqn
        if not custom and eqn.primitive.name in _CUSTOM:
            continue
        for value in eqn.params.values():
            for sub in value if isinstance(value, (tuple, list)) else (value,):
                inner = getattr(sub, "jaxpr", sub)  # a ClosedJaxpr holds its Jaxpr
                if hasattr(inner, "eqns"):
                    yield from _equations(inner, custom=custom)


def zero_derivative_ops(body: Callable[..., Any], args: tuple) -> list[str]:
    """The operations in ``body``'s trace at ``args`` that JAX differentiates as zero (a
    float-to-integer cast too); best effort, [] when the trace cannot be read."""
    try:
        jaxpr = jax.make_jaxpr(body)(*args)
        found = []
        for eqn in _equations(jaxpr.jaxpr, custom=False):
            name = eqn.primitive.name
            if name in _ZERO_DERIVATIVE:
                found.append(name)
            elif name == "convert_element_type":
                source = eqn.invars[0].aval.dtype
                target = eqn.params.get("new_dtype")
                if np.issubdtype(source, np.floating) and not np.issubdtype(target, np.inexact):
                    found.append(f"a cast to {np.dtype(target).name}")
        return list(dict.fromkeys(found))
    except Exception:
        return []
