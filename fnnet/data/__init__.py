"""Data: key-driven batching, train/test splits, preprocessing, and small data sets.

* batching (``_batching.py``): :func:`shuffle`, :func:`minibatches` (one epoch stacked for
  ``lax.scan``, with a padding ``mask``), :func:`iterate_batches` for host loops;
* splits (``_splits.py``): :func:`train_test_split`, stratified and deterministic given a key;
* preprocessing (``_preprocessing.py``): :func:`standardize` fit on training data only,
  :func:`apply_standardization`, :func:`one_hot`;
* data sets (``_datasets.py``): :func:`digits` (scikit-learn's bundled copy), :func:`mnist1d`
  (generated offline), the procedural :func:`xor`, :func:`two_moons`, :func:`two_spirals`, each a
  :class:`Dataset` (:func:`mnist1d` a :class:`Split` of two).

Inputs and targets may be arrays or any pytrees of arrays batched on their leading axis (such
as ``(sequences, lengths)``): batching, splits, ``fit`` and sweeps keep their structure, and an
error names the array at fault by its key path. Every random choice comes from an explicit
``jax.random`` key.
"""

from fnnet.data._batching import Batches as Batches
from fnnet.data._batching import iterate_batches as iterate_batches
from fnnet.data._batching import minibatches as minibatches
from fnnet.data._batching import shuffle as shuffle
from fnnet.data._datasets import Dataset as Dataset
from fnnet.data._datasets import Split as Split
from fnnet.data._datasets import digits as digits
from fnnet.data._datasets import mnist1d as mnist1d
from fnnet.data._datasets import two_moons as two_moons
from fnnet.data._datasets import two_spirals as two_spirals
from fnnet.data._datasets import xor as xor
from fnnet.data._preprocessing import Standardization as Standardization
from fnnet.data._preprocessing import apply_standardization as apply_standardization
from fnnet.data._preprocessing import one_hot as one_hot
from fnnet.data._preprocessing import standardize as standardize
from fnnet.data._splits import train_test_split as train_test_split

__all__ = [
    "Batches",
    "Dataset",
    "Split",
    "Standardization",
    "apply_standardization",
    "digits",
    "iterate_batches",
    "minibatches",
    "mnist1d",
    "one_hot",
    "shuffle",
    "standardize",
    "train_test_split",
    "two_moons",
    "two_spirals",
    "xor",
]
