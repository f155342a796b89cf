"""Train step, fit loop, dropout: behaviour against plain references and exact replays."""

import functools
import os
import re
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import fnnet
from fnnet import activations, losses, optimizers
from fnnet.gradcheck import assert_close
from fnnet.layers import Dropout, dropout
from fnnet.training import _epoch, _fit, all_finite, fit, make_train_step


def _problem(key, n=64, d=5, classes=3):
    kx, kw = jax.random.split(key)
    x = jax.random.normal(kx, (n, d))
    y = jnp.argmax(x @ jax.random.normal(kw, (d, classes)), axis=-1).astype(jnp.int32)
    return x, y


NET = fnnet.serial(fnnet.Dense(8, activations.tanh), fnnet.Dense(3))


def _fit_net(params, optimizer, data, **options):
    """``fit`` of ``NET`` under softmax cross-entropy (the tests' usual model and loss)."""
    return fit(NET.apply, params, losses.softmax_cross_entropy, optimizer, data, **options)


def _plain_loss(params, x, y):
    (w1, b1), (w2, b2) = params
    logits = jnp.tanh(x @ w1 + b1) @ w2 + b2
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))


def _equal(a, b):
    return all(
        np.array_equal(np.asarray(u), np.asarray(v))
        for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b))
    )


def test_train_step_is_gradient_descent(key):
    x, y = _problem(key)
    params = NET.init(key, 5)
    train_step = make_train_step(NET.apply, losses.softmax_cross_entropy, optimizers.sgd(0.1))
    state, metrics = jax.jit(train_step.step)(train_step.init(params), (x, y), key)
    grads = jax.grad(_plain_loss)(params, x, y)
    expected = jax.tree_util.tree_map(lambda p, g: p - 0.1 * g, params, grads)
    assert_close(state.params, expected)
    assert_close(metrics.loss, _plain_loss(params, x, y))
    logits = NET.apply(params, x)
    assert float(metrics.accuracy) == pytest.approx(float(jnp.mean(jnp.argmax(logits, -1) == y)))
    assert int(state.step) == 1 and bool(metrics.loss_finite) and bool(metrics.grads_finite)


def test_nonfinite_step_keeps_state(key):
    x, y = _problem(key)
    params = NET.init(key, 5)
    opt = optimizers.adam(1e-2)
    train_step = make_train_step(NET.apply, losses.softmax_cross_entropy, opt)
    step, state = jax.jit(train_step.step), train_step.init(params)
    bad = x.at[3, 0].set(jnp.nan)
    new, metrics = step(state, (bad, y), key)
    assert not bool(metrics.loss_finite)
    assert _equal(new.params, state.params) and _equal(new.opt_state, state.opt_state)
    assert int(new.step) == 1


def test_fit_stops_at_first_nonfinite_step_and_keeps_last_good_params(key):
    x, y = _problem(key, n=32)
    x = x.at[21, 2].set(jnp.nan)  # one bad row: the batch holding it has a NaN loss
    params = NET.init(key, 5)
    r = _fit_net(
        params,
        optimizers.sgd(1.0),
        (x, y),
        key=key,
        epochs=5,
        batch_size=8,
        verbose=False,
        allow_nonfinite_data=True,
    )
    assert (
        r.nonfinite is not None
        and r.nonfinite.cause == "non-finite loss"
        and r.nonfinite.epoch == 0
    )
    assert len(r.history["loss"]) == 1
    assert all(bool(jnp.all(jnp.isfinite(p))) for p in jax.tree_util.tree_leaves(r.params))
    # Replay: exactly `step` good steps from the start give the returned parameters.
    train_step = make_train_step(NET.apply, losses.softmax_cross_entropy, optimizers.sgd(1.0))
    step, state = jax.jit(train_step.step), train_step.init(params)
    for epoch in range(r.nonfinite.epoch + 1):
        shuffle_key, step_key = jax.random.split(jax.random.fold_in(key, epoch))
        batches = fnnet.data.minibatches(shuffle_key, x, y, 8)
        for i in range(batches.x.shape[0]):
            if int(state.step) == r.nonfinite.step:
                break
            state, metrics = step(
                state,
                (batches.x[i], batches.y[i]),
                jax.random.fold_in(step_key, state.step),
            )
            assert bool(metrics.loss_finite & metrics.grads_finite)
    assert _equal(state.params, r.params)
    assert r.steps_taken == r.nonfinite.step == int(state.step)


def test_fit_skip_nonfinite_counts_skipped_steps(key):
    x, y = _problem(key, n=16)
    x = x.at[5].set(jnp.inf)
    params = NET.init(key, 5)
    r = _fit_net(
        params,
        optimizers.sgd(0.1),
        (x, y),
        key=key,
        epochs=3,
        batch_size=1,
        skip_nonfinite=True,
        verbose=False,
        allow_nonfinite_data=True,
    )
    assert r.nonfinite is None
    np.testing.assert_array_equal(r.history["skipped_steps"], [1.0, 1.0, 1.0])
    assert np.all(np.isfinite(r.history["loss"]))


