"""fnnet: functional neural networks in JAX with hand-written, verified backpropagation.

Networks are pure functions over parameter pytrees; every activation, layer, loss and network
has its backward pass written by hand in the textbook's δ notation and registered with
``jax.custom_vjp``; ``fnnet.gradcheck`` proves each rule equal to ``jax.grad`` of a plain
reference forward and to finite differences.

The top level holds the subpackages and the names of the README's quick start (``serial``,
``Dense``, ``Dropout``, ``fit``, ``make_train_step``, ``MLP``, ``autodiff``, ``with_autodiff``);
everything else has one public path in its subpackage (``fnnet.layers.Conv``,
``fnnet.optimizers.chain``, ...). See docs/architecture.md.
"""

from importlib import metadata as _metadata

from fnnet import activations as activations
from fnnet import boltzmann as boltzmann
from fnnet import checkpoint as checkpoint
from fnnet import classic as classic
from fnnet import competitive as competitive
from fnnet import data as data
from fnnet import diagnostics as diagnostics
from fnnet import gradcheck as gradcheck
from fnnet import initializers as initializers
from fnnet import layers as layers
from fnnet import losses as losses
from fnnet import networks as networks
from fnnet import optimizers as optimizers
from fnnet import parallel as parallel
from fnnet import recurrent as recurrent
from fnnet import regularizers as regularizers
from fnnet import rules as rules
from fnnet import schedules as schedules
from fnnet import sweep as sweep
from fnnet import training as training
from fnnet.layers import Dense as Dense
from fnnet.layers import Dropout as Dropout
from fnnet.layers import serial as serial
from fnnet.networks import MLP as MLP
from fnnet.rules import autodiff as autodiff
from fnnet.rules import with_autodiff as with_autodiff
from fnnet.training import fit as fit
from fnnet.training import make_train_step as make_train_step

try:
    __version__ = _metadata.version("fnnet")
except _metadata.PackageNotFoundError:  # running from a source tree without install
    __version__ = "0+unknown"

# The subpackages, and the few names the README's quick start uses at the top level (each is
# the same object as its one home below: fnnet.Dense is fnnet.layers.Dense).
__all__ = [
    "Dense",
    "Dropout",
    "MLP",
    "activations",
    "autodiff",
    "boltzmann",
    "checkpoint",
    "classic",
    "competitive",
    "data",
    "diagnostics",
    "fit",
    "gradcheck",
    "initializers",
    "layers",
    "losses",
    "make_train_step",
    "networks",
    "optimizers",
    "parallel",
    "recurrent",
    "regularizers",
    "rules",
    "schedules",
    "serial",
    "sweep",
    "training",
    "with_autodiff",
]
