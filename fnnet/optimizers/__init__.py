"""Optimizers as pure ``(init, update)`` pairs whose hyperparameters are state leaves.

Usage::

    opt = fnnet.optimizers.adam(1e-3)
    state = opt.init(params)
    grads = jax.grad(loss)(params, batch)
    updates, state = opt.update(grads, state, params)
    params = fnnet.optimizers.apply_updates(params, updates)

Every optimizer here is a :func:`chain` of small transforms, ending in
``scale_by_learning_rate``. This package is the one public path for all of them; its private
files, in dependency order:

* ``_hyperparams.py``: hyperparameters as state (``get_hyperparams``, ``set_hyperparams``; for
  a transform of your own ``hyperparam_fields``, ``as_hyperparam``, ``safe_increment``) and
  their ranges by name;
* ``_tree.py``: ``global_norm``, ``weight_mask`` and the tree-structure checks;
* ``_base.py``: ``Optimizer``, ``chain``, ``apply_updates``, ``StateMismatchError`` and the
  state check every ``update`` runs;
* ``_scaling.py`` (``scale``, ``scale_by_learning_rate``), ``_clipping.py``
  (``clip_by_value``, ``clip_by_global_norm``), ``_moments.py`` (``trace``,
  ``scale_by_adagrad``, ``scale_by_rms``, ``scale_by_adam``, ``scale_by_amsgrad``), ``_decay.py``
  (``add_decayed_weights``, ``add_l1_decay``), ``_averaging.py`` (``polyak_average``,
  ``averaged_params``: the running mean of the iterates);
* ``_alias.py``: ``sgd``, ``adagrad``, ``rmsprop``, ``adam``, ``nadam``, ``adamw``, ``amsgrad``.

A chain's state is the tuple of its transforms' states, NamedTuples whose fields say what they
hold (``state[0].mu``, ``state[0].count``). A transform of your own is an :class:`Optimizer`
pair; :func:`hyperparam_fields`, :func:`as_hyperparam` and :func:`safe_increment` make it
behave like these (docs/optimizers.md, "Writing a transform").

Each hyperparameter may be a Python float or a (traced) 0-d array and is stored in the state as a
typed 0-d array (float32; float64 for float64 params), so:

* sweeping, ``jax.jit(jax.vmap(train))(jnp.array([1e-3, 1e-2, 1e-1]))`` with ``train``
  building ``adam(lr)`` inside, is one compile for all learning rates;
* ``set_hyperparams(state, learning_rate=0.01)`` changes a value without recompiling a jitted
  ``step(params, state, grads)``.

``learning_rate`` may also be a schedule from :mod:`fnnet.schedules`, evaluated at an int32
step count kept in the state. Full-batch gradient descent is :func:`sgd` with the gradient of
the whole training set.

Concrete hyperparameters are checked when the optimizer is built (finite; learning rates,
epsilons and decays ``>= 0``; momenta and betas in ``[0, 1)``), with an error naming the
argument; traced ones (inside a sweep) are not. An ``update`` given a state from another
optimizer's ``init`` raises :class:`StateMismatchError`.

These are the published algorithms (see each docstring), not the textbook's loose
descriptions ("halve the learning rate every step", "lists of past gradients"): decays are
schedules, and running sums/averages replace stored gradient histories.
"""

from fnnet.optimizers._alias import adagrad as adagrad
from fnnet.optimizers._alias import adam as adam
from fnnet.optimizers._alias import adamw as adamw
from fnnet.optimizers._alias import amsgrad as amsgrad
from fnnet.optimizers._alias import nadam as nadam
from fnnet.optimizers._alias import rmsprop as rmsprop
from fnnet.optimizers._alias import sgd as sgd
from fnnet.optimizers._averaging import averaged_params as averaged_params
from fnnet.optimizers._averaging import polyak_average as polyak_average
from fnnet.optimizers._base import Optimizer as Optimizer
from fnnet.optimizers._base import StateMismatchError as StateMismatchError
from fnnet.optimizers._base import apply_updates as apply_updates
from fnnet.optimizers._base import chain as chain
from fnnet.optimizers._clipping import clip_by_global_norm as clip_by_global_norm
from fnnet.optimizers._clipping import clip_by_value as clip_by_value
from fnnet.optimizers._decay import add_decayed_weights as add_decayed_weights
from fnnet.optimizers._decay import add_l1_decay as add_l1_decay
from fnnet.optimizers._hyperparams import as_hyperparam as as_hyperparam
from fnnet.optimizers._hyperparams import get_hyperparams as get_hyperparams
from fnnet.optimizers._hyperparams import hyperparam_fields as hyperparam_fields
from fnnet.optimizers._hyperparams import safe_increment as safe_increment
from fnnet.optimizers._hyperparams import set_hyperparams as set_hyperparams
from fnnet.optimizers._moments import scale_by_adagrad as scale_by_adagrad
from fnnet.optimizers._moments import scale_by_adam as scale_by_adam
from fnnet.optimizers._moments import scale_by_amsgrad as scale_by_amsgrad
from fnnet.optimizers._moments import scale_by_rms as scale_by_rms
from fnnet.optimizers._moments import trace as trace
from fnnet.optimizers._scaling import scale as scale
from fnnet.optimizers._scaling import scale_by_learning_rate as scale_by_learning_rate
from fnnet.optimizers._tree import global_norm as global_norm
from fnnet.optimizers._tree import weight_mask as weight_mask

__all__ = [
    "Optimizer",
    "StateMismatchError",
    "adagrad",
    "adam",
    "adamw",
    "add_decayed_weights",
    "add_l1_decay",
    "amsgrad",
    "apply_updates",
    "as_hyperparam",
    "averaged_params",
    "chain",
    "clip_by_global_norm",
    "clip_by_value",
    "get_hyperparams",
    "global_norm",
    "hyperparam_fields",
    "nadam",
    "polyak_average",
    "rmsprop",
    "safe_increment",
    "scale",
    "scale_by_adagrad",
    "scale_by_adam",
    "scale_by_amsgrad",
    "scale_by_learning_rate",
    "scale_by_rms",
    "set_hyperparams",
    "sgd",
    "trace",
    "weight_mask",
]
