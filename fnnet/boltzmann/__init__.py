"""Energy-based models: restricted Boltzmann machines (CD-k, persistent CD) and deep belief nets.

Implementation files are private (``_rbm.py``: the model, the contrastive-divergence rule and
sampling; ``_train.py``: training on the core's train step and epoch; ``_dbn.py``: greedy
pretraining and the hand-off to an MLP) and re-exported here: one public import path per name,
``fnnet.boltzmann.<name>``. See ``docs/rbm.md``.
"""

from fnnet.boltzmann._dbn import dbn_classifier as dbn_classifier
from fnnet.boltzmann._dbn import dbn_dense_params as dbn_dense_params
from fnnet.boltzmann._dbn import dbn_pretrain as dbn_pretrain
from fnnet.boltzmann._rbm import RBMParams as RBMParams
from fnnet.boltzmann._rbm import free_energy as free_energy
from fnnet.boltzmann._rbm import free_energy_gap as free_energy_gap
from fnnet.boltzmann._rbm import gibbs_chain as gibbs_chain
from fnnet.boltzmann._rbm import hidden_probs as hidden_probs
from fnnet.boltzmann._rbm import pseudo_log_likelihood as pseudo_log_likelihood
from fnnet.boltzmann._rbm import rbm_init as rbm_init
from fnnet.boltzmann._rbm import reconstruction_error as reconstruction_error
from fnnet.boltzmann._rbm import sample_visible as sample_visible
from fnnet.boltzmann._rbm import transform as transform
from fnnet.boltzmann._rbm import visible_mean as visible_mean
from fnnet.boltzmann._train import rbm_fit as rbm_fit
from fnnet.boltzmann._train import rbm_init_state as rbm_init_state
from fnnet.boltzmann._train import train_rbm as train_rbm

__all__ = [
    "RBMParams",
    "dbn_classifier",
    "dbn_dense_params",
    "dbn_pretrain",
    "free_energy",
    "free_energy_gap",
    "gibbs_chain",
    "hidden_probs",
    "pseudo_log_likelihood",
    "rbm_fit",
    "rbm_init",
    "rbm_init_state",
    "reconstruction_error",
    "sample_visible",
    "train_rbm",
    "transform",
    "visible_mean",
]
