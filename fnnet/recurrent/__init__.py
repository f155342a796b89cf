"""Recurrent layers (Elman, LSTM, GRU, bidirectional) with backpropagation through time by hand.

Sequences are ``(batch, time, features)``; an unbatched ``(time, features)`` works too. Each
layer is a ``RecurrentLayer(init, apply, run, deltas)``: ``apply`` returns the whole output
sequence (usable in ``fnnet.layers.serial`` and ``fnnet.fit``), ``run`` takes an initial state
and returns the final one, ``deltas`` gives ``∂L/∂h_t`` per step from the layer's own backward
pass. Each cell's gradient is one ``jax.custom_vjp`` over the whole sequence
(``elman_sequence``, ``lstm_sequence``, ``gru_sequence``, ``bidirectional``). Variable lengths:
``lengths`` per row. Truncated BPTT: ``truncate=k``. See docs/recurrent.md.
"""

from fnnet.recurrent._bidirectional import Bidirectional as Bidirectional
from fnnet.recurrent._bidirectional import bidirectional as bidirectional
from fnnet.recurrent._bidirectional import (
    reverse_within_lengths as reverse_within_lengths,
)
from fnnet.recurrent._contract import RecurrentLayer as RecurrentLayer
from fnnet.recurrent._contract import delta_norms as delta_norms
from fnnet.recurrent._contract import torch_uniform as torch_uniform
from fnnet.recurrent._elman import Elman as Elman
from fnnet.recurrent._elman import ElmanParams as ElmanParams
from fnnet.recurrent._elman import elman_sequence as elman_sequence
from fnnet.recurrent._gru import GRU as GRU
from fnnet.recurrent._gru import GRUParams as GRUParams
from fnnet.recurrent._gru import gru_sequence as gru_sequence
from fnnet.recurrent._lstm import LSTM as LSTM
from fnnet.recurrent._lstm import LSTMParams as LSTMParams
from fnnet.recurrent._lstm import lstm_sequence as lstm_sequence

__all__ = [
    "Bidirectional",
    "Elman",
    "ElmanParams",
    "GRU",
    "GRUParams",
    "LSTM",
    "LSTMParams",
    "RecurrentLayer",
    "bidirectional",
    "delta_norms",
    "elman_sequence",
    "gru_sequence",
    "lstm_sequence",
    "reverse_within_lengths",
    "torch_uniform",
]
