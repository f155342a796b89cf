"""Gradcheck registry entries for the convolution, pooling and reshape layers (fnnet.layers).

``SPECS`` is a tuple of :class:`fnnet.gradcheck.RuleSpec`, concatenated into
``fnnet.gradcheck.registry.REGISTRY``; samplers and independent references live beside them.
"""

from __future__ import annotations

from fnnet.gradcheck._check import RuleSpec

SPECS: tuple[RuleSpec, ...] = ()
