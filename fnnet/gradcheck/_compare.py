"""How one check runs: validate what the sampler and rule return, run the compiled programs of
``_engine``, and compare on the host in float64 NumPy, keeping the worst entry per comparison.

``RuleSpec`` (what to check) lives here too; the public entry points are in ``_check``.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from fnnet.gradcheck import _engine as engine
from fnnet.gradcheck._sampling import Sampler
from fnnet.gradcheck._tolerances import Tolerance, less_precise, lookup, ratios

_FULL_LIMIT, _FULL_SIDE = 4096, 256  # full Jacobians when output x input size <= 4096, each <= 256


class RuleSpec(NamedTuple):
    """How to check one rule: the rule, an independent reference and an input sampler.

    Attributes:
        name: a label, e.g. ``"fnnet.layers.dense[tanh]"``.
        rule: the function under test, called as ``rule(*static_args, *args)``.
        reference: a forward written independently (``jax.nn``, plain ``jnp``), called as
            ``reference(*args)`` and differentiated by JAX.
        sampler: ``(key, dtype, dims) -> args``: a tuple of arguments drawn from ``key``, with
            shapes built from ``dims`` (random sizes in 1..4), values away from kinks.
        static_args: hashable non-array leading arguments of ``rule`` (an activation function).
        wrt: positions in ``args`` to differentiate (default: every floating leaf).
        second_order: whether differentiating the rule's VJP again gives the true second
            derivative; ``order=2`` checks only the specs that say so.
    """

    name: str
    rule: Callable[..., Any]
    reference: Callable[..., Any]
    sampler: Sampler
    static_args: tuple = ()
    wrt: tuple[int, ...] | None = None
    second_order: bool = True


class _Segment(NamedTuple):
    name: str
    shape: tuple[int, ...]


def _locate(segments: Sequence[_Segment], flat: int) -> str:
    """``"w[1, 0]"`` for entry ``flat`` of the concatenation of the flattened ``segments``."""
    for seg in segments:
        size = math.prod(seg.shape)
        if flat < size:
            if not seg.shape:
                return seg.name
            return (
                f"{seg.name}[{', '.join(str(int(i)) for i in np.unravel_index(flat, seg.shape))}]"
            )
        flat -= size
    raise IndexError(flat)


def _stats(a, b, magnitude, tol: Tolerance, noise=0.0) -> tuple[float, float, int, float]:
    """Worst entry of ``|a − b| ≤ atol · s + rtol · |b| + noise``: (max abs, max rel, argmax, ratio)."""
    ratio = ratios(a, b, tol, magnitude, noise)
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    err = np.abs(a - b)
    worst = int(np.argmax(ratio))
    max_err, max_b = float(np.max(err)), float(np.max(np.abs(b)))
    rel = max_err / max_b if max_b > 0 else (0.0 if max_err == 0 else math.inf)
    return max_err, (math.nan if math.isnan(max_err) else rel), worst, float(ratio[worst])


def _arg_names(rule: Callable, n_static: int, n_args: int) -> list[str]:
    """Parameter names of ``rule`` after its static arguments (``args[i]`` when unknown)."""
    try:
        params = list(inspect.signature(rule).parameters.values())
    except (TypeError, ValueError):
        params = []
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    names = [p.name for p in params if p.kind in kinds][n_static:]
    return [names[i] if i < len(names) else f"args[{i}]" for i in range(n_args)]


class _Setup(NamedTuple):
    """What one check knows before running: the static plan, leaf names and shapes."""

    plan: engine.Plan
    names: list[str]  # key paths of the differentiated leaves
    diff: list  # their ShapeDtypeStructs
    out: list[_Segment]  # the rule's output leaves
    out_dtype: Any  # of the flattened output (its first leaf's)
    shapes: str  # all arguments, for the report


def _check_arity(role: str, fn: Callable, n_static: int, names: list[str]) -> None:
    """``fn`` must take ``n_static`` static arguments and the sampler's ``names``, positionally."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin or an object Python cannot inspect: JAX will tell
        return
    count = n_static + len(names)
    try:
        sig.bind(*range(count))
    except TypeError as error:
        static = f"the {n_static} static_args and " if n_static else ""
        plural = "" if count == 1 else "s"
        raise TypeError(
            f"`{role}` is called with {count} positional argument{plural} ({static}the "
            f"sampler's {', '.join(names)}), but its signature {sig} does not accept them: "
            f"{error}. "
            + (
                "Give `reference` one parameter per argument the sampler returns."
                if role == "reference"
                else "Make the sampler return one entry per argument of the rule."
            )
        ) from None


