"""Certified bounds: interval arithmetic over a function's jaxpr, to prove an update finite.

The train step's guard must never keep a non-finite parameter or optimizer state. Reading the
candidate state once more to check it costs a pass over the optimizer's elementwise math (a
third of a step on CPU). Instead, the step carries one interval ``[lo, hi]`` per array leaf of
its params and optimizer state and pushes those intervals, the gradients' ``[−Σ|g|, Σ|g|]``
and the exact 0-d leaves (hyperparameters, counters) through the optimizer's own jaxpr, one
scalar rule per primitive. When every intermediate interval stays well inside the dtype's range
(``finfo.max / 16``) and no rule meets a domain edge (a divisor interval holding 0, ``sqrt`` or
``log`` of an interval reaching below 0), the candidate is finite: proved, not sampled.
Otherwise the step falls back to the exact check, which also refreshes the intervals.

The rules and why they hold in floating point are in :mod:`fnnet.training._intervals`. A
primitive without a rule makes its result unknown, and an unknown result is never certified:
the exact check runs. Calls (``jit``, ``custom_jvp``/``custom_vjp``, remat) are inlined; 0-d
values (hyperparameters, counters, bias corrections) are computed exactly, as the program does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jax.extend import core as jcore

from fnnet._types import Array
from fnnet.training._intervals import (
    NONNEGATIVE,
    RULES,
    Interval,
    leaf_interval,
    point,
    same,
    square,
    widen,
    without_subnormals,
)

_MARGIN = 16.0  # certified magnitudes stay below finfo(dtype).max / _MARGIN


class _Exact(NamedTuple):  # the value itself (0-d, or a literal), computed as the program does
    value: Array


_UNKNOWN = None  # an input or result nothing is known about: never certified


def _packed_dtype(tree: Any) -> Any:
    """The dtype :func:`pack` stores intervals in: float64 if a leaf is, else float32 (both
    hold every float32, float16 and bfloat16 endpoint exactly)."""
    wide = any(jnp.result_type(x) == jnp.float64 for x in jax.tree_util.tree_leaves(tree))
    return jnp.float64 if wide else jnp.float32


def _bounded_leaf(x: Any) -> bool:  # the leaves that carry an interval: float arrays
    return jnp.ndim(x) > 0 and jnp.issubdtype(jnp.result_type(x), jnp.floating)


def pack(intervals: Any, like: Any) -> Array:
    """One ``(n, 2)`` array of the intervals at ``like``'s float array leaves (in leaf order).

    One buffer instead of ``2n`` scalars: XLA computes it in one fused loop and carries it as one
    value. ``intervals`` has ``like`` as a prefix (an :class:`Interval` at each such leaf).
    """
    leaves, treedef = jax.tree_util.tree_flatten(like)
    found = treedef.flatten_up_to(intervals)
    dtype = _packed_dtype(like)
    rows = [jnp.stack([i.lo.astype(dtype), i.hi.astype(dtype)])
            for x, i in zip(leaves, found, strict=True) if _bounded_leaf(x)]  # fmt: skip
    return jnp.stack(rows) if rows else jnp.zeros((0, 2), dtype)


def unpack(packed: Array, like: Any) -> Any:
    """``like``'s structure with an :class:`Interval` (in the leaf's dtype, exact) at each float
    array leaf and ``None`` elsewhere (0-d leaves are read exactly; integer arrays unknown)."""
    leaves, treedef = jax.tree_util.tree_flatten(like)
    rows = sum(_bounded_leaf(x) for x in leaves)
    if jnp.shape(packed) != (rows, 2):  # JAX would clamp a wrong row index silently
        raise ValueError(
            f"`state.bounds` must have shape ({rows}, 2), one [lo, hi] row per float array leaf "
            f"of (params, opt_state); got shape {jnp.shape(packed)}. Bounds belong to the state "
            "they were computed for: use `state._replace(bounds=None)` for a state built elsewhere."
        )
    out, row = [], 0
    for x in leaves:
        if _bounded_leaf(x):
            dtype = jnp.result_type(x)
            out.append(Interval(packed[row, 0].astype(dtype), packed[row, 1].astype(dtype)))
            row += 1
        else:
            out.append(None)
    return treedef.unflatten(out)


def exact_bounds(tree: Any) -> Array:
    """:func:`pack` of every float array leaf's exact ``[min, max]`` (NaN-propagating)."""
    return pack(jax.tree_util.tree_map(leaf_interval, tree), tree)


