"""Training an RBM by contrastive divergence (CD-k) or persistent CD on the core's train step.

An RBM is a gradient learner like any other network: its "forward" draws the negative samples
and returns the free-energy gap, whose hand rule is the CD update, and the persistent chain is
model state. One step on a minibatch ``v`` (``B`` rows), through
``fnnet.training.make_train_step(apply, loss, optimizer, has_state=True)``::

    apply(params, v, key=s, state=chain):                      s: the step's key
        h₀ = chain (persistent) or h₀ ~ p(h | v) (CD)           key: split(s)[0]
        v_model, h_k = gibbs_chain(params, h₀, k, key=split(s)[1])    (params held constant)
        → (free_energy_gap(params, v, v_model), h_k)           the new chain: h_k (PCD)
    loss = the gap;  grads = its hand rule;  params ← optimizer(grads);  chain ← h_k

The core's guard keeps a step only if the gap, the gradients, the new params, optimizer state
and chain are all finite. Epochs are ``fnnet.training.make_epoch``'s, with ``fnnet.fit``'s key
schedule (epoch ``e``: ``shuffle_key, step_key = split(fold_in(key, e))``; step ``s`` uses
``fold_in(step_key, s)``) and batching (``fnnet.data.minibatches``: the ``n % batch_size`` rows
left over after the shuffle are skipped that epoch; with ``shuffle=False`` the same last rows
every epoch).

With ``fnnet.optimizers.sgd(η)`` this is exactly scikit-learn's ``BernoulliRBM`` update
(``persistent=True``, ``k=1``, ``W += η/B (vᵀσ(vW+c) − v_modelᵀσ(v_modelW+c))``); momentum, weight
decay (``chain(add_decayed_weights(λ), sgd(η, momentum))``) and schedules come for free. The
persistent chain holds ``B`` hidden states, zeros at the start (as scikit-learn). ``k`` and the
optimizer's hyperparameters are array leaves: :func:`train_rbm` is pure, so
``jax.jit(jax.vmap(run))`` over learning rate × ``k`` × seed is one compiled program.
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from fnnet import _cache, training
from fnnet._checks import (
    check_at_most_rows,
    check_bool,
    check_key,
    check_optimizer,
    check_positive_int,
)
from fnnet._types import Array, PRNGKey
from fnnet.boltzmann._rbm import (
    RBMParams,
    _check_k,
    _check_params,
    _gibbs,
    _hidden_probs,
    _reconstruction_error,
    _visible,
    bernoulli,
    free_energy_gap,
    rbm_init,
)


class RBMFit(NamedTuple):
    """Result of :func:`rbm_fit`: the final ``params``, the ``fnnet.training.TrainState``
    (its ``model_state`` is the persistent chain) and per-epoch ``history``:
    ``"reconstruction_error"`` (per visible unit, on the training data after each epoch),
    ``"skipped_steps"`` (steps the non-finite guard rejected), and ``"seconds_per_epoch"``
    (the compiled run's wall time over ``epochs``, compilation excluded)."""

    params: RBMParams
    state: Any
    history: dict


def _make_apply(k: Any, persistent: bool, gaussian: bool):
    """The RBM's ``apply`` for ``make_train_step(..., has_state=True)`` (see the module docs)."""

    def apply(params, v, *, key, training, state):
        del training
        fixed = jax.lax.stop_gradient(params)  # the samples are constants of the gap
        key_start, key_chain = jax.random.split(key)
        start = state if persistent else bernoulli(_hidden_probs(fixed, v), key=key_start)
        v_model, h_end = _gibbs(key_chain, fixed, start, k, gaussian)
        return free_energy_gap(gaussian, params, v, v_model), (h_end if persistent else state)

    return apply


def _gap(outputs: Array, targets: Any) -> Array:
    """The loss: the free-energy gap ``apply`` returned (the targets are empty)."""
    del targets
    return outputs


def _train_step(optimizer: Any, k: Any, persistent: bool, gaussian: bool):
    apply = _make_apply(k, persistent, gaussian)
    return training.make_train_step(apply, _gap, optimizer, has_state=True)


def rbm_init_state(params: RBMParams, optimizer: Any, batch_size: int) -> Any:
    """A fresh ``fnnet.training.TrainState``: the optimizer on ``params``, step 0, and a zero
    persistent chain ``(batch_size, hidden)`` as the model state (unused by plain CD)."""
    params = _check_params(params)
    optimizer = check_optimizer("optimizer", optimizer)
    batch_size = check_positive_int("batch_size", batch_size)
    chain = jnp.zeros((batch_size, params.c.shape[0]), params.w.dtype)
    return _train_step(optimizer, 1, False, False).init(params, chain)


def train_rbm(
    x: Array,
    state: Any,
    optimizer: Any,
    *,
    key: PRNGKey,
    epochs: int,
    batch_size: int,
    k: Any = 1,
    persistent: bool = False,
    gaussian: bool = False,
    shuffle: bool = True,
) -> tuple[Any, Array]:
    """``epochs`` passes of minibatch CD over the rows of ``x`` (see the module docstring).

    Each epoch is ``fnnet.training.make_epoch`` of the guarded train step: shuffled by the
    epoch's key, or with ``shuffle=False`` the rows in order every epoch (scikit-learn's
    ``BernoulliRBM``). **The last ``n % batch_size`` rows are left out of each epoch** (after
    the shuffle, so different rows each epoch; with ``shuffle=False`` always the same ones,
    where scikit-learn trains on a shorter last batch). Non-finite steps are skipped.

    Pure and unchecked (call it under ``jit``/``vmap``; :func:`rbm_fit` validates). ``state``
    comes from :func:`rbm_init_state` with the same ``batch_size``, or from an earlier call: a
    state that has trained ``e`` whole epochs of ``x`` continues with epoch ``e``'s keys, so
    two calls of one epoch each give the run of one call of two (and ``rbm_fit(key=key)`` is
    ``train_rbm`` with ``key=fold_in(key, 1)`` from ``rbm_init(..., key=fold_in(key, 0))``).
    Returns the final state and the reconstruction error per visible unit after each epoch
    ``(epochs,)``.
    """
    state, history = _run(
        x, state, optimizer, key, k, epochs=epochs, batch_size=batch_size,
        persistent=persistent, gaussian=gaussian, shuffle=shuffle,
    )  # fmt: skip
    return state, history["reconstruction_error"]


def _run(x, state, optimizer, key, k, *, epochs, batch_size, persistent, gaussian, shuffle):
    step = _train_step(optimizer, k, persistent, gaussian)
    epoch = training.make_epoch(
        step.step, None, batch_size=batch_size, halt_on_nonfinite=False, shuffle=shuffle
    )
    data = {"x": x, "y": jnp.zeros((x.shape[0], 0), x.dtype)}

    def body(run, index):
        run, record = epoch(run, data, key, index)
        error = _reconstruction_error(run.train.params, x, gaussian, True)
        return run, {"reconstruction_error": error, "skipped_steps": record.skipped_steps}

    done = state.step // (x.shape[0] // batch_size)  # whole epochs this state has trained
    run = epoch.init(state)
    run, history = jax.lax.scan(body, run, done + jnp.arange(epochs, dtype=jnp.int32))
    return run.train, history


def rbm_fit(
    x: Any,
    num_hidden: int,
    *,
    key: PRNGKey,
    optimizer: Any,
    epochs: int,
    batch_size: int = 10,
    k: int = 1,
    persistent: bool = False,
    gaussian: bool = False,
    params: RBMParams | None = None,
    init_scale: Any = 0.01,
    shuffle: bool = True,
) -> RBMFit:
    """Train an RBM on the rows of ``x`` by CD-k or persistent CD-k.

    The run is :func:`train_rbm` compiled once per structure and cached across calls (the
    core's compile cache, keyed by the optimizer's code and the static options, not by the
    optimizer object), so a second call with a freshly built ``sgd(0.06)`` does not compile.

    Args:
        x: ``(n, visible)``; in ``[0, 1]`` for Bernoulli units, standardised for Gaussian.
            NaN or ±inf is refused (the row is named); integer data is cast to float32, and
            ``x`` to the dtype of ``params`` when given.
        num_hidden: hidden units (with ``params``: must equal ``params.w.shape[1]``).
        key: keyword-only. Initialisation draws from ``fold_in(key, 0)`` (:func:`rbm_init`)
            and training from ``fold_in(key, 1)`` (:func:`train_rbm`'s key). To seed the two
            apart, pass ``params=rbm_init(V, H, key=init_key)``: ``key`` then only trains.
        optimizer: e.g. ``fnnet.optimizers.sgd(0.06)`` (scikit-learn's recipe) or with
            momentum, weight decay, a schedule.
        epochs: passes over ``x``; batch_size: rows per update (the ``n % batch_size`` rows
            left over are skipped each epoch, see :func:`train_rbm`).
        k: Gibbs steps per update (``>= 1``).
        persistent: PCD (a persistent chain of ``batch_size`` states) instead of CD from the data.
        gaussian: Gaussian (unit-variance) visible units.
        params: start from these instead of :func:`rbm_init`.
        init_scale: the standard deviation of :func:`rbm_init`'s weights (without ``params``).
        shuffle: a new order of the rows every epoch, or (``False``) the given order every
            epoch, as scikit-learn's ``BernoulliRBM``.

    Returns:
        An :class:`RBMFit`.
    """
    key = check_key("key", key)
    gaussian = check_bool("gaussian", gaussian)
    persistent = check_bool("persistent", persistent)
    shuffle = check_bool("shuffle", shuffle)
    num_hidden = check_positive_int("num_hidden", num_hidden)
    epochs = check_positive_int("epochs", epochs)
    k = _check_k(k)
    optimizer = check_optimizer("optimizer", optimizer)
    if params is None:
        x = _visible("x", x, None, unit_range=not gaussian)
        params = rbm_init(
            x.shape[1], num_hidden, key=jax.random.fold_in(key, 0), scale=init_scale,
            dtype=x.dtype,
        )  # fmt: skip
    else:
        params = _check_params(params)
        if params.w.shape[1] != num_hidden:
            raise ValueError(
                f"`num_hidden` ({num_hidden}) must equal the hidden units of `params` "
                f"(params.w.shape = {tuple(params.w.shape)})."
            )
        x = _visible("x", x, params, unit_range=not gaussian)
    batch_size = check_at_most_rows("batch_size", batch_size, x.shape[0], data="x")
    state = rbm_init_state(params, optimizer, batch_size)
    args = (x, state, jax.random.fold_in(key, 1), jnp.asarray(k, jnp.int32))
    flags = dict(epochs=epochs, batch_size=batch_size, persistent=persistent, gaussian=gaussian,
                 shuffle=shuffle)  # fmt: skip

    def build():
        return jax.jit(lambda x, state, key, k: _run(x, state, optimizer, key, k, **flags))

    structure = ("rbm_fit", _cache.fingerprint(optimizer.update), tuple(flags.items()))
    program, _ = _cache.compiled(structure, build, *args)
    tic = time.perf_counter()
    state, history = program(*args)
    history: dict[str, Any] = {k: np.asarray(v) for k, v in history.items()}  # waits
    history["seconds_per_epoch"] = (time.perf_counter() - tic) / epochs
    return RBMFit(state.params, state, history)
