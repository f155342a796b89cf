"""Layers as ``(init, apply)`` pairs, and ``serial`` to compose them.

Implementation files are private (``_core.py``: the contract, ``Dense``, parametric
activations; ``_conv.py``, ``_pool.py``, ... as they land) and re-exported here: one public
import path per name, ``fnnet.layers.<Name>``.
"""

from fnnet.layers._core import Activation as Activation
from fnnet.layers._core import Dense as Dense
from fnnet.layers._core import DenseParams as DenseParams
from fnnet.layers._core import Layer as Layer
from fnnet.layers._core import PReLU as PReLU
from fnnet.layers._core import Residual as Residual
from fnnet.layers._core import RReLU as RReLU
from fnnet.layers._core import check_activation as check_activation
from fnnet.layers._core import check_dense_params as check_dense_params
from fnnet.layers._core import check_input as check_input
from fnnet.layers._core import dense as dense
from fnnet.layers._core import no_params as no_params
from fnnet.layers._core import serial as serial

# New layer families re-export here (one line each), below this comment.

__all__ = [
    "Activation",
    "Dense",
    "DenseParams",
    "Layer",
    "PReLU",
    "RReLU",
    "Residual",
    "check_activation",
    "check_dense_params",
    "check_input",
    "dense",
    "no_params",
    "serial",
]
