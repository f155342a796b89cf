"""What the rows of ``check`` mean, in words, and the rows a declared surrogate excuses.

Per input leaf three derivatives meet: the rule's, JAX's derivative of the reference (the
primal body unless ``reference=`` is given) and finite differences (the true derivative of the
function's values). Which pairs agree tells who is wrong:

=================  ==============  ================  ==============================================
rule vs autodiff   rule vs fd      autodiff vs fd    meaning
=================  ==============  ================  ==============================================
differs            differs         agrees            the rule is wrong, or a surrogate by design
differs            agrees          differs           the body is not differentiable as written
agrees             differs         differs           a kink or jump, or a surrogate in both
differs            differs         differs           a kink or jump, or both wrong
=================  ==============  ================  ==============================================

With ``surrogate=True`` the rule's derivative is meant to differ from the true one: ``rule vs
fd`` is excused, and so is ``rule vs autodiff`` when the reference has the true derivative
(``autodiff vs fd`` agrees) or ``autodiff vs fd`` when the reference shares the surrogate
(``rule vs autodiff`` agrees). Excused rows stay in the table, marked, with their numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from fnnet.gradcheck._primal import zero_derivative_ops
from fnnet.gradcheck._report import LeafReport

_RA, _RF, _AF = "rule vs autodiff", "rule vs fd", "autodiff vs fd"


def _excuse(rows: dict, key: tuple, row: LeafReport) -> None:
    if not row.passed and math.isfinite(row.ratio):  # a NaN derivative is never excused
        rows[key] = row._replace(passed=True, surrogate=True)


def diagnose(
    reports: tuple[LeafReport, ...],
    *,
    surrogate: bool,
    reference: bool,
    body: Callable[..., Any],
    data: tuple,
) -> tuple[tuple[LeafReport, ...], list[str]]:
    """The reports with the rows a declared surrogate excuses marked, and the notes."""
    rows = {(r.order, r.comparison, r.leaf): r for r in reports}
    groups: dict[tuple[bool, bool, bool], list[str]] = {}
    zero = []
    for order, comparison, leaf in list(rows):
        if comparison != _RA:
            continue
        ra, rf, af = (rows[(order, c, leaf)] for c in (_RA, _RF, _AF))
        label = leaf if order == 1 else f"{leaf} (order 2)"
        groups.setdefault((ra.passed, rf.passed, af.passed), []).append(label)
        if not ra.passed and math.isinf(ra.max_rel_error):  # the reference's derivative is 0
            zero.append(label)
        if surrogate:
            _excuse(rows, (order, _RF, leaf), rf)
            if ra.passed:
                _excuse(rows, (order, _AF, leaf), af)
            elif af.passed:
                _excuse(rows, (order, _RA, leaf), ra)
    found: list[str] | None = None

    def uses() -> str:
        nonlocal found
        if found is None:
            found = zero_derivative_ops(body, data)
        if found:
            return f"it uses {', '.join(found)}, whose derivative JAX takes as zero"
        return "a stop_gradient, or an operation JAX differentiates as zero"

    ref = "`reference`" if reference else "the primal body"
    notes = []
    if any(r.comparison == "forward" and not r.passed for r in reports):
        notes.append(
            "The forward values differ: `reference` computes another function than f."
            if reference
            else "The forward values differ: under differentiation f returns the value of its "
            "rule (fwd for a custom_vjp, jvp for a custom_jvp), and that must be exactly what "
            "its primal body returns."
        )
    for (ra, rf, af), labels in groups.items():
        leaves = ", ".join(labels)
        if (ra, rf, af) == (True, True, True):
            if surrogate:
                notes.append(
                    f"surrogate=True is declared, but for {leaves} the rule's derivative equals "
                    f"the true one (finite differences) at every point checked."
                )
        elif (ra, rf, af) == (False, False, True) and surrogate:
            notes.append(
                f"As declared (surrogate=True), for {leaves} the rule's derivative differs from "
                f"the true one, on which JAX's derivative of {ref} and finite differences "
                f"agree. Verified: the forward values and {ref}'s derivative; not the surrogate "
                f"itself. To verify it, pass `reference=` a forward whose JAX derivative is the "
                f"intended surrogate (for a straight-through round: x + "
                f"stop_gradient(round(x) - x))."
            )
        elif (ra, rf, af) == (False, False, True):
            shared = [label for label in labels if label in zero]
            zero_note = (
                f" The derivative of {ref} is zero at every point checked for "
                f"{', '.join(shared)} ({uses()}), as a straight-through estimator's is."
                if shared
                else ""
            )
            notes.append(
                f"For {leaves}, the rule's derivative differs from JAX's derivative of {ref}, "
                f"and finite differences agree with {ref}: the rule is wrong there, or it is "
                f"meant to differ (a straight-through estimator or another surrogate "
                f"gradient): then declare it, check(..., surrogate=True).{zero_note}"
            )
        elif (ra, rf, af) == (False, True, False):
            notes.append(
                f"For {leaves}, JAX's derivative of {ref} disagrees with finite differences "
                f"while the rule agrees with them: "
                + (
                    "the reference is wrong."
                    if reference
                    else f"the primal body is not differentiable as written ({uses()}), so it "
                    f"cannot serve as the reference: pass `reference=`, an independently "
                    f"written forward called like f."
                )
            )
        elif (ra, rf, af) == (True, False, False) and surrogate:
            notes.append(
                f"As declared (surrogate=True), for {leaves} the rule and {ref} share a "
                f"derivative that differs from finite differences (the true one); the rule "
                f"equals {ref}'s derivative (verified)."
            )
        elif (ra, rf, af) == (True, False, False):
            notes.append(
                f"For {leaves}, the rule agrees with JAX's derivative of {ref}, but neither "
                f"agrees with finite differences: the points straddle a kink or a jump "
                f"(differences then measure the jump: move the example away from it), or both "
                f"carry the same surrogate gradient ({uses()}): then declare surrogate=True."
            )
        elif (ra, rf, af) == (False, False, False):
            notes.append(
                f"For {leaves}, the rule, JAX's derivative of {ref} and finite differences all "
                f"disagree: the points straddle a kink or a jump, or {ref} is not "
                f"differentiable as written ({uses()}) and the rule differs from it too."
            )
        else:
            failed = [c for c, ok in ((_RA, ra), (_RF, rf), (_AF, af)) if not ok]
            notes.append(
                f"For {leaves}, only {' and '.join(failed)} failed: a difference near the "
                f"tolerance (see the `used` column), e.g. a small error in the rule or rounding."
            )
    return tuple(rows.values()), notes
