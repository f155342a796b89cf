"""Gradient-rule verification: every hand-written rule against autodiff and finite differences.

``check(f, *args)`` verifies any ``jax.custom_vjp`` or ``jax.custom_jvp`` function (from any
library) against JAX's derivative of its own primal body, with no reference to write;
``assert_rule(f, *args)`` is the same for tests.

``check_rule(rule, reference, sampler, key=...)`` draws arguments with ``sampler``, compares
the rule's VJP with ``jax.vjp`` of an independently written ``reference`` forward, and both
with central finite differences taken in float64; it returns a ``CheckResult`` (one row per
comparison and input leaf, named by key path; its API page's "Returned records") that prints as
a table and has ``raise_if_failed()`` for tests. :data:`TOLERANCES` is the one tolerance
table, used by the checker and, through :func:`assert_close`, by the tests that compare a rule
with a reference.
:data:`fnnet.gradcheck.registry.REGISTRY` describes every rule of fnnet as a :class:`RuleSpec`;
``python -m fnnet.gradcheck`` checks them all. See docs/gradcheck.md.
"""

from fnnet.gradcheck._check import RuleSpec as RuleSpec
from fnnet.gradcheck._check import check_rule as check_rule
from fnnet.gradcheck._check import check_spec as check_spec
from fnnet.gradcheck._custom import assert_rule as assert_rule
from fnnet.gradcheck._custom import check as check
from fnnet.gradcheck._report import summary as summary
from fnnet.gradcheck._sampling import elementwise_sampler as elementwise_sampler
from fnnet.gradcheck._sampling import integers as integers
from fnnet.gradcheck._sampling import normal as normal
from fnnet.gradcheck._sampling import normals as normals
from fnnet.gradcheck._sampling import shift_away as shift_away
from fnnet.gradcheck._sampling import with_hyperparameter as with_hyperparameter
from fnnet.gradcheck._tolerances import TOLERANCES as TOLERANCES
from fnnet.gradcheck._tolerances import DtypeTolerances as DtypeTolerances
from fnnet.gradcheck._tolerances import Tolerance as Tolerance
from fnnet.gradcheck._tolerances import assert_close as assert_close

__all__ = [
    "DtypeTolerances",
    "RuleSpec",
    "TOLERANCES",
    "Tolerance",
    "assert_close",
    "assert_rule",
    "check",
    "check_rule",
    "check_spec",
    "elementwise_sampler",
    "integers",
    "normal",
    "normals",
    "shift_away",
    "summary",
    "with_hyperparameter",
]
