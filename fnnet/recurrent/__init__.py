"""Recurrent layers (Elman, LSTM, GRU, bidirectional) with backpropagation through time by hand.

Sequences are batched, ``(batch, time, features)``. Each layer is a
``RecurrentLayer(init, apply, run, deltas, directions)``: ``apply`` returns the whole output
sequence (usable in ``fnnet.layers.serial`` and ``fnnet.fit``, and given ``(x, lengths)`` it
reads the lengths with its input), ``run`` takes an initial state and returns the final one in
PyTorch's layout (``(directions, batch, hidden)``, a pair ``(h, c)`` for the LSTM), ``deltas``
gives ``∂L/∂h_t`` per step from the layer's own backward pass. Each cell's gradient is one
``jax.custom_vjp`` over the whole sequence (``elman_sequence``, ``lstm_sequence``,
``gru_sequence``, ``bidirectional_sequence``). Variable lengths: ``lengths`` per row.
Truncated BPTT: ``truncate=k``. PyTorch weights: :mod:`fnnet.from_torch`. See docs/recurrent.md.
"""

from fnnet.recurrent._bidirectional import Bidirectional as Bidirectional
from fnnet.recurrent._bidirectional import bidirectional_sequence as bidirectional_sequence
from fnnet.recurrent._contract import RecurrentLayer as RecurrentLayer
from fnnet.recurrent._contract import delta_norms as delta_norms
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
    "bidirectional_sequence",
    "delta_norms",
    "elman_sequence",
    "gru_sequence",
    "lstm_sequence",
]
