"""The compiled part of the checker: sampled points, VJPs, JVPs and finite differences, vmapped.

For one point ``x`` (a draw of the sampler) and the flattened output ``f(x) ∈ ℝᵐ``:

* ``V`` holds output cotangents (rows), ``Uₗ`` input directions for leaf ``l`` (rows). Full
  Jacobian mode uses identities, so every Jacobian entry is compared; projection mode uses a
  few random rows.
* ``vᵀJ`` comes from the rule's VJP and from ``jax.vjp`` of the reference; ``Ju`` (forward
  mode) from ``jax.jvp`` under :func:`fnnet.autodiff` and of the reference.
* Central differences ``(f(x + h u) − f(x − h u)) / 2h`` of the rule's *forward* are taken in
  float64 (the caller enables x64), ``h = eps^(1/3) · max(1, max|x|)`` with the ``eps`` of the
  dtype the differences are computed in.
* ``order=2`` replaces ``f`` by ``g(x) = VJP_f(x)(v)`` with a fixed random ``v``: the same
  comparisons then check reverse over reverse (Hessian-vector products of ``vᵀf``).

Shapes are static, so each (rule, shapes, dtype) compiles anew: one program for the points,
one for the rest (float32: one for the derivatives, one for the differences under x64). Inside
them the points (seeds), cotangents, directions and difference steps are batched with ``vmap``.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from fnnet.gradcheck._sampling import normals
from fnnet.rules import autodiff


class Plan(NamedTuple):
    """Static (hashable) description of a check: what is called and which leaves are differentiated."""

    rule: Callable[..., Any]
    reference: Callable[..., Any]
    sampler: Callable[..., tuple]
    static_args: tuple
    treedef: Any  # of the args tuple
    diff_mask: tuple[bool, ...]  # per leaf of args
    dtype: str
    dims: tuple[int, ...]
    order: int


class Probes(NamedTuple):
    """Static choice of the cotangents ``V`` and directions ``U``: identities, or random rows."""

    full: bool
    projections: int
    forward_mode: bool


def ravel(out: Any) -> jax.Array:
    """The output pytree as one flat vector."""
    leaves = jax.tree_util.tree_leaves(out)
    if not leaves or not all(jnp.issubdtype(jnp.result_type(l), jnp.inexact) for l in leaves):
        raise TypeError(
            f"`rule` and `reference` must return floating arrays (or a pytree of them); got {out!r}."
        )
    return jnp.concatenate([jnp.ravel(l).astype(jnp.result_type(leaves[0])) for l in leaves])


def split_args(plan: Plan, args: tuple) -> tuple[list, list]:
    """The differentiated leaves of ``args`` and the constant ones, in order."""
    leaves = jax.tree_util.tree_leaves(args)
    diff = [l for l, d in zip(leaves, plan.diff_mask) if d]
    consts = [l for l, d in zip(leaves, plan.diff_mask) if not d]
    return diff, consts


def join_args(plan: Plan, diff: Sequence, consts: Sequence) -> tuple:
    """Rebuild the argument tuple from the differentiated and the constant leaves."""
    diff_it, const_it = iter(diff), iter(consts)
    leaves = [next(diff_it) if d else next(const_it) for d in plan.diff_mask]
    return jax.tree_util.tree_unflatten(plan.treedef, leaves)


def function(plan: Plan, *, reference: bool, switch: bool = False) -> Callable:
    """``(diff, (consts, v)) -> flat output`` (order 1), or the flat VJP with cotangent ``v`` (order 2)."""

    def f(diff, consts):
        args = join_args(plan, diff, consts[0])
        if reference:
            return ravel(plan.reference(*args))
        with autodiff(True) if switch else contextlib.nullcontext():
            return ravel(plan.rule(*plan.static_args, *args))

    if plan.order == 1:
        return f

    def vjp_of_f(diff, consts):
        _, pullback = jax.vjp(lambda d: f(d, consts), diff)
        (cotangent,) = pullback(consts[1])
        return ravel(cotangent)

    return vjp_of_f


def sample(plan: Plan, keys) -> tuple[list, tuple]:
    """One point: the sampler's draw, and for order 2 the fixed cotangent ``v``."""
    sample_key, _, cotangent_key = keys
    diff, consts = split_args(plan, plan.sampler(sample_key, jnp.dtype(plan.dtype), plan.dims))
    cotangent = None
    if plan.order == 2:
        out = jax.eval_shape(
            function(plan._replace(order=1), reference=False), diff, (consts, None)
        )
        (cotangent,) = normals(cotangent_key, out.dtype, out.shape)
    return diff, (consts, cotangent)


