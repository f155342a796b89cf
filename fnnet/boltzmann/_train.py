"""Training an RBM by contrastive divergence (CD-k) or persistent CD with fnnet's optimizers.

One step on a minibatch ``v`` (``B`` rows)::

    h₀ = chain (persistent) or h₀ ~ p(h | v) (CD)        key: split(key)[0]
    v_model, h_k = gibbs_chain(split(key)[1], params, h₀, k)
    grads = ∇_θ [mean F(v) − mean F(v_model)]             (free_energy_gap's hand rule)
    params ← optimizer(grads);   chain ← h_k               (a non-finite step is skipped)

With ``fnnet.optimizers.sgd(η)`` this is exactly scikit-learn's ``BernoulliRBM`` update
(``persistent=True``, ``k=1``, ``W += η/B (vᵀσ(vW+c) − v_modelᵀσ(v_modelW+c))``); momentum, weight
decay (``chain(add_decayed_weights(λ), sgd(η, momentum))``) and schedules come for free. The
persistent chain holds ``B`` hidden states, zeros at the start (as scikit-learn). ``k`` and the
optimizer's hyperparameters are array leaves: :func:`train_rbm` is pure, so
``jax.jit(jax.vmap(run))`` over learning rate × ``k`` × seed is one compiled program.
"""

from __future__ import annotations

import functools
import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from fnnet import optimizers, training
from fnnet._checks import (
    check_bool,
    check_floating,
    check_key,
    check_optimizer,
    check_positive_int,
    is_concrete,
    is_int,
)
from fnnet._types import Array, PRNGKey
from fnnet.boltzmann._rbm import (
    RBMParams,
    bernoulli,
    free_energy_gap,
    gibbs_chain,
    hidden_probs,
    rbm_init,
    reconstruction_error,
)


class RBMState(NamedTuple):
    """Training state: ``params``, the optimizer's ``opt_state``, the persistent ``chain``
    ``(batch_size, hidden)`` (unused by plain CD) and the int32 ``step`` count."""

    params: RBMParams
    opt_state: Any
    chain: Array
    step: Array


class RBMFit(NamedTuple):
    """Result of :func:`rbm_fit`: final ``params``, the ``state``, and per-epoch ``history``
    (``reconstruction_error`` per visible unit on the training data after each epoch, and
    ``seconds_per_epoch``: the compiled run's wall time over ``epochs``, compilation excluded)."""

    params: RBMParams
    state: RBMState
    history: dict


def check_k(k: Any) -> Any:
    """``k`` Gibbs steps: an int ``>= 1``, or a traced int array (checked when concrete)."""
    if is_int(k) or (hasattr(k, "dtype") and is_concrete(k)):
        value = np.asarray(k)
        if not np.issubdtype(value.dtype, np.integer) or value.ndim != 0:
            raise TypeError(f"`k` must be an int (Gibbs steps); got {k!r}.")
        if int(value) < 1:
            raise ValueError(f"`k` must be >= 1 Gibbs steps; got {int(value)}.")
        return k
    if hasattr(k, "dtype") and jnp.issubdtype(k.dtype, jnp.integer):
        return k  # traced inside vmap/jit
    raise TypeError(f"`k` must be an int (Gibbs steps); got {k!r}.")


def check_visible(x: Any, *, gaussian: bool) -> Array:
    """``x`` ``(n, visible)`` floating; for Bernoulli units every value in ``[0, 1]``."""
    x = check_floating("x", x)
    if x.ndim != 2:
        raise ValueError(f"`x` must have shape (n, visible); got {x.shape}.")
    if not gaussian and is_concrete(x) and x.size:
        low, high = float(jnp.min(x)), float(jnp.max(x))
        if not (0.0 <= low and high <= 1.0):
            raise ValueError(
                f"`x` must lie in [0, 1] for Bernoulli visible units (probabilities, e.g. "
                f"minmax-scaled pixels); got values from {low} to {high}. Scale the data, or "
                f"use gaussian=True on standardised data."
            )
    return x


def rbm_init_state(params: RBMParams, optimizer: Any, batch_size: int) -> RBMState:
    """A fresh state: the optimizer on ``params``, a zero persistent chain, step 0."""
    chain = jnp.zeros((batch_size, params.c.shape[0]), params.w.dtype)
    return RBMState(params, optimizer.init(params), chain, jnp.zeros((), jnp.int32))


