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
from fnnet.layers._maxout import Maxout as Maxout

# isort: split
from fnnet.layers._conv import Conv as Conv
from fnnet.layers._conv import ConvParams as ConvParams
from fnnet.layers._conv import Window as Window
from fnnet.layers._conv import conv as conv
from fnnet.layers._conv import fan_in_uniform as fan_in_uniform
from fnnet.layers._pool import AvgPool as AvgPool
from fnnet.layers._pool import MaxPool as MaxPool
from fnnet.layers._pool import avg_pool as avg_pool
from fnnet.layers._pool import max_pool as max_pool
from fnnet.layers._reshape import Flatten as Flatten

__all__ = [
    "Activation",
    "AvgPool",
    "Conv",
    "ConvParams",
    "Dense",
    "DenseParams",
    "Flatten",
    "Layer",
    "MaxPool",
    "Maxout",
    "PReLU",
    "RReLU",
    "Residual",
    "Window",
    "avg_pool",
    "check_activation",
    "check_dense_params",
    "check_input",
    "conv",
    "dense",
    "fan_in_uniform",
    "max_pool",
    "no_params",
    "serial",
]