def _probes(probes: Probes, key, diff, out) -> tuple[jax.Array, list]:
    if probes.full:
        return jnp.eye(out.shape[0], dtype=out.dtype), [
            jnp.eye(x.size, dtype=x.dtype) for x in diff
        ]
    k = probes.projections
    cotangents, *units = normals(key, out.dtype, (k, out.shape[0]), *[(k, x.size) for x in diff])
    directions = [
        (u / jnp.max(jnp.abs(u), axis=1, keepdims=True)).astype(x.dtype)
        for u, x in zip(units, diff)
    ]
    return cotangents, directions


def _blocks(diff: Sequence, directions: Sequence, scales: Sequence) -> jax.Array:
    """All directions as rows over the concatenated leaves: leaf ``i``'s rows, times ``scales[i]``,
    sit in its block and are zero elsewhere, so one ``vmap`` covers every leaf (one trace of f)."""
    sizes = [x.size for x in diff]
    rows = []
    for i, (u, scale) in enumerate(zip(directions, scales)):
        pad = [(0, 0), (sum(sizes[:i]), sum(sizes[i + 1 :]))]
        rows.append(jnp.pad(scale * u, pad))
    return jnp.concatenate(rows)


def _flat(diff: Sequence) -> tuple[jax.Array, Callable[[jax.Array], list]]:
    """The leaves as one vector, and the inverse."""
    sizes, shapes = [x.size for x in diff], [x.shape for x in diff]

    def unflat(v):
        out, start = [], 0
        for size, shape in zip(sizes, shapes):
            out.append(v[start : start + size].reshape(shape))
            start += size
        return out

    return jnp.concatenate([jnp.ravel(x) for x in diff]), unflat


def _split_rows(values: jax.Array, directions: Sequence) -> list:
    out, start = [], 0
    for u in directions:
        out.append(values[start : start + u.shape[0]])
        start += u.shape[0]
    return out


def _analytic(plan: Plan, probes: Probes, diff, consts, probe_key) -> dict:
    """One point: outputs, ``vᵀJ`` per leaf for rule and reference and, optionally, ``Ju``."""
    f_rule, f_ref = function(plan, reference=False), function(plan, reference=True)
    out_rule, pb_rule = jax.vjp(lambda d: f_rule(d, consts), diff)
    out_ref, pb_ref = jax.vjp(lambda d: f_ref(d, consts), diff)
    cotangents, directions = _probes(probes, probe_key, diff, out_rule)
    result = dict(
        cotangents=cotangents,
        directions=directions,
        out_rule=out_rule,
        out_ref=out_ref,
        vjp_rule=jax.vmap(lambda v: pb_rule(v)[0])(cotangents),
        vjp_ref=jax.vmap(lambda v: pb_ref(v)[0])(cotangents),
    )
    if probes.forward_mode:
        x, unflat = _flat(diff)
        tangents = _blocks(diff, directions, [1.0] * len(diff))

        def jvps(f):
            tangent = lambda t: jax.jvp(lambda y: f(unflat(y), consts), (x,), (t,))[1]
            return _split_rows(jax.vmap(tangent)(tangents), directions)

        result["jvp_switch"] = jvps(function(plan, reference=False, switch=True))
        result["jvp_ref"] = jvps(f_ref)
    return result