def test_fit_compiles_once(key):
    x, y = _problem(key)
    traces = []

    def counting_loss(out, target):
        traces.append(1)
        return losses.softmax_cross_entropy(out, target)

    def run(epochs, batch_size=16):
        traces.clear()
        result = fit(
            NET.apply,
            NET.init(key, 5),
            counting_loss,
            optimizers.adam(1e-2),  # a new optimizer each call, as in a notebook
            (x, y),
            key=key,
            epochs=epochs,
            batch_size=batch_size,
            validation=(x, y),
            verbose=False,
        )
        return len(traces), result

    fnnet._cache.clear()
    traced, first = run(3)
    assert traced == 2  # one trace in the train step, one in evaluation: one epoch program
    assert first.compile_seconds > 0
    traced, again = run(3)  # the same model again: no trace, no compile, the same result
    assert traced == 0 and again.compile_seconds == 0.0
    assert _equal(again.params, first.params) and _equal(again.state, first.state)
    assert run(5)[0] == 0  # the number of epochs is not part of the program
    assert run(3, batch_size=8)[0] == 2  # another batch shape is another program


def test_fit_learns_and_same_seed_same_result(key):
    x, y = _problem(key, n=128)
    params = NET.init(key, 5)
    kwargs = {"key": key, "epochs": 30, "batch_size": 16, "validation": (x, y), "verbose": False}
    a = _fit_net(params, optimizers.adam(1e-2), (x, y), **kwargs)
    b = _fit_net(params, optimizers.adam(1e-2), (x, y), **kwargs)
    assert _equal(a.params, b.params)
    assert a.history["val_accuracy"][-1] > 0.9
    assert a.history["loss"][-1] < 0.5 * a.history["loss"][0]
    assert set(a.history) == set(_fit.HISTORY_KEYS) and len(a.history["loss"]) == 30


def test_early_stopping_restores_best(key):
    x, y = _problem(key)
    params = NET.init(key, 5)
    r = _fit_net(
        params,
        optimizers.sgd(0.0),
        (x, y),
        key=key,
        epochs=20,
        batch_size=16,
        validation=(x, y),
        patience=3,
        verbose=False,
    )
    assert r.stopped_early and r.best_epoch == 0 and len(r.history["loss"]) == 4
    assert _equal(r.params, params)


def test_resume_is_bit_for_bit(key, tmp_path):
    net = fnnet.serial(fnnet.Dense(8, activations.relu), Dropout(0.3), fnnet.Dense(3))
    x, y = _problem(key)
    params = net.init(key, 5)
    args = (
        net.apply,
        params,
        losses.softmax_cross_entropy,
        optimizers.adam(1e-2),
        (x, y),
    )
    kwargs = {"key": key, "epochs": 6, "batch_size": 16, "validation": (x, y)}
    full = fit(*args, **kwargs, verbose=False)

    class Crash(Exception):
        pass

    def crash_after_three(line):
        if line.startswith("epoch 3/"):
            raise Crash

    path = tmp_path / "run.npz"
    with pytest.raises(Crash):
        fit(*args, **kwargs, checkpoint_path=path, log=crash_after_three)
    lines = []
    resumed = fit(*args, **kwargs, checkpoint_path=path, resume=True, log=lines.append)
    assert lines[0].startswith("resumed from") and lines[1].startswith("epoch 4/6")
    assert _equal(resumed.params, full.params) and _equal(resumed.state, full.state)
    np.testing.assert_array_equal(resumed.history["val_loss"], full.history["val_loss"])
    with pytest.raises(ValueError, match="cannot resume.*same model, optimizer and `epochs`"):
        fit(
            *args,
            key=key,
            epochs=9,
            batch_size=16,
            checkpoint_path=path,
            resume=True,
            verbose=False,
        )


def test_fit_bad_input(key):
    x, y = _problem(key)
    params = NET.init(key, 5)
    opt = optimizers.sgd(0.1)
    with pytest.raises(
        ValueError,
        match=r"`data` targets has 10 rows but `data` inputs has 64",
    ):
        _fit_net(params, opt, (x, y[:10]), key=key, epochs=1, batch_size=8)
    with pytest.raises(ValueError, match=r"`batch_size` \(100\) must be at most"):
        _fit_net(params, opt, (x, y), key=key, epochs=1, batch_size=100)
    with pytest.raises(TypeError, match="`loss` must be a function"):
        fit(
            NET.apply,
            params,
            "cross_entropy",
            opt,
            (x, y),
            key=key,
            epochs=1,
            batch_size=8,
        )
    with pytest.raises(ValueError, match="`patience` needs `validation`"):
        _fit_net(params, opt, (x, y), key=key, epochs=1, batch_size=8, patience=2)


# ---------------------------------------------------------------------------- dropout