def _check_reference_output(spec: RuleSpec, args: tuple, rule_out: list) -> None:
    """The reference must return the rule's output shapes: a mismatch is the reference's fault."""
    ref_out = jax.tree_util.tree_leaves(jax.eval_shape(lambda a: spec.reference(*a), args))
    rule_shapes = [tuple(x.shape) for x in rule_out]
    ref_shapes = [tuple(x.shape) for x in ref_out]
    if rule_shapes != ref_shapes:
        show = lambda shapes: shapes[0] if len(shapes) == 1 else shapes  # noqa: E731
        raise ValueError(
            f"`reference` returns output shape {show(ref_shapes)} but the rule "
            f"({spec.name}) returns {show(rule_shapes)} for the same arguments: fix the "
            f"reference so that it computes the rule's output (same shape, no extra reduction)."
        )


def setup(spec: RuleSpec, key, dtype: str, dims: tuple[int, ...]) -> _Setup:
    """Trace the sampler and the rule once (shapes only) and validate what the sampler returns."""
    args = jax.eval_shape(lambda k: spec.sampler(k, jnp.dtype(dtype), dims), key)
    if not isinstance(args, tuple):
        raise TypeError(
            f"`sampler` must return a tuple of arguments, one per argument of the rule, e.g. "
            f"(z,); got {type(args).__name__}."
        )
    wrt = tuple(range(len(args))) if spec.wrt is None else tuple(spec.wrt)
    for i in wrt:
        if not (isinstance(i, int) and 0 <= i < len(args)):
            raise ValueError(
                f"`wrt` must hold argument positions in 0..{len(args) - 1}; got {spec.wrt!r}."
            )
    arg_names = _arg_names(spec.rule, len(spec.static_args), len(args))
    flat, treedef = jax.tree_util.tree_flatten_with_path(args)
    mask, names, diff, shapes = [], [], [], []
    for path, leaf in flat:
        name = arg_names[path[0].idx] + jax.tree_util.keystr(path[1:])
        shapes.append(f"{name}: {leaf.dtype.name}{list(leaf.shape)}")
        is_diff = path[0].idx in wrt and jnp.issubdtype(leaf.dtype, jnp.floating)
        if is_diff and leaf.dtype != dtype:
            raise TypeError(
                f"`sampler` returned `{name}` with dtype {leaf.dtype.name}, but the check's `dtype` "
                f"is {dtype}; build it with the dtype the sampler is given."
            )
        mask.append(bool(is_diff))
        if is_diff:
            names.append(name)
            diff.append(leaf)
    if not names:
        raise ValueError(
            f"`sampler` returned no floating argument to differentiate (`wrt` = {spec.wrt!r})."
        )
    plan = engine.Plan(
        spec.rule,
        spec.reference,
        spec.sampler,
        tuple(spec.static_args),
        treedef,
        tuple(mask),
        dtype,
        dims,
        1,
    )
    try:
        hash(plan)
    except TypeError:
        raise TypeError(
            f"`static_args` must be hashable (functions, ints, tuples); got {spec.static_args!r}."
        ) from None
    _check_arity("rule", spec.rule, len(spec.static_args), arg_names)
    _check_arity("reference", spec.reference, 0, arg_names)
    out = jax.tree_util.tree_flatten_with_path(
        jax.eval_shape(lambda a: spec.rule(*spec.static_args, *a), args)
    )[0]
    _check_reference_output(spec, args, [x for _, x in out])
    segments = [_Segment("out" + jax.tree_util.keystr(p), tuple(x.shape)) for p, x in out]
    return _Setup(plan, names, diff, segments, out[0][1].dtype if out else None, ", ".join(shapes))


