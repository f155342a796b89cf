"""The command line ``python -m fnnet.gradcheck``: check every registered rule, or any custom rule
given by ``--function``; exit 1 on any failure.

Each rule is checked at every requested dtype over ``--shapes`` random shape draws; at each
shape ``--seeds`` random points are checked together in one vmapped, compiled program. Float64
checks run under a scoped ``jax.enable_x64(True)`` and every check under strict dtype
promotion, so a rule that silently promotes float32 to float64 fails.

Examples::

    python -m fnnet.gradcheck                       # everything, float32 and float64
    python -m fnnet.gradcheck --rules dense,losses  # names containing "dense" or "losses"
    python -m fnnet.gradcheck --dtypes float64 --seeds 8 --order 2 --forward-mode --verbose
    python -m fnnet.gradcheck --function mylib.ops:logsumexp --args "(3, 4) float32"

The checks are shared among ``--jobs`` worker processes (default: the CPUs, at most 4).
``--function pkg.module:name`` checks one ``jax.custom_vjp`` / ``jax.custom_jvp`` function
against its own primal body (:func:`fnnet.gradcheck.check`) at example arguments drawn as
``--args`` describes (see :mod:`fnnet.gradcheck._examples`), with ``--kwargs`` held fixed.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import os
import sys
import time
from collections.abc import Sequence

import jax

from fnnet.gradcheck import _examples
from fnnet.gradcheck._check import RuleSpec, check_spec
from fnnet.gradcheck._custom import check
from fnnet.gradcheck._report import CheckResult, summary


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive int; got {text}")
    return value


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m fnnet.gradcheck",
        description="Verify fnnet's hand-written gradient rules (or, with --function, any "
        "custom_vjp/custom_jvp function) against autodiff and finite differences.",
    )
    parser.add_argument(
        "--rules",
        default="",
        help="comma-separated substrings; check the rules whose name contains any",
    )
    parser.add_argument(
        "--dtypes",
        default="float32,float64",
        help="comma-separated dtypes (default float32,float64)",
    )
    parser.add_argument(
        "--seeds",
        type=_positive,
        default=3,
        help="random points per shape, vmapped (with --function: near the example; default 3)",
    )
    parser.add_argument(
        "--shapes",
        type=_positive,
        default=1,
        help="random shape draws per rule and dtype (default 1)",
    )
    parser.add_argument("--seed", type=int, default=0, help="base seed of every key (default 0)")
    parser.add_argument(
        "--order", type=int, choices=(1, 2), default=1, help="2: also reverse over reverse (HVPs)"
    )
    parser.add_argument(
        "--forward-mode",
        action="store_true",
        help="also check jax.jvp through fnnet.autodiff() (about 30%% slower)",
    )
    parser.add_argument(
        "--full",
        dest="full",
        action="store_const",
        const=True,
        default=None,
        help="always compare full Jacobians",
    )
    parser.add_argument(
        "--projections",
        dest="full",
        action="store_const",
        const=False,
        help="always compare random projections vᵀJu",
    )
    parser.add_argument(
        "--jobs",
        type=_positive,
        default=min(4, os.cpu_count() or 1),
        help="worker processes (default: the number of CPUs, at most 4)",
    )
    parser.add_argument("--verbose", action="store_true", help="print every check's table")
    parser.add_argument("--list", action="store_true", help="list the selected rules and exit")
    parser.add_argument(
        "--function",
        metavar="PKG.MODULE:NAME",
        help="check this custom_vjp/custom_jvp function against its primal body instead",
    )
    parser.add_argument(
        "--args",
        dest="arrays",
        default="",
        help="with --function: example arrays, e.g. '(3, 4) float32, (4,) float32, (3,) int32 0:4'",
    )
    parser.add_argument(
        "--kwargs", default="", help="with --function: keywords held fixed, e.g. 'axis=0'"
    )
    parser.add_argument(
        "--surrogate",
        action="store_true",
        help="with --function: the rule is a surrogate gradient by design (straight-through)",
    )
    return parser.parse_args(argv)


def _select(registry: Sequence[RuleSpec], rules: str) -> list[int]:
    """Positions in ``registry`` of the specs whose name contains any of the patterns."""
    patterns = [p.strip() for p in rules.split(",") if p.strip()]
    return [
        i
        for i, spec in enumerate(registry)
        if not patterns or any(p in spec.name for p in patterns)
    ]


def _check(
    spec: RuleSpec, index: int, dtype: str, shape: int, args: argparse.Namespace
) -> CheckResult:
    """One check; the key depends on the spec's registry position, so selection does not change it."""
    key = jax.random.fold_in(jax.random.fold_in(jax.random.key(args.seed), index), shape)
    try:
        with jax.numpy_dtype_promotion("strict"):
            return check_spec(
                spec,
                key=key,
                dtype=dtype,
                points=args.seeds,
                order=args.order,
                full=args.full,
                forward_mode=args.forward_mode,
            )
    except Exception as error:  # reported, not raised: one broken rule must not hide the others
        return CheckResult(
            spec.name, dtype, False, "-", (), error=f"{type(error).__name__}: {error}"
        )