def test_dropout_mask_statistics_and_scaling(key):
    layer = Dropout(0.3)
    x = jnp.ones((200, 500))
    a = layer.apply((), x, key=key, training=True)
    zeroed = float(jnp.mean(a == 0))
    assert abs(zeroed - 0.3) < 4 * np.sqrt(0.3 * 0.7 / x.size)  # binomial, 4 sd
    survivors = a[a != 0]
    assert_close(survivors, jnp.full_like(survivors, 1 / 0.7))  # inverted: survivors scaled
    # tolerance: sampling error: the mean of 100,000 scaled Bernoulli draws has sd ≈ 0.002
    assert abs(float(a.mean()) - 1.0) < 0.01  # expectation preserved
    assert _equal(layer.apply((), x, training=False), x)  # inference: identity
    assert not _equal(a, layer.apply((), x, key=jax.random.fold_in(key, 1), training=True))


def test_dropout_gradient_reuses_mask(x64):
    key = jax.random.key(3)
    x = jax.random.normal(key, (4, 6), jnp.float64)
    keep = jax.random.bernoulli(jax.random.key(4), 0.6, x.shape)
    g = jax.random.normal(jax.random.key(5), x.shape, jnp.float64)
    hand = jax.grad(lambda x: jnp.sum(dropout(x, keep, 0.4) * g))(x)
    plain = jax.grad(lambda x: jnp.sum(jnp.where(keep, x / (1 - 0.4), 0.0) * g))(x)
    assert_close(hand, plain)
    assert hand.dtype == jnp.float64


def test_dropout_in_serial_and_sweepable_rate(key):
    net = fnnet.serial(Dropout(0.5), Dropout(0.5))
    x = jnp.ones((1, 1000))
    a = net.apply(((), ()), x, key=key, training=True)
    assert set(np.unique(np.asarray(a)).tolist()) <= {0.0, 4.0}
    assert _equal(net.apply(((), ()), x, training=False), x)

    def zero_fraction(rate):
        return jnp.mean(Dropout(rate).apply((), x, key=key, training=True) == 0)

    fractions = jax.jit(jax.vmap(zero_fraction))(jnp.array([0.1, 0.5, 0.9]))
    # tolerance: sampling error: a fraction of 1,000 Bernoulli draws has sd ≤ 0.016 (0.06: 3.8 sd)
    np.testing.assert_allclose(fractions, [0.1, 0.5, 0.9], atol=0.06)
    with pytest.raises(ValueError, match="`rate`"):
        Dropout(1.0)
    with pytest.raises(ValueError, match="`key` is required by Dropout"):
        Dropout(0.5).apply((), x, training=True)


def test_nonfinite_gradient_with_finite_loss_keeps_state(key):
    x, y = _problem(key)
    params = NET.init(key, 5)
    opt = optimizers.sgd(0.1)

    def sqrt_loss(out, target):  # finite value 0, but d√u/du = ∞ at u = 0: NaN gradients
        del target
        return jnp.sqrt(jnp.sum(out * 0.0))

    train_step = make_train_step(NET.apply, sqrt_loss, opt)
    state = train_step.init(params)
    new, metrics = jax.jit(train_step.step)(state, (x, y), key)
    assert bool(metrics.loss_finite) and not bool(metrics.grads_finite)
    assert _equal(new.params, state.params)


# ------------------------------------------------------- the guard checks the new state too


def _finite(tree):
    return all(
        bool(jnp.all(jnp.isfinite(leaf)))
        for leaf in jax.tree_util.tree_leaves(tree)
        if jnp.issubdtype(leaf.dtype, jnp.inexact)
    )


# The per-step guard's promise as a property, over drawn learning rates, input scales and
# non-finite rows (hypothesis): `make_train_step`'s step never writes a non-finite parameter or
# optimizer state, and it is exact: it keeps the update iff the loss, the gradients and the
# candidate state are all finite, where the candidate is computed by a separate, unguarded
# program (the same loss, gradients and optimizer update, without the guard). The draws reach
# every branch: finite steps kept, non-finite inputs, and finite gradients whose update
# overflows (an output bias near float32's maximum, learning rates up to 3e38).
GUARD_OPTIMIZERS = {
    "sgd momentum": lambda: optimizers.sgd(0.1, momentum=0.9),
    "adam": lambda: optimizers.adam(0.1),
    "rmsprop": lambda: optimizers.rmsprop(0.1),
    "adagrad": lambda: optimizers.adagrad(0.1),
}


def _net_loss(params, x, y):
    return losses.softmax_cross_entropy(NET.apply(params, x), y)


