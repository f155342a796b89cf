"""Gradcheck registry entries for the perceptron, the maxout layer and RBF networks (fnnet.classic, fnnet.layers.Maxout).

``SPECS`` is a tuple of :class:`fnnet.gradcheck.RuleSpec`, concatenated into
``fnnet.gradcheck.registry.REGISTRY``; samplers and independent references live beside them.
"""

from __future__ import annotations

from fnnet.gradcheck._check import RuleSpec

SPECS: tuple[RuleSpec, ...] = ()
