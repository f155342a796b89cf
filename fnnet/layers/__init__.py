"""Layers as ``(init, apply)`` pairs, and ``serial`` to compose them.

Implementation files are private and re-exported here: one public import path per name,
``fnnet.layers.<Name>``. Naming: a CamelCase name builds a ``Layer`` (``Dense``, ``Conv``) or is
a parameter type (``DenseParams``); a lowercase name is a hand-written rule (``dense``,
``conv``). ``_contract.py`` holds the contract (``Layer``, ``serial``, ``Residual``, the
``Activation`` layer); ``_dense.py`` the dense layer and its rule; ``_parametric.py`` the PReLU
and RReLU layers; ``_dropout.py`` dropout; ``_conv.py``, ``_pool.py``, ... the families as they
land. Sibling private files import the contract from ``fnnet.layers._contract``.
"""

from fnnet.layers._contract import Activation as Activation
from fnnet.layers._contract import Layer as Layer
from fnnet.layers._contract import Residual as Residual
from fnnet.layers._contract import SerialLayer as SerialLayer
from fnnet.layers._contract import serial as serial
from fnnet.layers._dense import Dense as Dense
from fnnet.layers._dense import DenseParams as DenseParams
from fnnet.layers._dense import affine as affine
from fnnet.layers._dense import affine_backward as affine_backward
from fnnet.layers._dense import dense as dense
from fnnet.layers._dropout import Dropout as Dropout
from fnnet.layers._dropout import dropout as dropout

# New layer families re-export here (one line each), below this comment.
from fnnet.layers._maxout import Maxout as Maxout
from fnnet.layers._parametric import PReLU as PReLU
from fnnet.layers._parametric import RReLU as RReLU

# isort: split
from fnnet.layers._conv import Conv as Conv
from fnnet.layers._conv import ConvParams as ConvParams
from fnnet.layers._conv import Window as Window
from fnnet.layers._conv import conv as conv
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
    "Dropout",
    "Flatten",
    "Layer",
    "MaxPool",
    "Maxout",
    "PReLU",
    "RReLU",
    "Residual",
    "SerialLayer",
    "Window",
    "affine",
    "affine_backward",
    "avg_pool",
    "conv",
    "dense",
    "dropout",
    "max_pool",
    "serial",
]