@functools.cache
def _guard_programs(name):
    """One compiled guarded step and one unguarded candidate per optimizer: the learning rate
    lives in the optimizer state, so every drawn example reuses them."""
    optimizer = GUARD_OPTIMIZERS[name]()
    train_step = make_train_step(NET.apply, losses.softmax_cross_entropy, optimizer)

    @jax.jit
    def candidate(state, x, y):
        loss, grads = jax.value_and_grad(_net_loss)(state.params, x, y)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        return loss, grads, optimizers.apply_updates(state.params, updates), opt_state

    return train_step, jax.jit(train_step.step), candidate


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    name=st.sampled_from(sorted(GUARD_OPTIMIZERS)),
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
    train_step, step, candidate = _guard_programs(name)
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
            assert _equal(new.params, state.params)
            assert _equal(new.opt_state, state.opt_state)
        state = new


LINEAR = fnnet.Dense(2)


def _regression(key, n=32):
    x = 1e3 * jax.random.normal(key, (n, 5))  # squared-error gradients of order 1e6
    return x, jax.random.normal(jax.random.fold_in(key, 1), (n, 2))


def test_guard_rejects_an_overflowing_update(key):
    """Finite loss and gradients, but θ − η g overflows float32: the step must be rejected."""
    x, y = _regression(key)
    params = LINEAR.init(key, 5)
    opt = optimizers.sgd(1e36)
    train_step = make_train_step(LINEAR.apply, losses.squared_error, opt)
    state = train_step.init(params)
    new, metrics = jax.jit(train_step.step)(state, (x, y), key)
    assert bool(metrics.loss_finite) and bool(metrics.grads_finite)
    assert not bool(metrics.update_finite) and not bool(metrics.applied)
    assert _equal(new.params, state.params) and _finite(new.params)
    # check_update=False (fit's per-step mode, verified once per epoch) lets it through.
    unchecked = make_train_step(LINEAR.apply, losses.squared_error, opt, check_update=False)
    bad, bad_metrics = jax.jit(unchecked.step)(state, (x, y), key)
    assert bool(bad_metrics.applied) and not _finite(bad.params)
    # The same update with a learning rate that does not overflow is applied: the guard is exact.
    ok_state, ok_metrics = jax.jit(
        make_train_step(LINEAR.apply, losses.squared_error, optimizers.sgd(1e-9)).step
    )(
        make_train_step(LINEAR.apply, losses.squared_error, optimizers.sgd(1e-9)).init(params),
        (x, y),
        key,
    )
    assert bool(ok_metrics.applied) and not _equal(ok_state.params, params)


def test_guard_rejects_a_nan_learning_rate(key):
    """Adam with a (traced, so unvalidated) NaN learning rate: finite loss and gradients, NaN update."""
    x, y = _problem(key)
    params = NET.init(key, 5)

    @jax.jit
    def one_step(lr):
        opt = optimizers.adam(lr)
        train_step = make_train_step(NET.apply, losses.softmax_cross_entropy, opt)
        return train_step.step(train_step.init(params), (x, y), key)

    new, metrics = one_step(jnp.float32(jnp.nan))
    assert bool(metrics.loss_finite) and bool(metrics.grads_finite) and not bool(metrics.applied)
    assert _equal(new.params, params)
    new, metrics = one_step(jnp.float32(1e-2))
    assert bool(metrics.applied) and _finite(new.params) and not _equal(new.params, params)


def test_fit_never_keeps_a_nonfinite_state(key):
    x, y = _regression(key)
    params = LINEAR.init(key, 5)
    lines = []
    r = fit(
        LINEAR.apply,
        params,
        losses.squared_error,
        optimizers.sgd(1e36),
        (x, y),
        key=key,
        epochs=3,
        batch_size=8,
        log=lines.append,
    )
    assert r.nonfinite is not None and r.nonfinite.step == 0 and r.steps_taken == 0
    assert "update" in r.nonfinite.cause
    assert _finite(r.params) and _finite(r.state) and _equal(r.params, params)
    assert "stopped at step 0" in lines[0]
    skipped = fit(
        LINEAR.apply,
        params,
        losses.squared_error,
        optimizers.sgd(1e36),
        (x, y),
        key=key,
        epochs=2,
        batch_size=8,
        skip_nonfinite=True,
        verbose=False,
    )
    assert skipped.nonfinite is None and skipped.steps_taken == 0 and _finite(skipped.state)
    np.testing.assert_array_equal(skipped.history["skipped_steps"], [4.0, 4.0])


def test_all_finite_is_exact():
    big = jnp.array([3e38, 3e38], jnp.float32)  # the sum would overflow; the values are finite
    assert bool(all_finite({"a": big, "n": jnp.array(3, jnp.int32)}))
    for bad in (jnp.inf, -jnp.inf, jnp.nan):
        assert not bool(all_finite((big, big.at[1].set(bad))))
    assert bool(all_finite(()))
    tiny = jnp.array([1e-45, -1e-45, 0.0, -0.0], jnp.float32)  # subnormals and signed zeros
    assert bool(all_finite(tiny)) and bool(jax.jit(all_finite)(tiny))
    assert not bool(jax.jit(all_finite)((tiny, big.at[0].set(jnp.inf))))


