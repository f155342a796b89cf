"""Training: the guarded train step, one compiled epoch with early stopping, and ``fit``.

* :func:`make_train_step` returns ``TrainStep(init, step, steps)``: forward, hand-written
  backward, optimizer update, and the non-finite guard; ``steps`` runs ``k`` of them per call.
* :func:`make_epoch` returns ``Epoch(init, run)``, one epoch as a pure function (shuffle,
  ``lax.scan`` of the step, validation, the early-stopping update); ``fit``, the sweep
  trainer and the RBM and perceptron trainers run it.
* :func:`fit` is a short host loop around the compiled epoch, cached across calls.
"""

from fnnet.training._epoch import Epoch as Epoch
from fnnet.training._epoch import make_epoch as make_epoch
from fnnet.training._fit import fit as fit
from fnnet.training._step import StepMetrics as StepMetrics
from fnnet.training._step import TrainState as TrainState
from fnnet.training._step import TrainStep as TrainStep
from fnnet.training._step import accuracy as accuracy
from fnnet.training._step import all_finite as all_finite
from fnnet.training._step import make_eval_step as make_eval_step
from fnnet.training._step import make_train_step as make_train_step

__all__ = [
    "Epoch",
    "StepMetrics",
    "TrainState",
    "TrainStep",
    "accuracy",
    "all_finite",
    "fit",
    "make_epoch",
    "make_eval_step",
    "make_train_step",
]
