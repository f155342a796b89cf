"""The per-step guard's promise as a property, over drawn learning rates, input scales and
non-finite rows (hypothesis): ``make_train_step``'s step never writes a non-finite parameter or
optimizer state, and it is exact: it keeps the update iff the loss, the gradients and the
candidate state are all finite, where the candidate is computed by a separate, unguarded
program (the same loss, gradients and optimizer update, without the guard). The draws reach
every branch: finite steps kept, non-finite inputs, and finite gradients whose update
overflows (an output bias near float32's maximum, learning rates up to 3e38)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

import fnnet
from fnnet import activations, losses, optimizers
from fnnet.gradcheck import assert_close

NET = fnnet.serial(fnnet.Dense(4, activations.tanh), fnnet.Dense(3))
OPTIMIZERS = {
    "sgd momentum": lambda: optimizers.sgd(0.1, momentum=0.9),
    "adam": lambda: optimizers.adam(0.1),
    "rmsprop": lambda: optimizers.rmsprop(0.1),
    "adagrad": lambda: optimizers.adagrad(0.1),
}


def _loss(params, x, y):
    return losses.softmax_cross_entropy(NET.apply(params, x), y)


@functools.cache
def _programs(name):
    """One compiled guarded step and one unguarded candidate per optimizer: the learning rate
    lives in the optimizer state, so every drawn example reuses them."""
    optimizer = OPTIMIZERS[name]()
    train_step = fnnet.make_train_step(NET.apply, losses.softmax_cross_entropy, optimizer)

    @jax.jit
    def candidate(state, x, y):
        loss, grads = jax.value_and_grad(_loss)(state.params, x, y)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        return loss, grads, optimizers.apply_updates(state.params, updates), opt_state

    return train_step, jax.jit(train_step.step), candidate


def _finite(tree):
    return all(bool(np.all(np.isfinite(leaf))) for leaf in jax.tree_util.tree_leaves(tree))


def _equal(a, b):
    for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    name=st.sampled_from(sorted(OPTIMIZERS)),
    lr_exponent=st.sampled_from([-4, -3, -2, -1, 0, 1, 5, 10, 20, 30, 36, 37, 38]),
    lr_mantissa=st.floats(1.0, 3.0),
    scale_exponent=st.integers(-3, 30),
    bias_exponent=st.sampled_from([None, None, 20, 37, 38]),  # output bias 3e20 ... 3e38
    bad_row=st.none() | st.integers(0, 7),
    bad_value=st.sampled_from([np.nan, np.inf, -np.inf]),
    steps=st.integers(1, 3),
)
@example("adam", 38, 1.0, 0, 38, None, np.nan, 1)  # finite gradients, an update that overflows
def test_the_guard_is_exact_and_never_writes_a_nonfinite_state(
    name, lr_exponent, lr_mantissa, scale_exponent, bias_exponent, bad_row, bad_value, steps
):
    train_step, step, candidate = _programs(name)
    rng = np.random.default_rng((lr_exponent + 4) + 100 * (scale_exponent + 3))
    x = (rng.normal(size=(8, 5)) * 10.0**scale_exponent).astype(np.float32)
    if bad_row is not None:
        x[bad_row, rng.integers(5)] = bad_value
    y = jnp.asarray(rng.integers(0, 3, 8), jnp.int32)
    learning_rate = min(lr_mantissa * 10.0**lr_exponent, 3.0e38)
    params = NET.init(jax.random.key(0), (8, 5))
    if bias_exponent is not None:  # finite loss and gradients; a large step overflows it
        out = params[1]._replace(b=jnp.full(3, 3.0 * 10.0**bias_exponent, jnp.float32))
        params = (params[0], out)
    state = train_step.init(params)
    state = state._replace(
        opt_state=optimizers.set_hyperparams(state.opt_state, learning_rate=learning_rate)
    )
    for _ in range(steps):
        loss, grads, params, opt_state = candidate(state, jnp.asarray(x), y)
        keep = bool(np.isfinite(loss)) and _finite(grads) and _finite((params, opt_state))
        new, metrics = step(state, (jnp.asarray(x), y), jax.random.key(1))
        assert bool(metrics.applied) == keep
        assert _finite((new.params, new.opt_state))
        if keep:
            assert_close(new.params, params)
            assert_close(new.opt_state, opt_state)
        else:
            _equal(new.params, state.params)
            _equal(new.opt_state, state.opt_state)
        state = new