def test_the_exact_guard_needs_no_state_sized_scratch(key):
    """Deciding before writing reads the candidate without materialising it (nor a zero array
    of its shape): the full guard's scratch memory is the unchecked step's."""
    net = fnnet.serial(fnnet.Dense(256, activations.relu), fnnet.Dense(256))
    params = net.init(key, 256)
    x, y = jnp.ones((32, 256)), jnp.zeros((32, 256))
    scratch = {}
    for check in (True, False):
        ts = make_train_step(
            net.apply, losses.squared_error, optimizers.adam(1e-3), check_update=check
        )
        compiled = jax.jit(ts.step, donate_argnums=0).lower(ts.init(params), (x, y), key).compile()
        scratch[check] = compiled.memory_analysis().temp_size_in_bytes
    one_weight = 256 * 256 * 4
    assert scratch[True] < scratch[False] + one_weight // 8, scratch


# ------------------------------------------------------- fit checks everything up front


def _fit_small(rng, **kwargs):
    x, y = _problem(rng, n=32)
    args = {"key": rng, "epochs": 1, "batch_size": 8, "verbose": False}
    args.update(kwargs)
    data = args.pop("data", (x, y))
    return fit(
        NET.apply,
        NET.init(rng, 5),
        losses.softmax_cross_entropy,
        optimizers.sgd(0.1),
        data,
        **args,
    )


def test_fit_refuses_a_missing_or_readonly_checkpoint_dir_before_training(key, tmp_path):
    seen = []
    with pytest.raises(ValueError, match="`checkpoint_path`.*does not exist"):
        _fit_small(
            key,
            checkpoint_path=tmp_path / "missing" / "run.npz",
            log=seen.append,
            verbose=True,
        )
    assert seen == []  # no epoch ran
    readonly = tmp_path / "ro"
    readonly.mkdir()
    readonly.chmod(0o500)
    candidates = [str(readonly), "/sys"]

    def writable(d):
        try:
            with tempfile.TemporaryFile(dir=d):
                return True
        except OSError:
            return False

    blocked = [d for d in candidates if os.path.isdir(d) and not writable(d)]
    if not blocked:
        pytest.skip("no unwritable directory available (running as root without /sys)")
    with pytest.raises(ValueError, match="`checkpoint_path`.*not writable"):
        _fit_small(
            key,
            checkpoint_path=os.path.join(blocked[0], "run.npz"),
            log=seen.append,
            verbose=True,
        )
    assert seen == []


def test_fit_refuses_bad_data_before_training(key):
    x, y = _problem(key, n=32)
    with pytest.raises(ValueError, match=r"`validation` inputs.*\(5,\).*\(16, 4\)"):
        _fit_small(key, validation=(x[:16, :4], y[:16]))
    with pytest.raises(ValueError, match="`data` is empty"):
        _fit_small(key, data=(x[:0], y[:0]))
    with pytest.raises(TypeError, match=r"(?i)use jax.random.key\(0\)"):
        _fit_small(key, key=0)
    bad = x.at[13, 1].set(jnp.inf).at[20, 0].set(jnp.nan)
    with pytest.raises(
        ValueError,
        match=r"`data inputs` row 13 contains inf.*allow_nonfinite_data=True",
    ):
        _fit_small(key, data=(bad, y))
    with pytest.raises(ValueError, match=r"`validation inputs` row 20 contains nan"):
        _fit_small(key, validation=(x.at[20, 0].set(jnp.nan), y))
    soft = jax.nn.one_hot(y, 3).at[7, 2].set(jnp.nan)
    with pytest.raises(ValueError, match=r"`data targets` row 7 contains nan"):
        _fit_small(key, data=(x, soft))
    r = _fit_small(
        key, data=(bad, y), allow_nonfinite_data=True, skip_nonfinite=True
    )  # the opt-out
    assert r.history["skipped_steps"][0] >= 1 and _finite(r.params)
    net_params = NET.init(key, 5)
    broken = (net_params[0]._replace(w=net_params[0].w.at[2, 3].set(jnp.nan)), net_params[1])
    with pytest.raises(ValueError, match=r"`params`\[0\]\.w \(shape \(5, 8\)\) has 1 non-finite"):
        fit(NET.apply, broken, losses.softmax_cross_entropy, optimizers.sgd(0.1), (x, y),
            key=key, epochs=1, batch_size=8)  # fmt: skip
    with pytest.raises(TypeError, match="`allow_nonfinite_data` must be a bool"):
        _fit_small(key, allow_nonfinite_data="yes")


# ------------------------------------------------------- compile time apart from training time


