"""The main job: train a network on real bundled data, print progress and test accuracy, plot curves.

``python -m fnnet.demo`` (or the ``fnnet-demo`` console script) trains an MLP on scikit-learn's
8×8 digits with a stratified 70/30 split; ``--dataset mnist1d`` uses the MNIST-1D benchmark with
the benchmark authors' MLP recipe (Adam, learning rate 1e-2, batch 100, 6000 steps). ``--model``
picks the network: ``cnn`` (digits as 8×8×1 images, MNIST-1D as 40×1 series: fnnet's CNN
recipes, docs/conv.md) or, for MNIST-1D, ``gru``, ``lstm`` or ``elman`` (the authors' bidirectional
recipe, docs/recurrent.md). Each (data set, model) pair has a preset, listed by ``--help``; the
flags given override it. It writes ``curves.png`` (loss and accuracy per epoch) and
``metrics.json`` to ``--out``. Compiled programs are kept in JAX's persistent compilation cache
(``--cache-dir``, by default ``$JAX_COMPILATION_CACHE_DIR`` or ``~/.cache/fnnet/jax``;
``--no-cache`` to compile afresh): a second run with the same flags loads them instead of
compiling them again.

Flags are checked before anything runs: a bad value or a pair with no preset exits with status
2 and one line naming the flag. A run that stops at a non-finite loss or gradient says so in its
last line and exits with status 1; ``metrics.json`` records the optimizer steps actually taken.

The command line is the one place where names stand for functions; the library itself takes
functions (``activation=fnnet.activations.relu``), never strings.
"""

from fnnet.demo._cli import parse as parse
from fnnet.demo._models import DATASETS as DATASETS
from fnnet.demo._models import MODELS as MODELS
from fnnet.demo._models import PRESETS as PRESETS
from fnnet.demo._models import build as build
from fnnet.demo._models import load as load
from fnnet.demo._models import prepare as prepare
from fnnet.demo._run import main as main
from fnnet.demo._run import plot as plot
from fnnet.demo._run import run as run

__all__ = [
    "DATASETS",
    "MODELS",
    "PRESETS",
    "build",
    "load",
    "main",
    "parse",
    "plot",
    "prepare",
    "run",
]
