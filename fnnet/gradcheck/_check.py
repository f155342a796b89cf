"""``check_rule``: a derivative rule against autodiff of a reference, and both against finite differences.

The comparisons (see ``COMPARISONS`` in ``_report``), per input leaf:

* **rule vs autodiff**: ``vᵀJ`` from the rule's VJP against ``jax.vjp`` of the reference,
  entry by entry (the full Jacobian when ``V`` is the identity);
* **rule vs fd** / **autodiff vs fd**: ``vᵀJu`` from each VJP against ``vᵀ`` times central
  differences along ``u`` (float64). A wrong reference is caught here: the rule agrees with
  the differences and the reference does not;
* **forward**: ``rule(x)`` against ``reference(x)``; **switch vs autodiff** (``forward_mode``):
  ``jax.jvp`` through :func:`fnnet.autodiff` against ``jax.jvp`` of the reference.

The compiled part lives in ``_engine``; this module validates, compares on the host in float64
NumPy and keeps, per (order, comparison, leaf), the worst point.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from fnnet.gradcheck import _engine as engine
from fnnet.gradcheck._report import CheckResult, LeafReport
from fnnet.gradcheck._sampling import NUM_DIMS, Sampler, random_dims
from fnnet.gradcheck._tolerances import (
    TOLERANCES,
    DtypeTolerances,
    Tolerance,
    check_table,
    dtype_name,
    less_precise,
    lookup,
)

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
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    err = np.abs(a - b)
    scale = max(1.0, float(np.max(magnitude)))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = err / (tol.atol * scale + tol.rtol * np.abs(b) + np.ravel(noise))
    ratio = np.where(np.isnan(err), np.inf, ratio)
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


def _setup(spec: RuleSpec, key, dtype: str, dims: tuple[int, ...]) -> _Setup:
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
    out = jax.tree_util.tree_flatten_with_path(
        jax.eval_shape(lambda a: spec.rule(*spec.static_args, *a), args)
    )[0]
    _check_reference_output(spec, args, [x for _, x in out])
    segments = [_Segment("out" + jax.tree_util.keystr(p), tuple(x.shape)) for p, x in out]
    return _Setup(plan, names, diff, segments, out[0][1].dtype if out else None, ", ".join(shapes))


def _compare(
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


def _check_key(key: Any) -> None:
    ok = isinstance(key, jax.Array) and (
        jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
        or (key.dtype == jnp.uint32 and key.shape == (2,))
    )
    if not ok:
        raise TypeError(f"`key` must be a PRNG key from jax.random.key(seed); got {key!r}.")


def _check_options(points, order, full, projections, forward_mode, dims) -> None:
    if isinstance(order, bool) or order not in (1, 2):
        raise ValueError(f"`order` must be 1 or 2; got {order!r}.")
    for arg, value in (("points", points), ("projections", projections)):
        if not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
            raise ValueError(f"`{arg}` must be a positive int; got {value!r}.")
    if not (full is None or isinstance(full, bool)):
        raise TypeError(f"`full` must be True, False or None (chosen by size); got {full!r}.")
    if not isinstance(forward_mode, bool):
        raise TypeError(f"`forward_mode` must be a bool; got {forward_mode!r}.")
    if dims is not None and not (
        isinstance(dims, tuple)
        and len(dims) == NUM_DIMS
        and all(isinstance(d, int) and d >= 1 for d in dims)
    ):
        raise ValueError(
            f"`dims` must be a tuple of {NUM_DIMS} positive ints or None; got {dims!r}."
        )


def check_spec(
    spec: RuleSpec,
    *,
    key: jax.Array,
    dtype: Any = jnp.float32,
    points: int = 1,
    order: int = 1,
    full: bool | None = None,
    projections: int = 4,
    forward_mode: bool = False,
    dims: tuple[int, ...] | None = None,
    tolerances: Mapping[str, DtypeTolerances] = TOLERANCES,
) -> CheckResult:
    """Check the rule described by ``spec``; see :func:`check_rule` for the arguments.

    With ``order=2``, a spec marked ``second_order=False`` is checked to first order only.
    """
    if not isinstance(spec, RuleSpec):
        raise TypeError(f"`spec` must be a fnnet.gradcheck.RuleSpec; got {type(spec).__name__}.")
    for field in ("rule", "reference", "sampler"):
        if not callable(getattr(spec, field)):
            raise TypeError(f"`{field}` must be callable; got {getattr(spec, field)!r}.")
    _check_key(key)
    _check_options(points, order, full, projections, forward_mode, dims)
    table = check_table(tolerances)
    name = dtype_name(dtype)
    lookup(table, name, "autodiff")  # an unknown dtype fails here, before any work
    dims_key, points_key = jax.random.split(key)
    dims = random_dims(dims_key, NUM_DIMS) if dims is None else dims
    keys = jax.random.split(points_key, (points, 3))  # per point: sample, probe, cotangent keys
    orders = (1, 2) if order == 2 and spec.second_order else (1,)
    worst: dict[tuple, LeafReport] = {}
    all_full = True
    with jax.enable_x64(True) if name == "float64" else contextlib.nullcontext():
        setup = _setup(spec, keys[0, 0], name, dims)
        for k in orders:
            rows, used_full = _compare(
                setup,
                k,
                keys,
                full=full,
                projections=projections,
                forward_mode=forward_mode,
                table=table,
            )
            all_full &= used_full
            for comparison, leaf, (max_abs, rel, index, ratio), tol, where, p in rows:
                report = LeafReport(
                    comparison, k, leaf, max_abs, rel, index, where, tol, ratio, ratio <= 1.0, p
                )
                previous = worst.get((k, comparison, leaf))
                if previous is None or not report.ratio <= previous.ratio:
                    worst[(k, comparison, leaf)] = report
    return CheckResult(
        spec.name, name, all_full, f"{setup.shapes} (x{points} points)", tuple(worst.values())
    )


def _rule_name(rule: Any) -> str:
    while isinstance(rule, functools.partial):
        rule = rule.func
    qualname = getattr(rule, "__qualname__", None)
    return f"{getattr(rule, '__module__', '?')}.{qualname}" if qualname else repr(rule)


def check_rule(
    rule: Callable[..., Any],
    reference: Callable[..., Any],
    sampler: Sampler,
    *,
    key: jax.Array,
    dtype: Any = jnp.float32,
    static_args: tuple = (),
    wrt: tuple[int, ...] | None = None,
    points: int = 1,
    order: int = 1,
    full: bool | None = None,
    projections: int = 4,
    forward_mode: bool = False,
    dims: tuple[int, ...] | None = None,
    tolerances: Mapping[str, DtypeTolerances] = TOLERANCES,
    name: str | None = None,
) -> CheckResult:
    """Check a function's derivative rule three ways and return the per-leaf result.

    The rule's VJP is compared with ``jax.vjp`` of ``reference`` (plain autodiff), and both
    with central finite differences of the rule's forward in float64; the forward values are
    compared too. Any function works: a ``jax.custom_vjp``, a ``jax.custom_jvp``, an fnnet
    hand rule, or a composition of them.

    Args:
        rule: the function under test, called as ``rule(*static_args, *args)``.
        reference: an independently written forward, ``reference(*args)``.
        sampler: ``(key, dtype, dims) -> args``, a tuple of arguments whose floating leaves
            are differentiated. ``dims`` is a tuple of random sizes in 1..4 to build shapes
            from (ignore it for fixed shapes); values come from ``key`` (traced: use
            ``jax.random``), away from kinks (``fnnet.gradcheck.shift_away``).
        key: a ``jax.random.key``; the sizes, points, cotangents and directions come from it.
        dtype: ``float32`` (default) or ``float64``; a float64 check runs under a local
            ``jax.enable_x64(True)``, so x64 need not be on globally.
        static_args: hashable leading arguments of ``rule`` (e.g. an activation function).
        wrt: positions in ``args`` to differentiate; default all floating leaves.
        points: how many points to draw at the same shapes (one vmapped program); the worst
            per (comparison, leaf) is kept.
        order: 1, or 2 to also check the derivatives of the VJP (reverse over reverse,
            Hessian-vector products of ``vᵀf``).
        full: full Jacobians (``True``), random projections ``vᵀJu`` (``False``), or by size
            (``None``: full when output size × input size ≤ 4096).
        projections: number of random cotangents ``v`` and directions ``u`` in projection mode.
        forward_mode: also compare ``jax.jvp`` of the rule under ``fnnet.autodiff()`` (the
            switch to plain autodiff) with ``jax.jvp`` of the reference.
        dims: fix the sizes passed to the sampler instead of drawing them from ``key``.
        tolerances: the tolerance table, ``{dtype name: DtypeTolerances}``; default
            ``fnnet.gradcheck.TOLERANCES``.
        name: label for the report (default: the rule's qualified name).

    Returns:
        A ``CheckResult``: ``.passed``, ``.reports`` (one ``LeafReport`` per order, comparison
        and input leaf, named by key path), ``.raise_if_failed()``, and a table when printed.

    Example:
        >>> import jax, jax.numpy as jnp, fnnet
        >>> from fnnet import gradcheck
        >>> res = gradcheck.check_rule(
        ...     fnnet.activations.sigmoid, jax.nn.sigmoid,
        ...     lambda key, dtype, dims: (jax.random.normal(key, dims[:2], dtype),),
        ...     key=jax.random.key(0))
        >>> res.passed
        True
    """
    spec = RuleSpec(
        _rule_name(rule) if name is None else name,
        rule,
        reference,
        sampler,
        tuple(static_args),
        wrt,
    )
    return check_spec(
        spec,
        key=key,
        dtype=dtype,
        points=points,
        order=order,
        full=full,
        projections=projections,
        forward_mode=forward_mode,
        dims=dims,
        tolerances=tolerances,
    )