def test_fit_times_compilation_apart_from_training(key):
    x, y = _problem(key, n=64)

    def slow_to_trace(out, target):  # tracing (compilation) takes >= 1 s; running does not
        time.sleep(1.0)
        return losses.softmax_cross_entropy(out, target)

    lines = []
    r = fit(
        NET.apply,
        NET.init(key, 5),
        slow_to_trace,
        optimizers.adam(1e-2),
        (x, y),
        key=key,
        epochs=4,
        batch_size=16,
        log=lines.append,
    )
    assert r.compile_seconds >= 1.0
    assert r.train_seconds == pytest.approx(float(np.sum(r.history["seconds"])))
    assert np.all(r.history["seconds"] < 0.9)  # not one epoch carries the compile time
    first = lines[0]
    assert f"compiled in {r.compile_seconds:.1f}s" in first
    left = float(re.search(r"~([0-9.]+)s left", first).group(1))
    # tolerance: the log prints the ETA to 0.1 s (half a unit: 0.05) from the epoch alone
    assert left == pytest.approx(3 * r.history["seconds"][0], abs=0.06)
    assert "compiled" not in lines[1]
    assert r.steps_taken == 4 * 4


# ------------------------------------------------------- early stopping: one pure update


def _early_stopping_reference(losses_seq, patience):
    """Host-side early stopping, written plainly: (best_epoch, epoch it stopped after or None)."""
    best, best_epoch, wait = float("inf"), -1, 0
    for epoch, value in enumerate(losses_seq):
        if value < best:
            best, best_epoch, wait = value, epoch, 0
        else:
            wait += 1
        if wait >= patience:
            return best_epoch, epoch
    return best_epoch, None


def test_early_stopping_update_matches_a_plain_loop():
    rng = np.random.default_rng(0)
    sequences = rng.uniform(0, 1, (32, 12)).astype(np.float32)
    sequences[3, 4] = np.nan  # a NaN validation loss never improves
    for patience in (1, 2, 4):

        def run(seq, patience=patience):
            params = {"w": jnp.zeros(2)}
            state = _epoch.early_stopping(params, patience)
            stopped_at = jnp.array(-1)
            for epoch in range(seq.shape[0]):
                active = ~state.stopped
                new = {"w": jnp.full(2, seq[epoch])}
                state = _epoch.update_early_stopping(state, seq[epoch], new, epoch, active=active)
                stopped_at = jnp.where(active & state.stopped, epoch, stopped_at)
            return state, stopped_at

        states, stopped_at = jax.jit(jax.vmap(run))(jnp.asarray(sequences))
        for i, seq in enumerate(sequences):
            best_epoch, stop = _early_stopping_reference(seq.tolist(), patience)
            assert int(states.best_epoch[i]) == best_epoch
            assert int(stopped_at[i]) == (-1 if stop is None else stop)
            np.testing.assert_array_equal(states.best_params["w"][i], np.full(2, seq[best_epoch]))


# ------------------------------------------------------- the exact guard (issue 21)


def test_guard_rejects_issue_21s_overflow_from_replaced_params(key):
    """Issue 21's reproduction: one float32 step from 3.39e38 overflows and must be rejected."""

    def apply(p, x, *, key=None, training=False):
        return p["w"][:1] * jnp.ones_like(x)

    def loss(out, y):
        return -jnp.mean(out)

    ts = make_train_step(apply, loss, optimizers.sgd(2e36))
    state = ts.init({"w": jnp.ones((1024,), jnp.float32)})
    big = {"w": jnp.full((1024,), 3.39e38, jnp.float32)}
    new, m = jax.jit(ts.step)(state._replace(params=big), (jnp.ones(1), jnp.ones(1)), key)
    assert bool(m.loss_finite) and bool(m.grads_finite)
    assert not bool(m.update_finite) and not bool(m.applied)
    assert _equal(new.params, big) and _finite(new.params) and int(new.step) == 1
    # A step that stays in range is applied: w[0] grows by 2e36 · 1.
    small = {"w": jnp.full((1024,), 1e38, jnp.float32)}
    new, m = jax.jit(ts.step)(state._replace(params=small), (jnp.ones(1), jnp.ones(1)), key)
    assert bool(m.applied) and float(new.params["w"][0]) == float(jnp.float32(1e38) + 2e36)


def _mlp_setup(key, sizes=(64, 128, 128, 10), batch=128, steps=200):
    layers = [fnnet.Dense(n, activations.relu) for n in sizes[1:-1]] + [fnnet.Dense(sizes[-1])]
    net = fnnet.serial(*layers)
    params = net.init(key, sizes[0])
    kx, ky = jax.random.split(jax.random.fold_in(key, 1))
    xs = jax.random.normal(kx, (steps, batch, sizes[0]))
    ys = jax.random.randint(ky, (steps, batch), 0, sizes[-1])
    return net, params, xs, ys