def share_by_role(bounds: Any, like: Any, unit: Any) -> Any:
    """Widen each interval to the hull of every interval of its role (same dtype).

    A role is one subtree of ``like`` shaped like ``unit`` (a treedef, the params'): the
    gradients, the params, each moment buffer of the optimizer state. Every layer's leaf then
    enters the optimizer's per-leaf math with the same intervals, so the per-leaf interval
    programs are identical and XLA computes them once (common-subexpression elimination)
    instead of once per layer. Wider intervals are still sound; leaves outside such a subtree
    keep their own. ``bounds`` has ``like`` as a prefix (:func:`propagate`'s convention).
    """
    nodes, outer = jax.tree_util.tree_flatten(
        like, is_leaf=lambda t: jax.tree_util.tree_structure(t) == unit
    )
    found = outer.flatten_up_to(bounds)
    shared = []
    for node, given in zip(nodes, found, strict=True):
        leaves, inner = jax.tree_util.tree_flatten(node)
        parts = inner.flatten_up_to(given) if inner.num_leaves else []
        hulls: dict[Any, Interval] = {}
        for x, b in zip(leaves, parts, strict=True):
            if isinstance(b, Interval):
                key = jnp.result_type(x)
                h = hulls.get(key)
                hulls[key] = (
                    b if h is None else Interval(jnp.minimum(h.lo, b.lo), jnp.maximum(h.hi, b.hi))
                )
        widened = [hulls[jnp.result_type(x)] if isinstance(b, Interval) else b
                   for x, b in zip(leaves, parts, strict=True)]  # fmt: skip
        shared.append(inner.unflatten(widened))
    return outer.unflatten(shared)


def _as_interval(v: Any) -> Interval | None:
    if v is _UNKNOWN or isinstance(v, Interval):
        return v
    value = jnp.asarray(v.value)
    return point(value) if value.ndim == 0 else leaf_interval(value)


def _subjaxpr(eqn) -> tuple[Any, list[Any]] | None:
    """The body of a call-like primitive (jit, custom_jvp/vjp, remat) and its consts."""
    for name in ("jaxpr", "call_jaxpr", "fun_jaxpr"):
        body = eqn.params.get(name)
        if isinstance(body, jcore.ClosedJaxpr):
            return body.jaxpr, list(body.consts)
        if isinstance(body, jcore.Jaxpr) and eqn.primitive.name in ("checkpoint", "remat"):
            return body, []
    return None


class _Node(NamedTuple):  # one primitive application of the inlined program
    eqn: Any
    ins: tuple[int, ...]  # value ids
    outs: tuple[int, ...]


class _Program:
    """The jaxpr with every call (jit, custom_jvp/vjp, remat) inlined, values named by id."""

    def __init__(self) -> None:
        self.values: dict[int, Any] = {}
        self.nodes: list[_Node] = []
        self.literals: dict[Any, int] = {}

    def new(self, value: Any = ...) -> int:
        ref = len(self.values)
        self.values[ref] = value  # `...`: computed later
        return ref

    def inline(self, jaxpr: Any, consts: list, in_refs: list[int]) -> list[int]:
        env: dict = {}
        for var, value in zip(jaxpr.constvars, consts, strict=True):
            env[var] = self.new(
                _Exact(value) if jnp.ndim(value) == 0 else _as_interval(_Exact(value))
            )
        env.update(zip(jaxpr.invars, in_refs, strict=True))

        def ref(var: Any) -> int:
            if isinstance(var, jcore.Literal):  # one value per distinct literal
                key = (str(var.aval.dtype), repr(var.val))
                if key not in self.literals:
                    self.literals[key] = self.new(_Exact(jnp.asarray(var.val, var.aval.dtype)))
                return self.literals[key]
            return env[var]

        for eqn in jaxpr.eqns:
            ins = [ref(v) for v in eqn.invars]
            body = _subjaxpr(eqn)
            if body is not None:
                outs = self.inline(body[0], body[1], ins[: len(body[0].invars)])
            else:
                outs = [self.new() for _ in eqn.outvars]
                self.nodes.append(_Node(eqn, tuple(ins), tuple(outs)))
            env.update(zip(eqn.outvars, outs, strict=True))
        return [ref(v) for v in jaxpr.outvars]


def _check_range(value: Interval, checks: list) -> None:
    """Append "within ``finfo.max / 16``" (False for a NaN endpoint: comparisons with NaN are)."""
    dtype = value.lo.dtype
    if jnp.issubdtype(dtype, jnp.floating):
        limit = jnp.asarray(float(jnp.finfo(dtype).max) / _MARGIN, dtype)
        checks.append(jnp.ravel(jnp.maximum(jnp.abs(value.lo), jnp.abs(value.hi)) <= limit))


def _single(eqn, ins: list) -> list | None:
    """Nodes evaluated on their own: exact 0-d work, a select on an exact predicate, unknowns."""
    if all(isinstance(v, _Exact) for v in ins) and all(v.aval.ndim == 0 for v in eqn.outvars):
        outs = eqn.primitive.bind(*(v.value for v in ins), **eqn.params)  # as the program does
        return [_Exact(o) for o in (outs if eqn.primitive.multiple_results else [outs])]
    name = eqn.primitive.name
    if name == "select_n" and isinstance(ins[0], _Exact) and jnp.ndim(ins[0].value) == 0:
        cases = [_as_interval(c) for c in ins[1:]]
        if any(c is _UNKNOWN for c in cases):
            return [_UNKNOWN]
        which = ins[0].value.astype(jnp.int32)
        return [Interval(lax.select_n(which, *(c.lo for c in cases)),
                         lax.select_n(which, *(c.hi for c in cases)))]  # fmt: skip
    operands = [_as_interval(v) for v in (ins[1:] if name == "select_n" else ins)]
    if name not in RULES or eqn.primitive.multiple_results or _UNKNOWN in operands:
        return [_UNKNOWN] * len(eqn.outvars)
    return None


