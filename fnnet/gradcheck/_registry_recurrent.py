"""Gradcheck registry entries for the recurrent layers and BPTT (fnnet.recurrent).

``SPECS`` is a tuple of :class:`fnnet.gradcheck.RuleSpec`, concatenated into
``fnnet.gradcheck.registry.REGISTRY``; samplers and independent references live beside them.
"""

from __future__ import annotations

from fnnet.gradcheck._check import RuleSpec

SPECS: tuple[RuleSpec, ...] = ()
