"""fnnet: functional neural networks in JAX with hand-written, verified backpropagation.

Networks are pure functions over parameter pytrees; every activation, layer, loss and network
has its backward pass written by hand in the textbook's δ notation and registered with
``jax.custom_vjp``; ``fnnet.gradcheck`` proves each rule equal to ``jax.grad`` of a plain
reference forward and to finite differences.
"""

from importlib import metadata as _metadata

from fnnet import activations as activations
from fnnet import checkpoint as checkpoint
from fnnet import data as data
from fnnet import diagnostics as diagnostics
from fnnet import gradcheck as gradcheck
from fnnet import initializers as initializers
from fnnet import layers as layers
from fnnet import losses as losses
from fnnet import networks as networks
from fnnet import optimizers as optimizers
from fnnet import parallel as parallel
from fnnet import regularizers as regularizers
from fnnet import rules as rules
from fnnet import schedules as schedules
from fnnet import sweep as sweep
from fnnet import training as training
from fnnet.layers import Activation as Activation
from fnnet.layers import Dense as Dense
from fnnet.layers import Dropout as Dropout
from fnnet.layers import DenseParams as DenseParams
from fnnet.layers import Layer as Layer
from fnnet.layers import PReLU as PReLU
from fnnet.layers import RReLU as RReLU
from fnnet.layers import Residual as Residual
from fnnet.layers import serial as serial
from fnnet.networks import MLP as MLP
from fnnet.networks import Network as Network
from fnnet.optimizers import Optimizer as Optimizer
from fnnet.optimizers import apply_updates as apply_updates
from fnnet.optimizers import chain as chain
from fnnet.rules import autodiff as autodiff
from fnnet.rules import with_autodiff as with_autodiff
from fnnet.training import FitResult as FitResult
from fnnet.training import TrainState as TrainState
from fnnet.training import TrainStep as TrainStep
from fnnet.training import fit as fit
from fnnet.training import make_train_step as make_train_step

try:
    __version__ = _metadata.version("fnnet")
except _metadata.PackageNotFoundError:  # running from a source tree without install
    __version__ = "0+unknown"

__all__ = [
    "activations",
    "checkpoint",
    "data",
    "diagnostics",
    "gradcheck",
    "optimizers",
    "parallel",
    "sweep",
    "regularizers",
    "schedules",
    "training",
    "Dropout",
    "FitResult",
    "fit",
    "TrainState",
    "TrainStep",
    "make_train_step",
    "initializers",
    "layers",
    "losses",
    "Optimizer",
    "apply_updates",
    "chain",
    "networks",
    "rules",
    "Activation",
    "Dense",
    "DenseParams",
    "Layer",
    "PReLU",
    "RReLU",
    "Residual",
    "serial",
    "MLP",
    "Network",
    "autodiff",
    "with_autodiff",
]
