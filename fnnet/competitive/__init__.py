"""Competitive learning: self-organizing maps and adaptive resonance theory.

Neither family is trained by backpropagation. Both are ``(init, update)`` learners, like the
optimizers: lowercase factories (:func:`som`, :func:`fuzzy_art`, :func:`art1`,
:func:`fuzzy_artmap`) return a learner NamedTuple (:class:`SOMLearner`, :class:`ARTLearner`) of
pure functions over a state NamedTuple whose hyperparameters are arrays, so a grid of maps
(σ₀ × η₀ × seed) or of vigilances ρ trains as one compiled, vmapped program.
See ``docs/som.md``, ``docs/art.md`` and the learner contract in ``docs/architecture.md``.
"""

from fnnet.competitive._art import ARTLearner as ARTLearner
from fnnet.competitive._art import art1 as art1
from fnnet.competitive._art import fuzzy_art as fuzzy_art
from fnnet.competitive._art import fuzzy_artmap as fuzzy_artmap
from fnnet.competitive._art_search import ARTState as ARTState
from fnnet.competitive._art_train import num_categories as num_categories
from fnnet.competitive._art_train import sweep_vigilance as sweep_vigilance
from fnnet.competitive._art_train import train_art as train_art
from fnnet.competitive._grid import bubble as bubble
from fnnet.competitive._grid import gaussian as gaussian
from fnnet.competitive._grid import hexagonal_grid as hexagonal_grid
from fnnet.competitive._grid import mexican_hat as mexican_hat
from fnnet.competitive._grid import node_positions as node_positions
from fnnet.competitive._grid import rectangular_grid as rectangular_grid
from fnnet.competitive._grid import triangle as triangle
from fnnet.competitive._scaling import scale_to_unit as scale_to_unit
from fnnet.competitive._som import SOMLearner as SOMLearner
from fnnet.competitive._som import SOMState as SOMState
from fnnet.competitive._som import asymptotic_decay as asymptotic_decay
from fnnet.competitive._som import pca_init as pca_init
from fnnet.competitive._som import random_init as random_init
from fnnet.competitive._som import som as som
from fnnet.competitive._som import train_som as train_som
from fnnet.competitive._som import winners as winners
from fnnet.competitive._som_metrics import component_planes as component_planes
from fnnet.competitive._som_metrics import hit_map as hit_map
from fnnet.competitive._som_metrics import label_map as label_map
from fnnet.competitive._som_metrics import label_purity as label_purity
from fnnet.competitive._som_metrics import quantization_error as quantization_error
from fnnet.competitive._som_metrics import topographic_error as topographic_error
from fnnet.competitive._som_metrics import u_matrix as u_matrix
from fnnet.competitive._som_sweep import sweep_som as sweep_som

__all__ = [
    "ARTLearner",
    "ARTState",
    "SOMLearner",
    "SOMState",
    "art1",
    "asymptotic_decay",
    "bubble",
    "component_planes",
    "fuzzy_art",
    "fuzzy_artmap",
    "gaussian",
    "hexagonal_grid",
    "hit_map",
    "label_map",
    "label_purity",
    "mexican_hat",
    "node_positions",
    "num_categories",
    "pca_init",
    "quantization_error",
    "random_init",
    "rectangular_grid",
    "scale_to_unit",
    "som",
    "sweep_som",
    "sweep_vigilance",
    "topographic_error",
    "train_art",
    "train_som",
    "triangle",
    "u_matrix",
    "winners",
]
