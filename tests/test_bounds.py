"""Certified bounds (``fnnet/training/_bounds.py``) and the train step's guard built on them.

The interval rules are checked against the real operation on values drawn inside the intervals
(endpoints included), and certification against the real result: a certified output is never
NaN or inf. The train step that certifies is compared bit for bit with the step that reads the
candidate state (the exact check), on ordinary, overflowing and NaN steps.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fnnet
from fnnet import losses, optimizers
from fnnet.training import TrainState, make_train_step
from fnnet.training._bounds import exact_bounds, propagate, share_by_role, unpack
from fnnet.training._intervals import Interval, symmetric_interval

UNARY = {
    "neg": lambda x: -x,
    "abs": jnp.abs,
    "square": jnp.square,
    "x*x": lambda x: x * x,
    "cube": lambda x: x**3,
    "inverse square": lambda x: x**-2,
    "sqrt": jnp.sqrt,
    "rsqrt": jax.lax.rsqrt,
    "exp": jnp.exp,
    "expm1": jnp.expm1,
    "log": jnp.log,
    "log1p": jnp.log1p,
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "sign": jnp.sign,
    "floor": jnp.floor,
    "sin": jnp.sin,
    "cos": jnp.cos,
    "sum": lambda x: jnp.sum(x, axis=0),
    "pow 0.5": lambda x: x**0.5,
    "clip": lambda x: jnp.clip(x, -1.0, 2.0),
    "cast bfloat16": lambda x: x.astype(jnp.bfloat16),
    "reshape+transpose": lambda x: x.reshape(-1, 1).T,
    "pad": lambda x: jnp.pad(x, ((1, 0), (0, 0)), constant_values=7.0),
}
BINARY = {
    "add": jnp.add,
    "sub": jnp.subtract,
    "mul": jnp.multiply,
    "div": jnp.divide,
    "max": jnp.maximum,
    "min": jnp.minimum,
    "where": lambda x, y: jnp.where(x > 0, x, y),
    "dot": lambda x, y: x @ y.T,
    "concatenate": lambda x, y: jnp.concatenate([x, y]),
    "scaled": lambda x, y: 0.5 * x + (1.0 - 0.5) * y * y,  # an exponential moving average
}


def _draw(data, dtype):
    """An interval (small, huge, touching zero) and 8 values inside it, endpoints included."""
    big = 1e38 if dtype == jnp.float32 else 1e300
    bound = st.one_of(st.floats(-10, 10), st.floats(-big, big), st.sampled_from([0.0, -0.0, 1e-30]))
    np_dtype = np.dtype(jnp.dtype(dtype).name)
    a, b = sorted(np.array([data.draw(bound), data.draw(bound)], np_dtype))
    rng = np.random.default_rng(data.draw(st.integers(0, 99)))
    t = rng.uniform(0.0, 1.0, 6)
    inside = np.clip((float(a) + t * (float(b) - float(a))).astype(np_dtype), a, b)
    values = np.concatenate([[a, b], inside]).astype(np_dtype).reshape(4, 2)
    return Interval(jnp.asarray(a, dtype), jnp.asarray(b, dtype)), jnp.asarray(values, dtype)


def _check(fn, intervals, values):
    out, certified = jax.jit(lambda *v: propagate(fn, intervals, *v))(*values)
    real = fn(*values)
    if bool(certified):
        assert bool(jnp.all(jnp.isfinite(real))), "certified a non-finite result"
        lo, hi = np.asarray(out.lo, np.float64), np.asarray(out.hi, np.float64)
        r = np.asarray(real, np.float64)
        assert np.all((r >= lo) & (r <= hi)), (r, lo, hi)
    return bool(certified)


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_unary_rules_hold_and_never_certify_a_nonfinite_result(name, dtype, data):
    with jax.enable_x64(dtype == jnp.float64):
        interval, x = _draw(data, dtype)
        _check(UNARY[name], (interval,), (x,))


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_binary_rules_hold_and_never_certify_a_nonfinite_result(name, dtype, data):
    with jax.enable_x64(dtype == jnp.float64):
        (ia, a), (ib, b) = _draw(data, dtype), _draw(data, dtype)
        _check(BINARY[name], (ia, ib), (a, b))


def test_certifies_the_ordinary_cases_and_refuses_the_edges():
    x = jnp.linspace(0.5, 2.0, 8)
    inside = (Interval(jnp.float32(0.5), jnp.float32(2.0)),)
    assert _check(lambda v: jnp.sqrt(v) / (v + 1e-8), inside, (x,))
    touching_zero = (Interval(jnp.float32(0.0), jnp.float32(2.0)),)
    assert not _check(lambda v: 1.0 / v, touching_zero, (x,))  # divisor may be 0
    assert not _check(jnp.log, touching_zero, (x,))
    below = (Interval(jnp.float32(-1.0), jnp.float32(2.0)),)
    assert not _check(jnp.sqrt, below, (x,))
    huge = (Interval(jnp.float32(-1e37), jnp.float32(1e37)),)
    assert not _check(lambda v: v * 100.0, huge, (x,))  # would overflow float32
    assert not _check(lambda v: jnp.sort(v), inside, (x,))  # no rule: never certified
    nan_scalar = jnp.float32(jnp.nan)  # a 0-d input is used exactly: a NaN hyperparameter
    assert not jax.jit(lambda v, s: propagate(lambda v, s: v * s, (inside[0], None), v, s)[1])(
        x, nan_scalar
    )


OPTIMIZERS = {
    "sgd": optimizers.sgd(0.1),
    "momentum": optimizers.sgd(0.1, 0.9),
    "nesterov": optimizers.sgd(0.1, 0.9, nesterov=True),
    "adagrad": optimizers.adagrad(0.1),
    "rmsprop": optimizers.rmsprop(1e-3),
    "rmsprop centered momentum": optimizers.rmsprop(1e-3, momentum=0.9, centered=True),
    "adam": optimizers.adam(1e-3),
    "nadam": optimizers.nadam(1e-3),
    "amsgrad": optimizers.amsgrad(1e-3),
    "adamw": optimizers.adamw(1e-3, weight_decay=1e-2),
    "clipped adam, cosine schedule": optimizers.chain(
        optimizers.clip_by_global_norm(1.0),
        optimizers.adam(fnnet.schedules.cosine_decay(1e-2, decay_steps=10)),
    ),
    "clip by value, l1": optimizers.chain(
        optimizers.clip_by_value(0.5), optimizers.add_l1_decay(1e-3), optimizers.sgd(0.1)
    ),
}
NET = fnnet.serial(fnnet.Dense(200, fnnet.activations.tanh), fnnet.Dense(3))  # 1,603 params


def _data(key, n=32):
    x = jax.random.normal(key, (n, 4))
    return x, jnp.argmax(x[:, :3], axis=-1).astype(jnp.int32)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_optimizer_is_certified_and_bounded_over_training(name, key):
    """The fast path must actually be taken by the library's optimizers (or the guard is slow),
    and the carried intervals must contain the real state after every step."""
    opt = OPTIMIZERS[name]
    x, y = _data(key)
    train_step = make_train_step(NET.apply, losses.softmax_cross_entropy, opt)
    state = train_step.init(NET.init(key, 4))

    @jax.jit
    def step(state):
        grads = jax.grad(lambda p: losses.softmax_cross_entropy(NET.apply(p, x), y))(state.params)
        like = (state.params, state.opt_state)
        pb, ob = unpack(state.bounds, like)
        gb = jax.tree_util.tree_map(symmetric_interval, grads)
        args = (grads, state.opt_state, state.params)
        shared = share_by_role((gb, ob, pb), args, jax.tree_util.tree_structure(state.params))
        _, certified = propagate(lambda g, s, p: _update(opt, g, s, p), shared, *args)
        new, metrics = train_step.step(state, (x, y), key)
        return new, metrics, certified

    for _ in range(12):
        state, metrics, certified = step(state)
        assert bool(certified) and bool(metrics.applied)
        real = np.asarray(exact_bounds((state.params, state.opt_state)))
        carried = np.asarray(state.bounds)
        assert np.all(carried[:, 0] <= real[:, 0]) and np.all(real[:, 1] <= carried[:, 1])


def _update(opt, grads, opt_state, params):
    updates, opt_state = opt.update(grads, opt_state, params)
    return optimizers.apply_updates(params, updates), opt_state


def _same(a, b):
    return all(
        np.array_equal(np.asarray(u), np.asarray(v), equal_nan=True)
        for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True)
    )


@pytest.mark.parametrize("overflow", [False, True])
def test_certified_step_equals_the_exact_check_bit_for_bit(key, overflow):
    """Ordinary steps with NaN rows in two batches; or squared-error gradients of order 1e6 with
    a learning rate of 1e36, so the first update overflows (rejected: the exact check decides)."""
    if overflow:
        net, loss, lr, d = fnnet.Dense(3), losses.squared_error, 1e36, 400
        x = 1e3 * jax.random.normal(key, (40, d))
        y = jax.random.normal(jax.random.fold_in(key, 1), (40, 3))
    else:
        net, loss, lr, d = NET, losses.softmax_cross_entropy, 1e-2, 4
        x, y = _data(key, 40)
        x = x.at[5, 0].set(jnp.nan)
    train_step = make_train_step(net.apply, loss, optimizers.sgd(lr, 0.9))
    certified = train_step.init(net.init(key, d))
    assert certified.bounds is not None
    exact = certified._replace(bounds=None)  # no intervals: the guard reads the candidate
    step = jax.jit(train_step.step)
    applied = []
    for i in range(6):
        batch = (x[i * 5 : i * 5 + 8], y[i * 5 : i * 5 + 8])
        certified, m1 = step(certified, batch, key)
        exact, m2 = step(exact, batch, key)
        assert _same(certified.params, exact.params) and _same(m1, m2)
        assert _same(certified.opt_state, exact.opt_state)
        applied.append(bool(m1.applied))
    assert exact.bounds is None
    assert applied == ([False] * 6 if overflow else [False, False, True, True, True, True])


def test_bounds_refresh_after_an_unchecked_step_and_never_keep_an_overflow(key):
    x, y = _data(key)
    params = NET.init(key, 4)
    opt = optimizers.sgd(1e-2)
    guarded = make_train_step(NET.apply, losses.softmax_cross_entropy, opt)
    unchecked = make_train_step(NET.apply, losses.softmax_cross_entropy, opt, check_update=False)
    state = guarded.init(params)
    state, _ = jax.jit(unchecked.step)(state, (x, y), key)  # bounds are now unknown
    assert np.all(np.isinf(np.asarray(state.bounds)))
    state, metrics = jax.jit(guarded.step)(state, (x, y), key)  # exact check, fresh bounds
    assert bool(metrics.applied)
    np.testing.assert_array_equal(
        np.asarray(state.bounds), np.asarray(exact_bounds((state.params, state.opt_state)))
    )


def test_half_precision_params_fall_back_to_the_exact_check(key):
    """float16 tops out at 65504: the intervals of a large update are not certified, the exact
    check decides, and an overflowing update is still rejected."""
    x, y = _data(key)
    params = jax.tree_util.tree_map(lambda p: p.astype(jnp.float16), NET.init(key, 4))
    apply = lambda p, v, **kw: NET.apply(p, v.astype(jnp.float16), **kw).astype(jnp.float32)  # noqa: E731
    for lr, applied in [(1e-2, True), (1e5, False)]:
        train_step = make_train_step(apply, losses.softmax_cross_entropy, optimizers.sgd(lr))
        state, metrics = jax.jit(train_step.step)(train_step.init(params), (x, y), key)
        assert bool(metrics.applied) == applied
        assert all(bool(jnp.all(jnp.isfinite(p))) for p in jax.tree_util.tree_leaves(state.params))


def test_a_hand_built_state_without_bounds_still_trains_under_scan(key):
    x, y = _data(key)
    params = NET.init(key, 4)
    opt = optimizers.adam(1e-2)
    train_step = make_train_step(NET.apply, losses.softmax_cross_entropy, opt)
    state = TrainState(params, opt.init(params), jnp.zeros((), jnp.int32))
    final, metrics = jax.jit(
        lambda s: jax.lax.scan(lambda s, _: train_step.step(s, (x, y), key), s, None, length=5)
    )(state)
    assert final.bounds is None and bool(jnp.all(metrics.applied))
    bounded, _ = jax.jit(
        lambda s: jax.lax.scan(lambda s, _: train_step.step(s, (x, y), key), s, None, length=5)
    )(train_step.init(params))
    assert _same(bounded.params, final.params)


def test_tiny_models_read_the_candidate_instead(key):
    """Under 1,024 parameters the interval program costs more than reading the new state."""
    tiny = fnnet.serial(fnnet.Dense(2, fnnet.activations.sigmoid), fnnet.Dense(2))
    train_step = make_train_step(tiny.apply, losses.squared_error, optimizers.sgd(1e36))
    state = train_step.init(tiny.init(key, 2))
    assert state.bounds is None
    x = 1e3 * jnp.ones((1, 2))
    new, metrics = jax.jit(train_step.step)(state, (x, 1e3 * jnp.ones((1, 2))), key)
    assert not bool(metrics.applied) and _same(new.params, state.params)


def test_roles_share_intervals_only_within_a_params_shaped_subtree():
    params = {"w": jnp.ones((2, 3)), "b": jnp.zeros(3)}
    state = (params, {"count": jnp.zeros((), jnp.int32)}, jnp.ones(4))
    bounds = jax.tree_util.tree_map(
        lambda v: Interval(jnp.min(v) - 1, jnp.max(v)) if v.ndim else None, state
    )
    shared = share_by_role(bounds, state, jax.tree_util.tree_structure(params))
    assert float(shared[0]["w"].lo) == float(shared[0]["b"].lo) == -1.0  # hull of the role
    assert float(shared[0]["w"].hi) == float(shared[0]["b"].hi) == 1.0
    assert float(shared[2].lo) == 0.0 and shared[1]["count"] is None  # own interval, exact 0-d


def test_the_guard_needs_no_state_sized_temporary(key):
    """Proving instead of reading must not cost memory: the compiled guarded step's scratch is
    the unguarded step's, not that plus a copy of the candidate state (as a materialised exact
    branch would need, and as once cost every call ~6 ms on a 5.8 M-parameter MLP)."""
    net = fnnet.serial(fnnet.Dense(512, fnnet.activations.relu), fnnet.Dense(10))
    params = net.init(key, 256)
    x, y = jnp.ones((2, 64, 256)), jnp.zeros((2, 64), jnp.int32)
    state_bytes = 3 * sum(p.size * 4 for p in jax.tree_util.tree_leaves(params))

    def scratch(check_update):
        ts = make_train_step(
            net.apply,
            losses.softmax_cross_entropy,
            optimizers.adam(1e-3),
            check_update=check_update,
        )
        many = lambda s, xs, ys: jax.lax.scan(lambda s, b: ts.step(s, b, key), s, (xs, ys))  # noqa: E731
        compiled = jax.jit(many, donate_argnums=0).lower(ts.init(params), x, y).compile()
        return compiled.memory_analysis().temp_size_in_bytes

    guarded, unchecked = scratch(True), scratch(False)
    assert guarded <= unchecked + 0.1 * state_bytes, (guarded, unchecked, state_bytes)


_SCALE_OPTIMIZERS = {
    "sgd": optimizers.sgd,
    "momentum": lambda lr: optimizers.sgd(lr, 0.9),
    "adam": optimizers.adam,
    "rmsprop": optimizers.rmsprop,
    "adagrad": optimizers.adagrad,
}


@functools.cache
def _both_guards(name):
    """Three steps of the certified and of the exact guard, learning rate and data traced."""

    @jax.jit
    def run(lr, x, y, key):
        train_step = make_train_step(
            NET.apply, losses.softmax_cross_entropy, _SCALE_OPTIMIZERS[name](lr)
        )
        certified = train_step.init(NET.init(key, 4))
        exact = certified._replace(bounds=None)
        applied = []
        for i in range(3):
            batch = (x[i * 8 : i * 8 + 16], y[i * 8 : i * 8 + 16])
            certified, m1 = train_step.step(certified, batch, key)
            exact, m2 = train_step.step(exact, batch, key)
            applied.append((m1.applied, m2.applied))
        return certified, exact, applied

    return run


@pytest.mark.parametrize("name", sorted(_SCALE_OPTIMIZERS))
@settings(max_examples=20, deadline=None)
@given(log_lr=st.floats(-4, 38), log_scale=st.floats(-3, 30))
def test_certified_and_exact_guards_agree_at_every_scale(name, log_lr, log_scale):
    """Learning rates up to 1e38 and inputs up to 1e30: whatever is proved or read, the two
    guards keep the same steps, bit for bit, and never keep a non-finite state."""
    key = jax.random.key(0)
    x, y = _data(key, 40)
    x = x * jnp.float32(10.0**log_scale)
    certified, exact, applied = _both_guards(name)(jnp.float32(10.0**log_lr), x, y, key)
    assert _same(certified.params, exact.params) and _same(certified.opt_state, exact.opt_state)
    assert [bool(a) for a, _ in applied] == [bool(b) for _, b in applied]
    for leaf in jax.tree_util.tree_leaves((certified.params, certified.opt_state)):
        assert bool(jnp.all(jnp.isfinite(leaf)))
    assert np.all(np.isfinite(np.asarray(certified.bounds)))
    real = np.asarray(exact_bounds((certified.params, certified.opt_state)))
    carried = np.asarray(certified.bounds)
    assert np.all(carried[:, 0] <= real[:, 0]) and np.all(real[:, 1] <= carried[:, 1])


def test_an_optimizer_without_interval_rules_is_guarded_exactly(key):
    """A custom transform using a primitive with no interval rule (a sort) cannot be proved;
    the step reads its candidate instead: same results, overflow still rejected."""

    def sorted_sgd(lr):
        def update(grads, state, params=None):
            step = lambda g: -lr * (g + 0.0 * jnp.sort(g.ravel()).reshape(g.shape))  # noqa: E731
            return jax.tree_util.tree_map(step, grads), state

        return optimizers.Optimizer(lambda params: (), update)

    x, y = _data(key)
    for lr, applied in [(1e-2, True), (1e38, False)]:
        custom = make_train_step(NET.apply, losses.softmax_cross_entropy, sorted_sgd(lr))
        plain = make_train_step(NET.apply, losses.softmax_cross_entropy, optimizers.sgd(lr))
        params = NET.init(key, 4)
        got, m = jax.jit(custom.step)(custom.init(params), (1e4 * x, y), key)
        want, _ = jax.jit(plain.step)(plain.init(params), (1e4 * x, y), key)
        assert bool(m.applied) == applied and _same(got.params, want.params)
        assert np.all(np.isinf(np.asarray(got.bounds)))  # stale bounds are never kept


def test_bounds_of_another_state_are_refused(key):
    train_step = make_train_step(NET.apply, losses.softmax_cross_entropy, optimizers.adam(1e-3))
    state = train_step.init(NET.init(key, 4))
    rows = 3 * len(jax.tree_util.tree_leaves(state.params))  # params, Adam's two moments
    wrong = state._replace(bounds=state.bounds[:-1])
    with pytest.raises(ValueError, match=rf"`state.bounds` must have shape \({rows}, 2\)"):
        train_step.step(wrong, _data(key), key)
