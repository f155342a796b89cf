"""Classic networks from the textbook: the perceptron and radial-basis-function networks.

Implementation files are private (``_perceptron.py``, ``_rbf.py``) and re-exported here: one
public import path per name, ``fnnet.classic.<name>``. See ``docs/perceptron.md`` and
``docs/rbf.md``.
"""

from fnnet.classic._perceptron import perceptron_criterion as perceptron_criterion
from fnnet.classic._perceptron import perceptron_fit as perceptron_fit
from fnnet.classic._perceptron import perceptron_init as perceptron_init
from fnnet.classic._perceptron import perceptron_predict as perceptron_predict
from fnnet.classic._perceptron import perceptron_scores as perceptron_scores
from fnnet.classic._perceptron import signed_targets as signed_targets
from fnnet.classic._rbf import RBF as RBF
from fnnet.classic._rbf import RBFParams as RBFParams
from fnnet.classic._rbf import gaussian_rbf as gaussian_rbf
from fnnet.classic._rbf import haykin_width as haykin_width
from fnnet.classic._rbf import kmeans as kmeans
from fnnet.classic._rbf import least_squares_output as least_squares_output
from fnnet.classic._rbf import rbf_params as rbf_params
from fnnet.classic._rbf import rbf_two_stage as rbf_two_stage

__all__ = [
    "RBF",
    "RBFParams",
    "gaussian_rbf",
    "haykin_width",
    "kmeans",
    "least_squares_output",
    "perceptron_criterion",
    "perceptron_fit",
    "perceptron_init",
    "perceptron_predict",
    "perceptron_scores",
    "rbf_params",
    "rbf_two_stage",
    "signed_targets",
]
