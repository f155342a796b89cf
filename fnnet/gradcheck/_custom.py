"""``check(f, *args)``: any ``jax.custom_vjp`` / ``jax.custom_jvp`` against its own primal body.

A custom rule carries its reference with it: the function it decorates, which JAX can
differentiate. ``check`` compares the rule with ``jax.vjp`` of that body and both with float64
finite differences, through the same engine, table and tolerances as ``check_rule``, at the
example point and at random points near it, and says in words what a failure means (the rule
is wrong; the body is not differentiable as written; a surrogate gradient by design).
"""

from __future__ import annotations

import contextlib
import inspect
import math
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from fnnet._checks import check_key
from fnnet.gradcheck._check import check_options, rule_name, run_spec
from fnnet.gradcheck._compare import RuleSpec
from fnnet.gradcheck._diagnose import diagnose
from fnnet.gradcheck._primal import arg_names, find_primal, signature, split_arguments
from fnnet.gradcheck._report import CheckResult
from fnnet.gradcheck._sampling import NUM_DIMS, normals
from fnnet.gradcheck._tolerances import (
    TOLERANCES,
    DtypeTolerances,
    check_table,
    dtype_name,
    lookup,
)
from fnnet.rules import autodiff

SPREAD = 0.1  # random points: each floating entry moved by SPREAD x its argument's RMS x N(0, 1)


def _positional_signature(names: list[str]) -> inspect.Signature:
    """A signature naming the data arguments (up to the first name that is not an identifier)."""
    params = []
    for name in names:
        if not name.isidentifier():
            break
        params.append(inspect.Parameter(name, inspect.Parameter.POSITIONAL_ONLY))
    if len(params) == len(names):
        return inspect.Signature(params)
    var = inspect.Parameter("args", inspect.Parameter.VAR_POSITIONAL)
    return inspect.Signature([*params, var])


def _check_dtype(leaves: list, names: list[str], dtype: Any) -> str:
    """The check's dtype: ``dtype``, or the one dtype of the floating example leaves."""
    found = {}
    for name, leaf in zip(names, leaves):
        kind = jnp.dtype(leaf.dtype)
        if jnp.issubdtype(kind, jnp.complexfloating):
            raise TypeError(f"`{name}` is complex ({kind.name}); check compares real arguments.")
        if jnp.issubdtype(kind, jnp.floating):
            if isinstance(leaf, np.ndarray | np.generic):  # NumPy: as JAX would convert it
                kind = jax.dtypes.canonicalize_dtype(kind)
            found.setdefault(jnp.dtype(kind).name, []).append(name)
    if not found:
        raise ValueError(
            f"the example arguments hold no floating array to differentiate ({', '.join(names)}"
            f"). Python numbers are static (held fixed): pass jnp.asarray(value) to "
            f"differentiate one."
        )
    if dtype is not None:
        return dtype_name(dtype)
    if len(found) > 1:
        listing = "; ".join(f"{k}: {', '.join(v)}" for k, v in found.items())
        raise ValueError(
            f"the floating example arguments have different dtypes ({listing}); pass "
            f"`dtype=` to check them all in one dtype."
        )
    return next(iter(found))


def _check_call(role: str, fn: Callable, args: tuple, kwargs: dict) -> None:
    """``fn(*args, **kwargs)`` must bind to ``fn``'s signature (when Python can read it)."""
    sig = signature(fn)
    if sig is None:
        return
    try:
        sig.bind(*args, **kwargs)
    except TypeError as error:
        keywords = f" and the keywords {', '.join(kwargs)}" if kwargs else ""
        raise TypeError(
            f"`{role}` is called with the {len(args)} example argument"
            f"{'' if len(args) == 1 else 's'}{keywords}, but its signature {sig} does not "
            f"accept them: {error}."
        ) from None


def _sampler(example: list, floating: list[bool], treedef: Any, first: jax.Array) -> Callable:
    """Point 0 (sample key ``first``) is the example itself; every other point moves each
    floating entry by ``SPREAD`` times its leaf's RMS (1 for an all-zero leaf) times N(0, 1)."""
    scales = []
    for leaf, f in zip(example, floating):
        rms = math.sqrt(float(np.mean(np.square(leaf, dtype=np.float64)))) if f and leaf.size else 0
        scales.append(SPREAD * (rms if rms > 0 else 1.0))
    shapes = [leaf.shape for leaf, f in zip(example, floating) if f]

    def sampler(key: jax.Array, dtype: Any, dims: tuple) -> tuple:
        del dims  # the example fixes the shapes
        noise = iter(normals(key, dtype, *shapes))
        at_example = jnp.all(jax.random.key_data(key) == first)
        leaves = []
        for leaf, f, scale in zip(example, floating, scales):
            x = jnp.asarray(leaf)
            if f:
                x = x.astype(dtype)
                x = jnp.where(at_example, x, x + (scale * next(noise)).astype(dtype))
            leaves.append(x)
        return jax.tree_util.tree_unflatten(treedef, leaves)

    return sampler