_SHAPED = {"reduce_sum", "dot_general"}  # rules that read their operands' shapes


def _identity(value: Any) -> Any:  # what makes two values the same traced value
    if isinstance(value, Interval):
        return ("interval", id(value.lo), id(value.hi))
    return None if value is _UNKNOWN else ("exact", id(value.value))


def _run(program: _Program, checks: list, domain: list) -> None:
    """Evaluate the nodes in order. A node that applies the same primitive (same parameters)
    to the same traced values as an earlier one reuses its result: the per-leaf programs of
    leaves sharing a role (:func:`share_by_role`) collapse into one before XLA sees them, which
    matters inside ``lax.scan``, where XLA hoists loop-invariant pieces per copy and no longer
    merges them."""
    values = program.values
    memo: dict[Any, list] = {}
    for node in program.nodes:
        eqn = node.eqn
        ins = [values[r] for r in node.ins]
        shapes = tuple(v.aval.shape for v in eqn.invars) if eqn.primitive.name in _SHAPED else ()
        key = (eqn.primitive, repr(sorted(eqn.params.items())), shapes,
               tuple(_identity(v) for v in ins), tuple(str(v.aval.dtype) for v in eqn.outvars))  # fmt: skip
        if None not in key[3] and key in memo:
            values.update(zip(node.outs, memo[key], strict=True))
            continue
        outs = _single(eqn, ins)
        if outs is None:
            name = eqn.primitive.name
            operands = [
                without_subnormals(_as_interval(v)) for v in ins[1 if name == "select_n" else 0 :]
            ]
            squared = name == "mul" and node.ins[0] == node.ins[1]
            out = square(operands[0], 2) if squared else RULES[name](eqn, operands, domain)
            if out is not _UNKNOWN:
                dtype = eqn.outvars[0].aval.dtype
                if out.lo.dtype != dtype or out.hi.dtype != dtype:
                    out = Interval(out.lo.astype(dtype), out.hi.astype(dtype))
                if RULES[name] is not same:  # computed, not only moved: widened
                    out = widen(out, squared or name in NONNEGATIVE, operands)
                _check_range(out, checks)
            outs = [out]
        memo[key] = outs
        values.update(zip(node.outs, outs, strict=True))


def propagate(fn: Callable[..., Any], bounds: Any, *args: Any) -> tuple[Any, Array]:
    """Intervals of ``fn(*args)``'s outputs, and whether they certify every output finite.

    Args:
        fn: a function of ``args`` (traced once with ``jax.make_jaxpr``).
        bounds: a pytree with ``args`` as a prefix: an :class:`Interval` for an array leaf
            (every element lies in it), ``None`` for a leaf whose value is used exactly (0-d).
        args: the arguments (arrays or tracers: only 0-d values are read).

    Returns:
        ``(intervals, certified)``: the outputs' pytree with an :class:`Interval` (or ``None``
        where nothing is known) at every leaf, and a 0-d bool that is True only when every
        floating output is proved finite; the Python ``False`` when an output has no interval
        at all (a primitive without a rule), known while tracing.
    """
    closed = jax.make_jaxpr(fn)(*args)
    leaves, treedef = jax.tree_util.tree_flatten(args)
    given = treedef.flatten_up_to(bounds)
    inputs = [
        _Exact(jnp.asarray(x)) if jnp.ndim(x) == 0 else b
        for x, b in zip(leaves, given, strict=True)
    ]
    checks: list = []
    domain: list = []
    program = _Program()
    out_refs = program.inline(closed.jaxpr, list(closed.consts), [program.new(v) for v in inputs])
    _run(program, checks, domain)
    intervals = [_as_interval(program.values[r]) for r in out_refs]
    known = all(i is not _UNKNOWN for i in intervals)
    for i in intervals:  # a 0-d output computed exactly is checked too
        if i is not _UNKNOWN:
            _check_range(i, checks)
    out_tree = jax.tree_util.tree_structure(jax.eval_shape(fn, *args))
    if not known:  # decided while tracing: some output has no interval at all
        return jax.tree_util.tree_unflatten(out_tree, intervals), False
    certified = jnp.asarray(True)
    proofs = checks + [jnp.ravel(d) for d in domain]
    if proofs:  # one fused reduction over every range and domain condition
        certified &= jnp.all(jnp.concatenate(proofs))
    return jax.tree_util.tree_unflatten(out_tree, intervals), certified