def compare(
    setup: _Setup, order: int, keys, *, full, projections, forward_mode, table
) -> tuple[list, bool]:
    """Run the programs for all points and compare; rows ``(comparison, leaf, stats, tol, where, point)``."""
    plan, names, diff = setup.plan._replace(order=order), setup.names, setup.diff
    out_segments = setup.out
    if order == 2:  # the output of order 2 is the VJP: one segment per input leaf
        out_segments = [_Segment(f"grad_{n}", tuple(x.shape)) for n, x in zip(names, diff)]
    out_dtype = diff[0].dtype if order == 2 else setup.out_dtype
    m, n_total, dtype = (
        sum(math.prod(s.shape) for s in out_segments),
        sum(x.size for x in diff),
        plan.dtype,
    )
    if full is None:
        full = m <= _FULL_SIDE and n_total <= _FULL_SIDE and m * n_total <= _FULL_LIMIT
    probes = engine.Probes(full, projections, forward_mode)
    points = engine.points(plan, keys)
    if dtype == "float64":
        analytic, numeric = engine.analytic_and_differences(plan, probes, *points, keys[:, 1])
    else:
        analytic = engine.analytic(plan, probes, *points, keys[:, 1])
        with jax.enable_x64(True):
            numeric = engine.differences(plan, *points, analytic["directions"])
    analytic, numeric = jax.device_get((analytic, numeric))
    fd_dtype = numeric["derivatives"][0].dtype
    eps_fd = float(jnp.finfo(fd_dtype).eps)
    locate_out = functools.partial(_locate, out_segments)
    rows = []
    for p in range(len(keys)):
        a = jax.tree_util.tree_map(lambda x: x[p], analytic)
        d = jax.tree_util.tree_map(lambda x: x[p], numeric)
        v = np.asarray(a["cotangents"], np.float64)

        def add(comparison, leaf, kind, dtypes, computed, desired, magnitude, where, noise=0.0):
            """One row; ``desired`` is 1-d or 2-d, and ``index`` is the worst entry's place in it."""
            tol = lookup(table, less_precise(*dtypes), kind)
            max_abs, rel, flat, ratio = _stats(computed, desired, magnitude, tol, noise)
            index = tuple(int(i) for i in np.unravel_index(flat, np.shape(desired)))
            rows.append((comparison, leaf, (max_abs, rel, index, ratio), tol, where(flat), p))

        add(
            "forward",
            "output",
            "autodiff",
            (out_dtype, out_dtype),
            a["out_rule"],
            a["out_ref"],
            np.abs(a["out_ref"]),
            locate_out,
        )
        for i, name in enumerate(names):
            locate_in = functools.partial(_locate, [_Segment(name, tuple(diff[i].shape))])
            n, u = diff[i].size, np.asarray(a["directions"][i], np.float64)
            k_u = u.shape[0]
            if full:
                where_vjp = where_fd = lambda j, n=n: (
                    f"d {locate_out(j // n)} / d {locate_in(j % n)}"
                )
                where_jvp = lambda j: f"d {locate_out(j % m)} / d {locate_in(j // m)}"
            else:
                where_vjp = lambda j, n=n: f"v{j // n}^T J -> {locate_in(j % n)}"
                where_fd = lambda j, k_u=k_u: f"v{j // k_u}^T J u{j % k_u}"
                where_jvp = lambda j: f"J u{j // m} -> {locate_out(j % m)}"
            vjp_rule = np.asarray(a["vjp_rule"][i]).reshape(v.shape[0], n)
            vjp_ref = np.asarray(a["vjp_ref"][i]).reshape(v.shape[0], n)
            add(
                "rule vs autodiff",
                name,
                "autodiff",
                (dtype, dtype),
                vjp_rule,
                vjp_ref,
                np.abs(vjp_ref),
                where_vjp,
            )
            by_differences = (
                v @ np.asarray(d["derivatives"][i], np.float64).T
            )  # vᵀJu, (cotangents, directions)
            # Rounding in f(x ± hu) is about eps·|f|/h per output: allowed on top of the tolerance.
            noise = (
                2.0
                * eps_fd
                * (np.abs(v) @ d["f_abs"])[:, None]
                / float(d["steps"][i])
                * np.ones((1, k_u))
            )
            for comparison, vjp in (("rule vs fd", vjp_rule), ("autodiff vs fd", vjp_ref)):
                c = np.asarray(vjp, np.float64)
                add(
                    comparison,
                    name,
                    "finite_differences",
                    (dtype, fd_dtype),
                    c @ u.T,
                    by_differences,
                    np.abs(c) @ np.abs(u).T,
                    where_fd,
                    noise,
                )
            if forward_mode:
                add(
                    "switch vs autodiff",
                    name,
                    "autodiff",
                    (out_dtype, out_dtype),
                    a["jvp_switch"][i],
                    a["jvp_ref"][i],
                    np.abs(a["jvp_ref"][i]),
                    where_jvp,
                )
    return rows, full