def _probe_reference(rule_fn, ref_fn, data: tuple, floating: list[bool], what: str) -> None:
    """Trace the rule, then the reference's VJP, at the example: JAX's own error if the rule
    cannot run; an explanation if the reference cannot be differentiated."""
    jax.eval_shape(rule_fn, *data)
    leaves, treedef = jax.tree_util.tree_flatten(data)

    def reference_of(diff: list) -> Any:
        given = iter(diff)
        full = [next(given) if f else leaf for leaf, f in zip(leaves, floating)]
        return ref_fn(*jax.tree_util.tree_unflatten(treedef, full))

    def pullback(diff: list) -> Any:
        out, vjp = jax.vjp(reference_of, diff)
        return vjp(jax.tree_util.tree_map(jnp.ones_like, out))

    try:
        jax.eval_shape(pullback, [leaf for leaf, f in zip(leaves, floating) if f])
    except Exception as error:
        message = str(error).strip()
        raise ValueError(
            f"JAX cannot differentiate {what} ({type(error).__name__}: "
            f"{message.splitlines()[0] if message else ''}), so it cannot serve as the "
            f"reference: pass `reference=`, an independently written forward that JAX can "
            f"differentiate, called like f (or use fnnet.gradcheck.check_rule)."
        ) from error


def check(
    f: Callable[..., Any],
    *args: Any,
    key: jax.Array | None = None,
    points: int = 4,
    order: int = 1,
    dtype: Any = None,
    surrogate: bool = False,
    reference: Callable[..., Any] | None = None,
    tolerances: Mapping[str, DtypeTolerances] = TOLERANCES,
    **static_kwargs: Any,
) -> CheckResult:
    """Check a custom derivative rule against JAX's derivative of its own primal body.

    ``f`` is a ``jax.custom_vjp`` or ``jax.custom_jvp`` function from any library, an fnnet hand
    rule, or a ``functools.partial`` or ``jax.jit`` of one. Its rule's VJP is compared with
    ``jax.vjp`` of the function it decorates (its *primal body*), and both with central finite
    differences in float64, at ``args`` and at ``points − 1`` random points near them (each
    floating entry moved by 0.1 × its argument's RMS × N(0, 1)), with ``check_rule``'s table,
    report and tolerances. The result's notes say what a failure means: the rule is wrong; the
    body is not differentiable as written (a ``stop_gradient``, a ``round``: then pass
    ``reference=``); or the rule is a surrogate gradient by design.

    Arrays in ``args`` (``jax.Array`` or NumPy, any pytree of them) are the data: floating ones
    are differentiated, integer ones held fixed. Everything else is static (held fixed, never
    traced): Python numbers, functions, strings and the positions in ``nondiff_argnums``.
    Keyword arguments are held fixed too (arrays among them are constants, never
    differentiated).

    Args:
        f: the function under test.
        *args: example arguments; they fix the shapes and dtypes.
        key: a ``jax.random.key`` for the points and probes (default ``jax.random.key(0)``).
        points: the example plus ``points − 1`` random points near it.
        order: 1, or 2 to check the derivatives of the VJP as well (see ``check_rule``).
        dtype: check in this dtype (floating arguments cast to it); default: the dtype of the
            floating arguments, which must then agree.
        surrogate: declare that the rule's derivative is meant to differ from the true one (a
            straight-through estimator). Rows comparing it with the true derivative are then
            reported as ``differs (surrogate)`` instead of failing: ``rule vs fd``, and
            ``rule vs autodiff`` if the body's derivative is the true one (it agrees with the
            differences), or ``autodiff vs fd`` if the body shares the surrogate.
        reference: a forward called like ``f`` to use instead of the primal body (needed when
            the body is not differentiable as written).
        tolerances: the tolerance table (default ``fnnet.gradcheck.TOLERANCES``).
        **static_kwargs: keyword arguments of ``f``, held fixed. For a keyword that is also
            one of the options above, pass ``functools.partial(f, name=value)`` as ``f``.

    Returns:
        A ``CheckResult``, as ``check_rule``'s, whose ``notes`` name the reference, the points
        and, on a failure or a declared surrogate, what it means.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from fnnet import gradcheck
        >>> @jax.custom_vjp
        ... def square(x):
        ...     return x * x
        >>> square.defvjp(lambda x: (square(x), x), lambda x, g: (2.0 * x * g,))
        >>> gradcheck.check(square, jnp.arange(3.0)).passed
        True
    """
    primal = find_primal(f, args, static_kwargs)
    if reference is not None and not callable(reference):
        raise TypeError(f"`reference` must be a function called like f; got {reference!r}.")
    if not isinstance(surrogate, bool):
        raise TypeError(f"`surrogate` must be a bool; got {surrogate!r}.")
    key = jax.random.key(0) if key is None else key
    check_key("key", key)
    check_options(points, order, None, 1, False, None)
    table = check_table(tolerances)
    names = arg_names(f, len(args))
    split = split_arguments(args, static_kwargs, primal.static, names)
    flat, treedef = jax.tree_util.tree_flatten_with_path(split.data)
    labels = [*names, "kwargs"]
    leaf_names = [labels[p[0].idx] + jax.tree_util.keystr(p[1:]) for p, _ in flat]
    example = [leaf for _, leaf in flat]
    positional = [p[0].idx < len(args) for p, _ in flat]  # keyword arrays: never differentiated
    differentiated = [
        bool(jnp.issubdtype(leaf.dtype, jnp.floating)) and here
        for leaf, here in zip(example, positional)
    ]
    name = _check_dtype(
        [x for x, here in zip(example, positional) if here],
        [n for n, here in zip(leaf_names, positional) if here],
        dtype,
    )
    lookup(table, name, "autodiff")  # a dtype without a row fails here, before any work
    body = primal.body if reference is None else reference
    for role, fn in (("f", f), ("reference", reference)):
        if fn is not None:
            _check_call(role, fn, args, static_kwargs)

    def rule_fn(*data: Any) -> Any:
        call_args, call_kwargs = split.rebuild(data)
        return f(*call_args, **call_kwargs)

    def ref_fn(*data: Any) -> Any:
        call_args, call_kwargs = split.rebuild(data)
        with autodiff(True):  # fnnet rules inside the body: autodiff of their bodies too
            return body(*call_args, **call_kwargs)

    rule_fn.__signature__ = ref_fn.__signature__ = _positional_signature(labels)
    what = "`reference`" if reference is not None else f"the primal body of f ({primal.kind})"
    with jax.enable_x64(True) if name == "float64" else contextlib.nullcontext():
        _probe_reference(rule_fn, ref_fn, split.data, differentiated, what)
    keys = jax.random.split(key, (points, 3))
    sampler = _sampler(
        [np.asarray(leaf) for leaf in example],
        differentiated,
        treedef,
        jax.random.key_data(keys[0, 0]),
    )
    spec = RuleSpec(rule_name(f), rule_fn, ref_fn, sampler, wrt=tuple(range(len(args))))
    orders = (1, 2) if order == 2 else (1,)
    result = run_spec(
        spec,
        keys,
        (1,) * NUM_DIMS,
        name,
        orders,
        full=None,
        projections=4,
        forward_mode=False,
        table=table,
    )
    reports, notes = diagnose(
        result.reports,
        surrogate=surrogate,
        reference=reference is not None,
        body=lambda *d: ref_fn(*d),
        data=split.data,
    )
    static = f"; static: {', '.join(split.static)}" if split.static else ""
    where = (
        f"reference: {'`reference`' if reference is not None else f'the primal body ({primal.kind})'}"
        f", differentiated by JAX; point 0 is the example"
        + {1: "", 2: ", point 1 is near it"}.get(points, f", points 1-{points - 1} are near it")
    )
    return result._replace(
        reports=reports,
        shapes=result.shapes + static,
        notes=(where, *notes),
    )


def assert_rule(f: Callable[..., Any], *args: Any, **kwargs: Any) -> CheckResult:
    """``check(f, *args, **kwargs).raise_if_failed()``, for tests.

    Raises ``AssertionError`` with the failing rows and what they mean; returns the result.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from fnnet import gradcheck
        >>> _ = gradcheck.assert_rule(jax.nn.relu, jnp.array([-1.0, 2.0]))
    """
    __tracebackhide__ = True  # pytest: show the caller's line, not this one
    return check(f, *args, **kwargs).raise_if_failed()