def cast64(tree: Any) -> Any:
    """Floats to float64 and ints to int64, as if sampled under x64 (use inside ``enable_x64``)."""

    def cast(x):
        x = jnp.asarray(x)
        if jnp.issubdtype(x.dtype, jnp.floating):
            return x.astype(jnp.float64)
        if jnp.issubdtype(x.dtype, jnp.signedinteger):
            return x.astype(jnp.int64)
        return x

    return jax.tree_util.tree_map(cast, tree)


def _differences(plan: Plan, diff, consts, directions) -> dict:
    """One point: central differences per leaf and direction, the steps, and ``|f(x)|``.

    The step is ``h = eps^(1/3) · max(1, max|x|)`` per leaf, with the ``eps`` of the dtype ``f``
    returns for float64 inputs (float64, unless ``f`` ignores its inputs' dtype).
    """
    f = function(plan, reference=False)
    diff, consts, directions = cast64(diff), cast64(consts), cast64(directions)
    x, unflat = _flat(diff)
    out = jax.eval_shape(lambda y: f(unflat(y), consts), x)
    base = float(jnp.finfo(out.dtype).eps) ** (
        1.0 / 3.0
    )  # balances truncation (h²) and rounding (eps/h)
    steps = [base * jnp.maximum(1.0, jnp.max(jnp.abs(leaf))) for leaf in diff]
    shifts = _blocks(diff, directions, steps)  # (rows, size): h_i u on leaf i
    zero = jnp.zeros((1, x.size), x.dtype)
    values = jax.vmap(lambda s: f(unflat(x + s), consts))(jnp.concatenate([shifts, -shifts, zero]))
    rows = shifts.shape[0]
    h = jnp.concatenate([jnp.broadcast_to(h, (u.shape[0],)) for h, u in zip(steps, directions)])
    derivatives = (values[:rows] - values[rows : 2 * rows]) / (2.0 * h[:, None]).astype(out.dtype)
    return dict(
        derivatives=_split_rows(derivatives, directions), steps=steps, f_abs=jnp.abs(values[-1])
    )


# The programs are small and run once: compile time dominates, and LLVM's optimisations cost
# more than they save (about 3x faster compiles at level 0; numerics are XLA's either way).
_jit = functools.partial(jax.jit, compiler_options={"xla_backend_optimization_level": 0})


@functools.partial(_jit, static_argnums=(0,))
def points(plan: Plan, keys: jax.Array) -> tuple[list, tuple]:
    """The sampler's draws for ``keys`` of shape (points, 3), stacked.

    A program of its own: the points enter the checks as data. Sampled inside the same
    program, XLA may recompute the sampler's arithmetic inside each consumer with different
    rounding (an optimisation barrier does not prevent it), which breaks equalities such as
    the argmax of ``jnp.max``'s derivative.
    """
    return jax.vmap(lambda k: sample(plan, k))(keys)


@functools.partial(_jit, static_argnums=(0, 1))
def analytic(plan: Plan, probes: Probes, diff, consts, probe_keys: jax.Array) -> dict:
    """``_analytic`` for every point (leading axis), in one program."""
    return jax.vmap(lambda d, c, k: _analytic(plan, probes, d, c, k))(diff, consts, probe_keys)


@functools.partial(_jit, static_argnums=(0,))
def differences(plan: Plan, diff, consts, directions) -> dict:
    """``_differences`` for every point (leading axis), in one program; call under x64."""
    return jax.vmap(lambda d, c, u: _differences(plan, d, c, u))(diff, consts, directions)


@functools.partial(_jit, static_argnums=(0, 1))
def analytic_and_differences(
    plan: Plan, probes: Probes, diff, consts, probe_keys: jax.Array
) -> tuple[dict, dict]:
    """Both parts in one program, for float64 checks (already under x64)."""

    def one(d, c, k):
        a = _analytic(plan, probes, d, c, k)
        return a, _differences(plan, d, c, a["directions"])

    return jax.vmap(one)(diff, consts, probe_keys)