def _check_registered(job: tuple) -> CheckResult:
    """A worker process's job: check entry ``index`` of the registry (imported in the worker)."""
    from fnnet.gradcheck.registry import REGISTRY

    index, dtype, shape, args = job
    return _check(REGISTRY[index], index, dtype, shape, args)


def _run(
    args: argparse.Namespace, registry: Sequence[RuleSpec], *, processes: bool
) -> list[CheckResult]:
    """Check the selected specs; results in registry order.

    With ``processes`` (the default registry, ``--jobs`` > 1) the checks are shared among
    ``args.jobs`` worker processes: a check is mostly single-threaded compilation, which threads
    do not overlap. Otherwise (e.g. a registry built in the caller) they run here, in order.
    """
    dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    jobs = [
        (i, dtype, shape, args)
        for i in _select(registry, args.rules)
        for dtype in dtypes
        for shape in range(args.shapes)
    ]
    if (
        processes and args.jobs > 1 and len(jobs) > 2 * args.jobs
    ):  # else starting workers costs more
        context = multiprocessing.get_context("spawn")  # no fork after JAX has started threads
        with concurrent.futures.ProcessPoolExecutor(
            max_workers=args.jobs, mp_context=context
        ) as pool:
            results = list(pool.map(_check_registered, jobs))
    else:
        results = [_check(registry[i], i, dtype, shape, args) for i, dtype, shape, args in jobs]
    if args.verbose:
        for result in results:
            print(result, end="\n\n")
    return results


def main(argv: Sequence[str] | None = None, *, registry: Sequence[RuleSpec] | None = None) -> int:
    """Run the CLI; returns the exit status (0: every check passed)."""
    args = _parse_args(argv)
    if args.function is not None:
        return _check_function(args)
    default = registry is None
    if registry is None:
        from fnnet.gradcheck.registry import REGISTRY

        registry = REGISTRY
    selected = _select(registry, args.rules)
    if args.list:
        print("\n".join(registry[i].name for i in selected))
        return 0
    if not selected:
        print(f"no registered rule matches --rules {args.rules!r}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    results = _run(args, registry, processes=default)
    print(summary(results))
    print(f"{time.perf_counter() - start:.1f} s")
    return 0 if all(r.passed for r in results) else 1


def _check_function(args: argparse.Namespace) -> int:
    """``--function``: one check at ``--args``, printed in full; 2 for unusable arguments."""
    try:
        f = _examples.load(args.function)
        if not args.arrays:
            raise ValueError("--function needs --args, e.g. --args '(3, 4) float32'.")
        examples = _examples.draw(_examples.parse_arrays(args.arrays), jax.random.key(args.seed))
        kwargs = _examples.parse_kwargs(args.kwargs)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        result = check(
            f,
            *examples,
            key=jax.random.key(args.seed),
            points=args.seeds + 1,
            order=args.order,
            surrogate=args.surrogate,
            **kwargs,
        )
    except Exception as error:  # not checkable: say why
        print(f"gradcheck {args.function}: ERROR\n  {type(error).__name__}: {error}")
        return 1
    print(result)
    return 0 if result.passed else 1