def rbm_step(
    optimizer: Any,
    state: RBMState,
    v: Array,
    key: PRNGKey,
    k: Any = 1,
    *,
    persistent: bool = False,
    gaussian: bool = False,
) -> RBMState:
    """One CD-k (or persistent CD-k) update on the minibatch ``v``; see the module docstring."""
    params = state.params
    key_start, key_chain = jax.random.split(key)
    start = state.chain if persistent else bernoulli(key_start, hidden_probs(params, v))
    v_model, h_end = gibbs_chain(key_chain, params, start, k, gaussian=gaussian)
    grads = jax.grad(free_energy_gap, argnums=1)(gaussian, params, v, v_model)
    updates, opt_state = optimizer.update(grads, state.opt_state, params)
    new = optimizers.apply_updates(params, updates)
    ok = training.all_finite((new, opt_state, h_end))  # the train step's own check
    keep = functools.partial(jax.tree_util.tree_map, lambda a, b: jnp.where(ok, a, b))
    return RBMState(
        keep(new, params),
        keep(opt_state, state.opt_state),
        jnp.where(ok, h_end, state.chain) if persistent else state.chain,
        state.step + 1,
    )


def train_rbm(
    key: PRNGKey,
    x: Array,
    state: RBMState,
    optimizer: Any,
    *,
    epochs: int,
    batch_size: int,
    k: Any = 1,
    persistent: bool = False,
    gaussian: bool = False,
    shuffle: bool = True,
) -> tuple[RBMState, Array]:
    """``epochs`` passes of minibatch CD over the rows of ``x``, shuffled by
    ``fold_in(key, epoch)`` (the last ``n % batch_size`` rows of each shuffle are skipped), or
    with ``shuffle=False`` in the rows' order every epoch (scikit-learn's ``BernoulliRBM``).

    Pure and unchecked (call it under ``jit``/``vmap``; :func:`rbm_fit` validates). Returns
    the final state and the reconstruction error per visible unit after each epoch
    ``(epochs,)``.
    """
    n = x.shape[0]
    num_batches = n // batch_size

    def epoch(state, e):
        epoch_key = jax.random.fold_in(key, e)
        order = jax.random.permutation(epoch_key, n) if shuffle else jnp.arange(n)
        order = order[: num_batches * batch_size]
        batches = x[order].reshape(num_batches, batch_size, x.shape[1])

        def body(state, i):
            step_key = jax.random.fold_in(epoch_key, i + 1)
            state = rbm_step(
                optimizer,
                state,
                batches[i],
                step_key,
                k,
                persistent=persistent,
                gaussian=gaussian,
            )
            return state, None

        state, _ = jax.lax.scan(body, state, jnp.arange(num_batches))
        return state, reconstruction_error(state.params, x, gaussian=gaussian)

    return jax.lax.scan(epoch, state, jnp.arange(epochs))


# Compiled once per optimizer object, sizes and flags (the optimizer hashes by its functions).
_train_rbm_jit = jax.jit(
    train_rbm,
    static_argnames=("optimizer", "epochs", "batch_size", "persistent", "gaussian", "shuffle"),
)


def rbm_fit(
    key: PRNGKey,
    x: Any,
    num_hidden: int,
    *,
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

    Args:
        key: initial weights (``fold_in(key, 0)``) and training (``train_rbm`` with
            ``fold_in(key, 1)``: the same run as calling it directly).
        x: ``(n, visible)``; in ``[0, 1]`` for Bernoulli units, standardised for Gaussian.
        num_hidden: hidden units.
        optimizer: e.g. ``fnnet.optimizers.sgd(0.06)`` (scikit-learn's recipe) or with
            momentum, weight decay, a schedule.
        epochs: passes over ``x``; batch_size: rows per update.
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
    x = check_visible(x, gaussian=gaussian)
    num_hidden = check_positive_int("num_hidden", num_hidden)
    epochs = check_positive_int("epochs", epochs)
    batch_size = check_positive_int("batch_size", batch_size)
    if batch_size > x.shape[0]:
        raise ValueError(
            f"`batch_size` ({batch_size}) must be at most the rows of `x` ({x.shape[0]})."
        )
    k = check_k(k)
    optimizer = check_optimizer("optimizer", optimizer)
    if params is None:
        params = rbm_init(
            jax.random.fold_in(key, 0), x.shape[1], num_hidden, scale=init_scale, dtype=x.dtype
        )
    state = rbm_init_state(params, optimizer, batch_size)
    static = dict(
        optimizer=optimizer, epochs=epochs, batch_size=batch_size, persistent=persistent,
        shuffle=shuffle,
    )  # fmt: skip
    args = (jax.random.fold_in(key, 1), x, state)
    compiled = _train_rbm_jit.lower(*args, k=jnp.asarray(k), **static, gaussian=gaussian).compile()
    tic = time.perf_counter()
    state, errors = compiled(*args, k=jnp.asarray(k))
    errors = np.asarray(errors)  # waits for the result
    seconds = (time.perf_counter() - tic) / epochs
    history = {"reconstruction_error": errors, "seconds_per_epoch": seconds}
    return RBMFit(state.params, state, history)


__all__ = [
    "RBMFit",
    "RBMState",
    "check_k",
    "check_visible",
    "rbm_fit",
    "rbm_init_state",
    "rbm_step",
    "train_rbm",
]
