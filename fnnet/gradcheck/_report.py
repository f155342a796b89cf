"""The checker's results as data: one row per (comparison, input leaf), and readable tables."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from fnnet.gradcheck._tolerances import Tolerance

# What each comparison puts side by side (computed, desired).
COMPARISONS = {
    "forward": "rule(x) vs reference(x)",
    "rule vs autodiff": "the hand rule's VJP vs jax.vjp of the reference forward",
    "rule vs fd": "the hand rule's VJP vs central finite differences (float64)",
    "autodiff vs fd": "jax.vjp of the reference vs central finite differences (float64)",
    "switch vs autodiff": "jax.jvp under fnnet.autodiff() vs jax.jvp of the reference",
}


class LeafReport(NamedTuple):
    """How one input leaf fared in one comparison.

    Attributes:
        comparison: which pair is compared, a key of ``COMPARISONS`` (``"rule vs autodiff"``).
        order: 1 for first derivatives, 2 for derivatives of the VJP (reverse over reverse,
            Hessian-vector products).
        leaf: key path of the input leaf (``"params.w"``, ``"x"``), or ``"output"`` for
            ``forward``.
        max_abs_error: ``max |a − b|``.
        max_rel_error: ``max |a − b| / max |b|`` (norm-wise, so never inflated by ``b ≈ 0``).
        index: where the worst entry is in the compared array: ``(output entry,)`` for
            ``forward``; ``(cotangent row, input entry)`` for ``rule vs autodiff``;
            ``(cotangent row, direction row)`` for the ``fd`` rows; ``(direction row, output
            entry)`` for ``switch vs autodiff``. In full mode rows are entries (flat indices).
        where: the same in words: ``d out[2]/d w[1, 0]`` for a Jacobian entry,
            ``v1ᵀJ -> w[1, 0]`` for an entry of a projected VJP, ``v1ᵀ J u2`` for a projection.
        tolerance: the ``Tolerance`` used (from the dtype's row of the tolerance table).
        ratio: the worst ``|a − b| / (atol · s + rtol · |b|)``; the check passes when ≤ 1.
        passed: ``ratio <= 1`` (and no NaN), or a difference declared with ``surrogate``.
        point: which random point (sampler draw) the worst entry came from.
        surrogate: the row differs, as declared with ``check(..., surrogate=True)``: a
            surrogate derivative against the true one. It counts as passed and is marked
            ``differs (surrogate)`` in the table.
    """

    comparison: str
    order: int
    leaf: str
    max_abs_error: float
    max_rel_error: float
    index: tuple[int, ...]
    where: str
    tolerance: Tolerance
    ratio: float
    passed: bool
    point: int = 0
    surrogate: bool = False


def _fmt(x: float) -> str:
    return "nan" if math.isnan(x) else f"{x:.2e}"


_HEADER = ("order", "comparison", "leaf", "max abs", "max rel", "rtol", "atol", "used", "where", "")


def _rows(reports: Iterable[LeafReport]) -> list[tuple[str, ...]]:
    return [
        (
            str(r.order),
            r.comparison,
            r.leaf,
            _fmt(r.max_abs_error),
            _fmt(r.max_rel_error),
            f"{r.tolerance.rtol:.0e}",
            f"{r.tolerance.atol:.0e}",
            "nan" if math.isnan(r.ratio) else f"{r.ratio:.3f}",
            r.where + ("" if r.point == 0 else f" (point {r.point})"),
            "differs (surrogate)" if r.surrogate else "ok" if r.passed else "FAIL",
        )
        for r in reports
    ]


def format_rows(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned text table."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [header, *rows]
    ]
    return "\n".join(lines)


class CheckResult(NamedTuple):
    """The outcome of checking one rule at one dtype: data first, a table when printed.

    Attributes:
        name: the rule's name.
        dtype: the dtype checked (``"float32"``).
        full: ``True`` if full Jacobians were compared, ``False`` for random projections.
        shapes: the arguments' shapes and dtypes, e.g. ``"x: float32[3, 4] (x2 points)"``.
        reports: one ``LeafReport`` per (order, comparison, leaf), the worst over points.
        error: set (and ``passed`` false) when the check itself raised, e.g. in the CLI.
        notes: what was checked against what, and what the rows mean, in words (from
            ``check``: the reference, the points, a diagnosis of the failing rows).
    """

    name: str
    dtype: str
    full: bool
    shapes: str
    reports: tuple[LeafReport, ...]
    error: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        """Whether every comparison of every leaf is within tolerance (and nothing raised)."""
        return self.error is None and all(r.passed for r in self.reports)

    @property
    def failures(self) -> tuple[LeafReport, ...]:
        """The failing rows."""
        return tuple(r for r in self.reports if not r.passed)

    @property
    def worst(self) -> LeafReport | None:
        """The row that used the largest fraction of its tolerance (declared surrogate rows last)."""
        rows = [r for r in self.reports if not r.surrogate] or list(self.reports)
        if not rows:
            return None
        return max(rows, key=lambda r: math.inf if math.isnan(r.ratio) else r.ratio)

    def table(self, *, failures_only: bool = False) -> str:
        """The result as a text table (all rows, or only the failing ones)."""
        mode = "full Jacobian" if self.full else "random projections"
        differ = sum(r.surrogate for r in self.reports)
        status = (
            f"FAILED ({len(self.failures)} of {len(self.reports)} rows)"
            if not self.passed
            else f"passed ({differ} rows differ as declared: surrogate)"
            if differ
            else "passed"
        )
        title = f"gradcheck {self.name} [{self.dtype}, {mode}]: {status}"
        if self.error is not None:
            return f"gradcheck {self.name} [{self.dtype}]: ERROR\n  {self.error}"
        rows = _rows(self.failures if failures_only else self.reports)
        notes = [
            textwrap.fill(
                note,
                100,
                initial_indent="  note: ",
                subsequent_indent="        ",
                break_on_hyphens=False,
            )
            for note in self.notes
        ]
        return "\n".join([title, f"  args: {self.shapes}", *notes, format_rows(_HEADER, rows)])

    def raise_if_failed(self) -> CheckResult:
        """Raise ``AssertionError`` with the failing rows unless the check passed; else return self."""
        if not self.passed:
            raise AssertionError(self.table(failures_only=True))
        return self

    def __str__(self) -> str:
        return self.table()


def summary(results: Sequence[CheckResult]) -> str:
    """One line per result (rule, dtype): mode, worst row and status; failing rows below."""
    header = ("rule", "dtype", "mode", "rows", "worst used", "worst row", "")
    rows = []
    for res in results:
        worst = res.worst
        rows.append(
            (
                res.name,
                res.dtype,
                "full" if res.full else "proj",
                str(len(res.reports)),
                "-" if worst is None else f"{worst.ratio:.3f}",
                "error"
                if res.error
                else "-"
                if worst is None
                else f"{worst.comparison} (order {worst.order}) {worst.leaf}",
                "ok" if res.passed else "FAIL",
            )
        )
    text = [format_rows(header, rows)]
    failed = [res for res in results if not res.passed]
    for res in failed:
        text += ["", res.table(failures_only=True)]
    n_fail = len(failed)
    text += ["", f"{len(results) - n_fail} passed, {n_fail} failed ({len(results)} checks)"]
    return "\n".join(text)
