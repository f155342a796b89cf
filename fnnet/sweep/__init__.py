"""Many training runs as one compiled program: search spaces, the member trainer, run, ensembles.

* spaces (``_space.py``): :func:`grid`, :func:`random_search`, :func:`point` and
  the priors :func:`uniform`, :func:`log_uniform`, :func:`choice`;
* the member's training function: :func:`make_trainer` (``fit``'s own epoch, in ``lax.scan``);
* running: :func:`run` (``vmap`` over members, one compile, chunks, meshes), :func:`member_key`,
  :func:`estimate_memory`;
* reading the result: :func:`best_configuration` (a reduction over seeds, the seeds'
  parameters and histories with it), :func:`table` (mean ± std per configuration),
  :func:`heatmap` (two swept axes; needs matplotlib);
* ensembles: :func:`ensemble`, :func:`predict_ensemble`, :func:`evaluate_ensemble`.

See ``docs/sweeps.md``.
"""

from fnnet.sweep._ensemble import ensemble as ensemble
from fnnet.sweep._ensemble import evaluate_ensemble as evaluate_ensemble
from fnnet.sweep._ensemble import predict_ensemble as predict_ensemble
from fnnet.sweep._results import best_configuration as best_configuration
from fnnet.sweep._results import heatmap as heatmap
from fnnet.sweep._results import table as table
from fnnet.sweep._run import estimate_memory as estimate_memory
from fnnet.sweep._run import member_key as member_key
from fnnet.sweep._run import run as run
from fnnet.sweep._space import Distribution as Distribution
from fnnet.sweep._space import Space as Space
from fnnet.sweep._space import choice as choice
from fnnet.sweep._space import grid as grid
from fnnet.sweep._space import log_uniform as log_uniform
from fnnet.sweep._space import point as point
from fnnet.sweep._space import random_search as random_search
from fnnet.sweep._space import uniform as uniform
from fnnet.sweep._trainer import Trainer as Trainer
from fnnet.sweep._trainer import make_trainer as make_trainer

__all__ = [
    "Distribution",
    "Space",
    "Trainer",
    "best_configuration",
    "choice",
    "ensemble",
    "estimate_memory",
    "evaluate_ensemble",
    "grid",
    "heatmap",
    "log_uniform",
    "make_trainer",
    "member_key",
    "point",
    "predict_ensemble",
    "random_search",
    "run",
    "table",
    "uniform",
]
