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
from collections.abc import Callable, Mapping
from typing import Any, cast

import jax
import jax.numpy as jnp

from fnnet._checks import check_key
from fnnet.gradcheck._compare import RuleSpec as RuleSpec
from fnnet.gradcheck._compare import compare, setup
from fnnet.gradcheck._report import CheckResult, LeafReport
from fnnet.gradcheck._sampling import NUM_DIMS, Sampler, random_dims
from fnnet.gradcheck._tolerances import TOLERANCES, DtypeTolerances, check_table, dtype_name, lookup
from fnnet.rules import all_rules


def check_options(points, order, full, projections, forward_mode, dims) -> None:
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
    check_key("key", key)
    check_options(points, order, full, projections, forward_mode, dims)
    table = check_table(tolerances)
    name = dtype_name(dtype)
    lookup(table, name, "autodiff")  # an unknown dtype fails here, before any work
    dims_key, points_key = jax.random.split(key)
    dims = random_dims(dims_key, NUM_DIMS) if dims is None else dims
    keys = jax.random.split(points_key, (points, 3))  # per point: sample, probe, cotangent keys
    orders = (1, 2) if order == 2 and spec.second_order else (1,)
    return run_spec(
        spec,
        keys,
        dims,
        name,
        orders,
        full=full,
        projections=projections,
        forward_mode=forward_mode,
        table=table,
    )


def run_spec(
    spec: RuleSpec,
    keys: jax.Array,
    dims: tuple[int, ...],
    name: str,
    orders: tuple[int, ...],
    *,
    full: bool | None,
    projections: int,
    forward_mode: bool,
    table: Mapping[str, DtypeTolerances],
) -> CheckResult:
    """The checks of a validated ``spec`` at the points of ``keys`` (shape ``(points, 3)``:
    sample, probe and cotangent key per point), keeping the worst row per (order, comparison,
    leaf)."""
    worst: dict[tuple, LeafReport] = {}
    all_full = True
    with jax.enable_x64(True) if name == "float64" else contextlib.nullcontext():
        prepared = setup(spec, keys[0, 0], name, dims)
        for k in orders:
            rows, used_full = compare(
                prepared,
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
        spec.name, name, all_full, f"{prepared.shapes} (x{len(keys)} points)", tuple(worst.values())
    )


def rule_name(rule: Any) -> str:
    while isinstance(rule, functools.partial) or (
        isinstance(rule, jax.stages.Wrapped) and hasattr(rule, "__wrapped__")
    ):  # a partial or a jax.jit of a rule: the rule's name
        rule = rule.func if isinstance(rule, functools.partial) else cast(Any, rule).__wrapped__
    for name, registered in all_rules().items():  # fnnet's rules: their public path
        if registered is rule:
            return name
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
        rule_name(rule) if name is None else name,
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