def test_vmapped_member_equals_its_solo_run(key):
    """Issue 21: the small MLP trained by make_train_step under vmap over two learning rates
    ends where each member trained alone ends, to rounding (<= 1e-6 after 200 Adam steps)."""
    net, params, xs, ys = _mlp_setup(key)

    def run(lr):
        ts = make_train_step(net.apply, losses.softmax_cross_entropy, optimizers.adam(lr))

        def body(state, batch):
            state, m = ts.step(state, batch, key)
            return state, m.applied

        state, applied = jax.lax.scan(body, ts.init(params), (xs, ys))
        return state.params, applied

    lrs = jnp.array([1e-3, 3e-3], jnp.float32)
    together, applied = jax.jit(jax.vmap(run))(lrs)
    assert bool(jnp.all(applied))
    for i in range(2):
        alone, _ = jax.jit(run)(lrs[i])
        member = jax.tree_util.tree_map(lambda a, i=i: a[i], together)
        gap = max(
            float(jnp.max(jnp.abs(a - b)))
            for a, b in zip(jax.tree_util.tree_leaves(member), jax.tree_util.tree_leaves(alone))
        )
        assert gap <= 1e-6, gap  # the issue's criterion (raw JAX: ~1e-7)
        assert not _equal(member, params)


# ------------------------------------------------------- carried model state (has_state)


def _centred_linear(params, x, *, key=None, training=False, state):
    """A linear model on inputs centred by a running mean of the batches (the model state)."""
    mean = 0.9 * state["mean"] + 0.1 * jnp.mean(x, axis=0)
    out = (x - jax.lax.stop_gradient(mean)) @ params["w"] + params["b"]
    return out, {"mean": mean, "seen": state["seen"] + x.shape[0]}


def test_model_state_follows_a_numpy_running_mean(key):
    kx, ky, kw = jax.random.split(key, 3)
    xs = 3.0 + jax.random.normal(kx, (6, 16, 4))
    ys = jax.random.normal(ky, (6, 16, 2))
    params = {"w": 0.1 * jax.random.normal(kw, (4, 2)), "b": jnp.zeros(2)}
    model_state = {"mean": jnp.zeros(4), "seen": jnp.zeros((), jnp.int32)}
    ts = make_train_step(
        _centred_linear, losses.squared_error, optimizers.sgd(0.05), has_state=True
    )
    state = ts.init(params, model_state)
    step = jax.jit(ts.step)
    w, b = np.asarray(params["w"], np.float64), np.zeros(2)
    mean = np.zeros(4)
    for i in range(6):
        state, m = step(state, (xs[i], ys[i]), key)
        x, y = np.asarray(xs[i], np.float64), np.asarray(ys[i], np.float64)
        mean = 0.9 * mean + 0.1 * x.mean(0)
        delta = ((x - mean) @ w + b - y) / len(x)  # squared error's output δ
        w, b = w - 0.05 * (x - mean).T @ delta, b - 0.05 * delta.sum(0)
        assert bool(m.applied)
    assert_close(state.model_state["mean"], mean.astype(np.float32))
    assert int(state.model_state["seen"]) == 6 * 16
    assert_close(state.params, {"w": w.astype(np.float32), "b": b.astype(np.float32)})


def test_a_nonfinite_model_state_rejects_the_whole_step(key):
    def apply(params, x, *, key=None, training=False, state):
        out, new = _centred_linear(params, x, state=state)
        return out, {**new, "mean": new["mean"] * jnp.where(x[0, 0] > 100, jnp.inf, 1.0)}

    params = {"w": jnp.ones((4, 2)), "b": jnp.zeros(2)}
    model_state = {"mean": jnp.zeros(4), "seen": jnp.zeros((), jnp.int32)}
    ts = make_train_step(apply, losses.squared_error, optimizers.adam(0.1), has_state=True)
    state = ts.init(params, model_state)
    x, y = jnp.ones((8, 4)), jnp.zeros((8, 2))
    good, m = jax.jit(ts.step)(state, (x, y), key)
    assert bool(m.applied) and int(good.model_state["seen"]) == 8
    bad, m = jax.jit(ts.step)(good, (x.at[0, 0].set(1e3), y), key)
    assert bool(m.loss_finite) and bool(m.grads_finite) and not bool(m.update_finite)
    assert not bool(m.applied) and int(bad.step) == 2
    assert _equal(
        (bad.params, bad.opt_state, bad.model_state),
        (good.params, good.opt_state, good.model_state),
    )
    # The model state is the forward's output: even an unchecked step (fit's per-step mode,
    # which leaves the new params and optimizer state to a later check) reads it.
    unchecked = make_train_step(
        apply, losses.squared_error, optimizers.adam(0.1), has_state=True, check_update=False
    )
    kept, m = jax.jit(unchecked.step)(good, (x.at[0, 0].set(1e3), y), key)
    assert not bool(m.update_finite) and not bool(m.applied)
    assert _equal(kept.model_state, good.model_state)


