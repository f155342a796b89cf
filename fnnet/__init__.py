"""fnnet: functional neural networks in JAX with hand-written, verified backpropagation.

Networks are pure functions over parameter pytrees; every activation, layer, loss and network
has its backward pass written by hand in the textbook's δ notation and registered with
``jax.custom_vjp``; ``fnnet.gradcheck`` proves each rule equal to ``jax.grad`` of a plain
reference forward and to finite differences.
"""

from importlib import metadata as _metadata

from fnnet import activations as activations
from fnnet import initializers as initializers
from fnnet import layers as layers
from fnnet import losses as losses
from fnnet import networks as networks
from fnnet import rules as rules
from fnnet.layers import Activation as Activation
from fnnet.layers import Dense as Dense
from fnnet.layers import DenseParams as DenseParams
from fnnet.layers import Layer as Layer
from fnnet.layers import serial as serial
from fnnet.networks import MLP as MLP
from fnnet.networks import Network as Network
from fnnet.rules import autodiff as autodiff
from fnnet.rules import with_autodiff as with_autodiff

try:
    __version__ = _metadata.version("fnnet")
except _metadata.PackageNotFoundError:  # running from a source tree without install
    __version__ = "0+unknown"

__all__ = [
    "activations",
    "initializers",
    "layers",
    "losses",
    "networks",
    "rules",
    "Activation",
    "Dense",
    "DenseParams",
    "Layer",
    "serial",
    "MLP",
    "Network",
    "autodiff",
    "with_autodiff",
]