def test_has_state_arguments_are_checked(key):
    params = {"w": jnp.ones((4, 2)), "b": jnp.zeros(2)}
    model_state = {"mean": jnp.zeros(4), "seen": jnp.zeros((), jnp.int32)}
    with_state = make_train_step(
        _centred_linear, losses.squared_error, optimizers.sgd(0.1), has_state=True
    )
    with pytest.raises(ValueError, match="`model_state` is required.*has_state=True"):
        with_state.init(params)
    plain = make_train_step(LINEAR.apply, losses.squared_error, optimizers.sgd(0.1))
    with pytest.raises(ValueError, match="`model_state` was given.*has_state=False"):
        plain.init(params, model_state)
    assert plain.init(params).model_state is None
    with pytest.raises(TypeError, match="`has_state` must be a bool"):
        make_train_step(LINEAR.apply, losses.squared_error, optimizers.sgd(0.1), has_state=1)

    def drops_the_count(p, x, *, key=None, training=False, state):
        out, new = _centred_linear(p, x, state=state)
        return out, {"mean": new["mean"]}

    ts = make_train_step(drops_the_count, losses.squared_error, optimizers.sgd(0.1), has_state=True)
    with pytest.raises(TypeError, match="new_state must have the structure"):
        ts.step(ts.init(params, model_state), (jnp.ones((8, 4)), jnp.zeros((8, 2))), key)


def test_a_fit_checkpoint_written_before_model_state_resumes(key, tmp_path):
    """A checkpoint written by fit before TrainState had model_state (its 4th field was the
    guard's cache, None in fit) loads and resumes; it ends where an uninterrupted run ends."""
    import shutil

    x, y = _problem(key)
    params = NET.init(key, 5)
    path = tmp_path / "run.npz"
    shutil.copy(
        os.path.join(os.path.dirname(__file__), "data", "fit_run_before_model_state.npz"), path
    )
    args = (NET.apply, params, losses.softmax_cross_entropy, optimizers.adam(1e-2), (x, y))
    kwargs = {"key": key, "epochs": 4, "batch_size": 16, "validation": (x, y)}
    lines = []
    resumed = fit(*args, **kwargs, checkpoint_path=path, resume=True, log=lines.append)
    assert lines[0].startswith("resumed from") and lines[1].startswith("epoch 3/4")
    assert resumed.state.model_state is None and int(resumed.state.step) == 4 * 4
    full = fit(*args, **kwargs, verbose=False)
    assert_close(resumed.params, full.params)
    assert_close(resumed.history["val_loss"], full.history["val_loss"])


# ------------------------------------------------------- k steps per call: TrainStep.steps

DROPNET = fnnet.serial(fnnet.Dense(8, activations.tanh), Dropout(0.3), fnnet.Dense(3))


def _loop(train_step, state, batches, key):
    """The reference: k calls of the jitted exact step, the key schedule written out."""
    step, metrics = jax.jit(train_step.step), []
    for i in range(jax.tree_util.tree_leaves(batches)[0].shape[0]):
        batch = jax.tree_util.tree_map(lambda a, i=i: a[i], batches)
        state, m = step(state, batch, jax.random.fold_in(key, state.step))
        metrics.append(m)
    return state, jax.tree_util.tree_map(lambda *ms: jnp.stack(ms), *metrics)


@pytest.mark.parametrize("case", ["clean", "nan_batch", "overflow"])
def test_steps_equal_k_exact_steps_bit_for_bit(key, case):
    k, batch = 6, 8
    if case == "overflow":
        net, loss, opt = LINEAR, losses.squared_error, optimizers.sgd(1e36)
        x, y = _regression(key, n=k * batch)
    else:
        net, loss, opt = DROPNET, losses.softmax_cross_entropy, optimizers.adam(1e-2)
        x, y = _problem(key, n=k * batch)
    if case == "nan_batch":
        x = x.at[3 * batch + 2, 1].set(jnp.nan)  # batch 3 of 6
    batches = (x.reshape(k, batch, -1), y.reshape((k, batch) + y.shape[1:]))
    train_step = make_train_step(net.apply, loss, opt)
    start = train_step.init(net.init(key, 5))
    start = jax.jit(train_step.step)(start, (x[:batch], y[:batch]), key)[0]  # step 1, not 0
    got, got_metrics = jax.jit(train_step.steps)(start, batches, key)
    want, want_metrics = _loop(train_step, start, batches, key)
    same = [
        np.array_equal(u, v, equal_nan=np.issubdtype(np.asarray(u).dtype, np.inexact))
        for u, v in zip(
            jax.tree_util.tree_leaves(got_metrics), jax.tree_util.tree_leaves(want_metrics)
        )
    ]
    assert _equal(got, want) and all(same)  # the NaN batch's loss is NaN in both
    applied = np.asarray(got_metrics.applied)
    assert int(got.step) == 1 + k and _finite(got)
    expected = {"clean": [True] * k, "nan_batch": [True] * 3 + [False] + [True] * 2}
    np.testing.assert_array_equal(applied, expected.get(case, [False] * k))
    # Without the full guard (fit's per-step mode) steps is the plain scan: the overflow goes in.
    if case == "overflow":
        unchecked = make_train_step(net.apply, loss, opt, check_update=False)
        bad, _ = jax.jit(unchecked.steps)(start, batches, key)
        assert not _finite(bad.params)
