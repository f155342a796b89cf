"""Transforms and sweeps: vmap over hyperparameters equals separate runs with one compile,
hyperparameters in the state, clipping, decoupled decays, schedules inside optimizers."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnnet
from fnnet import optimizers as opt
from fnnet import schedules
from fnnet.gradcheck import assert_close

TARGET = {"w": jnp.array([[1.0, -1.0], [0.5, 2.0]]), "b": jnp.array([0.3, -0.7])}


def _loss(params):
    return sum(jnp.sum((params[k] - TARGET[k]) ** 2) for k in params) + 0.1 * jnp.sum(
        params["w"] ** 4
    )


def _train(optimizer, params, steps=25):
    def step(carry, _):
        params, state = carry
        updates, state = optimizer.update(jax.grad(_loss)(params), state, params)
        return (opt.apply_updates(params, updates), state), None

    (params, _), _ = jax.lax.scan(step, (params, optimizer.init(params)), None, length=steps)
    return params


INIT = {"w": jnp.zeros((2, 2)), "b": jnp.zeros(2)}
LR_FACTORIES = {
    "sgd": lambda lr: opt.sgd(lr),
    "momentum": lambda lr: opt.sgd(lr, 0.9, nesterov=True),
    "rmsprop": lambda lr: opt.rmsprop(lr, centered=True, momentum=0.5),
    "adam": lambda lr: opt.adam(lr),
    "adamw": lambda lr: opt.adamw(lr, weight_decay=0.1),
    "warmup_cosine": lambda lr: opt.adam(
        schedules.warmup_cosine_decay(0.0, peak_value=lr, warmup_steps=5, decay_steps=25)
    ),
}


@pytest.mark.parametrize("name", list(LR_FACTORIES))
def test_vmap_over_learning_rates_equals_separate_runs_one_compile(name):
    make = LR_FACTORIES[name]
    traces = []

    def train(lr):
        traces.append(None)
        return _train(make(lr), INIT)

    lrs = jnp.asarray([0.003, 0.01, 0.03, 0.1], jnp.float32)
    sweep = jax.jit(jax.vmap(train))
    swept = sweep(lrs)
    swept_again = sweep(lrs * 0.5)  # new values, same shapes: no retrace
    assert len(traces) == 1
    single = jax.jit(train)
    for i, lr in enumerate(lrs):
        assert_close(jax.tree_util.tree_map(lambda x: x[i], swept), single(lr))
        assert_close(jax.tree_util.tree_map(lambda x: x[i], swept_again), single(lr * 0.5))
    assert len(traces) == 2  # `single` traced once for all eight values


def test_vmap_over_betas_decay_penalty_and_initial_params(key):
    def train(params, b1, weight_decay, l1_strength):
        def loss(p):
            return _loss(p) + fnnet.regularizers.l1_penalty(p, l1_strength)

        optimizer = opt.adamw(0.05, b1=b1, weight_decay=weight_decay)

        def step(_, carry):
            params, state = carry
            updates, state = optimizer.update(jax.grad(loss)(params), state, params)
            return opt.apply_updates(params, updates), state

        return jax.lax.fori_loop(0, 5, step, (params, optimizer.init(params)))[0]

    k_w, k_b = jax.random.split(key)  # three initial params (as from three seeds), stacked
    stacked = {"w": jax.random.normal(k_w, (3, 2, 2)), "b": jax.random.normal(k_b, (3, 2))}
    b1s = jnp.asarray([0.5, 0.9, 0.99], jnp.float32)
    wds = jnp.asarray([0.0, 0.1, 1.0], jnp.float32)
    l1s = jnp.asarray([0.3, 0.0, 0.1], jnp.float32)
    swept = jax.jit(jax.vmap(train))(stacked, b1s, wds, l1s)
    single = jax.jit(train)
    for i in range(3):
        member = jax.tree_util.tree_map(lambda x: x[i], stacked)
        want = single(member, b1s[i], wds[i], l1s[i])
        assert_close(jax.tree_util.tree_map(lambda x: x[i], swept), want)


def test_state_hyperparams_change_without_recompiling():
    optimizer = opt.adam(0.1)
    traces = []

    @jax.jit
    def step(params, state, grads):
        traces.append(None)
        updates, state = optimizer.update(grads, state, params)
        return opt.apply_updates(params, updates), state

    grads = jax.grad(_loss)(INIT)
    state = optimizer.init(INIT)
    step(INIT, state, grads)
    for lr, b1 in ((0.01, 0.5), (0.3, 0.8)):
        changed = opt.set_hyperparams(state, learning_rate=lr, b1=b1)
        got, _ = step(INIT, changed, grads)
        reference = opt.adam(lr, b1=b1)
        want, _ = jax.jit(reference.update)(grads, reference.init(INIT), INIT)
        assert_close(got, opt.apply_updates(INIT, want))
    assert len(traces) == 1


def test_set_hyperparams_inside_vmap_of_a_state_built_outside():
    optimizer = opt.sgd(1.0, 0.9)  # optax#932: build once, set the value per sweep member
    state = optimizer.init(INIT)

    def train(lr):
        s = opt.set_hyperparams(state, learning_rate=lr)
        updates, _ = optimizer.update(jax.grad(_loss)(INIT), s, INIT)
        return opt.apply_updates(INIT, updates)

    lrs = jnp.asarray([0.01, 0.1], jnp.float32)
    swept = jax.vmap(train)(lrs)
    for i, lr in enumerate([0.01, 0.1]):
        fresh = opt.sgd(lr, 0.9)
        updates, _ = fresh.update(jax.grad(_loss)(INIT), fresh.init(INIT), INIT)
        member = jax.tree_util.tree_map(lambda x: x[i], swept)
        assert_close(member, opt.apply_updates(INIT, updates))


def test_get_and_set_hyperparams_errors():
    state = opt.adamw(0.1, weight_decay=0.01).init(INIT)
    hp = opt.get_hyperparams(state)
    assert sorted(hp) == ["b1", "b2", "eps", "learning_rate", "weight_decay"]
    got = [hp["learning_rate"], hp["b2"], hp["weight_decay"]]
    assert_close(jnp.stack(got), jnp.asarray([0.1, 0.999, 0.01], jnp.float32))
    with pytest.raises(ValueError, match=r"no hyperparameter named \['lr'\].*'learning_rate'"):
        opt.set_hyperparams(state, lr=0.1)
    with pytest.raises(ValueError, match=r"`b1` must have shape \(\) or the stored shape \(\)"):
        opt.set_hyperparams(state, b1=jnp.ones(3))
    doubled = opt.chain(opt.sgd(0.1), opt.sgd(0.2)).init(INIT)
    with pytest.raises(ValueError, match="`learning_rate` occurs in several transforms"):
        opt.get_hyperparams(doubled)
    set_both = opt.set_hyperparams(doubled, learning_rate=0.5)
    assert float(set_both[0][0].learning_rate) == float(set_both[1][0].learning_rate) == 0.5


def test_hyperparam_fields_checks_fields():
    with pytest.raises(TypeError, match=r"has no fields \['lr'\]"):

        @opt.hyperparam_fields("lr")
        class BadState(NamedTuple):
            learning_rate: jax.Array


@opt.hyperparam_fields("decay")
class _EmaState(NamedTuple):
    ema: dict  # like params
    count: jax.Array  # int32: updates so far
    decay: jax.Array  # the hyperparameter, 0-d


def _scale_by_ema(decay):
    """A transform written with the public names only (as docs/optimizers.md shows)."""

    def init(params):
        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
        return _EmaState(zeros, jnp.zeros((), jnp.int32), opt.as_hyperparam(decay, params))

    def update(updates, state, params=None):
        count, d = opt.safe_increment(state.count), state.decay
        ema = jax.tree_util.tree_map(
            lambda g, m: d.astype(g.dtype) * m + (1 - d).astype(g.dtype) * g, updates, state.ema
        )
        correction = 1 - d ** count.astype(d.dtype)
        updates = jax.tree_util.tree_map(lambda m: m / correction.astype(m.dtype), ema)
        return updates, state._replace(ema=ema, count=count)

    return opt.Optimizer(init, update)


def test_a_transform_written_with_the_public_names(x64):
    rng = np.random.default_rng(3)
    grads = [rng.standard_normal((2, 3)) for _ in range(5)]
    optimizer = opt.chain(_scale_by_ema(0.8), opt.scale_by_learning_rate(0.1))
    params = {"w": jnp.ones((2, 3), jnp.float64)}
    state = optimizer.init(params)
    assert state[0].decay.dtype == jnp.float64  # float64 params: float64 hyperparameters
    update = jax.jit(optimizer.update)
    theta, m = np.ones((2, 3)), np.zeros((2, 3))
    for t, g in enumerate(grads, start=1):  # NumPy: m ← βm + (1 − β)g, θ ← θ − η m/(1 − βᵗ)
        updates, state = update({"w": jnp.asarray(g)}, state, params)
        params = opt.apply_updates(params, updates)
        m = 0.8 * m + 0.2 * g
        theta = theta - 0.1 * m / (1 - 0.8**t)
        assert_close(params["w"], theta)
    assert int(state[0].count) == 5
    assert sorted(opt.get_hyperparams(state)) == ["decay", "learning_rate"]
    assert float(opt.set_hyperparams(state, decay=0.5)[0].decay) == 0.5
    with pytest.raises(ValueError, match="decay"):  # the range of `decay` by name: [0, 1)
        opt.set_hyperparams(state, decay=1.5)


def test_as_hyperparam_dtype_follows_the_params(x64):
    for dtype, stored in [
        (jnp.float32, jnp.float32),
        (jnp.bfloat16, jnp.float32),  # so that 1 − β₂ does not round to 0
        (jnp.float16, jnp.float32),
        (jnp.float64, jnp.float64),
    ]:
        value = opt.as_hyperparam(0.999, {"b": jnp.zeros(2, dtype), "w": jnp.zeros((2, 2), dtype)})
        assert value.shape == () and value.dtype == stored, dtype
        assert_close(1 - value, 1 - jnp.asarray(0.999, stored))


def test_schedule_inside_optimizer_uses_the_step_count():
    schedule = schedules.exponential_decay(0.5, decay_rate=0.5, decay_steps=2)
    optimizer = opt.sgd(schedule)
    params = {"x": jnp.zeros(3)}
    state = optimizer.init(params)
    g = {"x": jnp.asarray([1.0, -2.0, 3.0])}
    for t in range(5):
        updates, state = optimizer.update(g, state, params)
        want = -0.5 * 0.5 ** (t / 2) * np.array([1.0, -2.0, 3.0])  # −η_t g, η_t = 0.5 · 0.5^(t/2)
        assert_close(updates["x"], want)
    assert state[0].count.dtype == jnp.int32 and int(state[0].count) == 5


def test_step_counter_saturates():
    top = jnp.asarray(np.iinfo(np.int32).max, jnp.int32)
    assert int(opt.safe_increment(top)) == np.iinfo(np.int32).max
    assert int(opt.safe_increment(jnp.asarray(7, jnp.int32))) == 8


@pytest.mark.parametrize("scale_factor", [0.1, 10.0])
def test_clip_by_global_norm_matches_numpy(x64, key, scale_factor):
    grads = {
        "w": scale_factor * jax.random.normal(key, (3, 4), jnp.float64),
        "b": scale_factor * jax.random.normal(jax.random.fold_in(key, 1), (4,), jnp.float64),
    }
    clip = opt.clip_by_global_norm(1.5)
    updates, _ = clip.update(grads, clip.init(grads))
    g = {k: np.asarray(v) for k, v in grads.items()}
    norm = np.sqrt(sum(np.sum(v**2) for v in g.values()))
    assert_close(opt.global_norm(grads), norm)
    factor = min(1.0, 1.5 / norm)
    for k in g:
        assert_close(updates[k], g[k] * factor)
    zeros = jax.tree_util.tree_map(jnp.zeros_like, grads)
    clipped_zeros, _ = clip.update(zeros, clip.init(grads))
    assert all(np.all(np.asarray(v) == 0.0) for v in jax.tree_util.tree_leaves(clipped_zeros))


def test_clip_by_value_and_scale(key):
    grads = {"w": 3.0 * jax.random.normal(key, (4, 3))}
    clip = opt.chain(opt.clip_by_value(1.0), opt.scale(-2.0))
    updates, _ = clip.update(grads, clip.init(grads))
    want = -2.0 * np.clip(np.asarray(grads["w"]), -1.0, 1.0)
    assert_close(updates["w"], want)


def _net_params():
    """Deterministic params shaped like serial(Dense(4), Dense(2)).init(key, 3)."""

    def ramp(*shape):
        return jnp.sin(jnp.arange(np.prod(shape), dtype=jnp.float32)).reshape(shape)

    return (
        fnnet.layers.DenseParams(ramp(3, 4), ramp(4) + 0.5),
        fnnet.layers.DenseParams(ramp(4, 2), ramp(2) - 0.5),
    )


def test_add_decayed_weights_leaves_biases_untouched():
    params = _net_params()
    grads = jax.tree_util.tree_map(jnp.zeros_like, params)
    decay = opt.add_decayed_weights(0.1)
    updates, _ = decay.update(grads, decay.init(params), params)
    for layer_updates, layer in zip(updates, params):
        assert_close(layer_updates.w, 0.1 * np.asarray(layer.w))
        assert np.all(np.asarray(layer_updates.b) == 0.0)


def test_add_l1_decay_sign_and_zero_at_zero():
    params = {"w": jnp.asarray([[0.0, -2.0], [3.0, 0.0]]), "b": jnp.asarray([1.0, -1.0])}
    grads = {"w": jnp.ones((2, 2)), "b": jnp.ones(2)}
    l1 = opt.add_l1_decay(0.25)
    updates, _ = l1.update(grads, l1.init(params), params)
    np.testing.assert_allclose(updates["w"], [[1.0, 0.75], [1.25, 1.0]])
    np.testing.assert_allclose(updates["b"], [1.0, 1.0])


def test_decay_mask_override_and_errors():
    params = {"w": jnp.ones((2, 2)), "b": jnp.ones(2)}
    grads = jax.tree_util.tree_map(jnp.zeros_like, params)
    everything = opt.add_decayed_weights(
        0.5, mask=lambda p: jax.tree_util.tree_map(lambda _: True, p)
    )
    updates, _ = everything.update(grads, everything.init(params), params)
    np.testing.assert_allclose(updates["b"], [0.5, 0.5])
    only_bias = opt.add_decayed_weights(0.5, mask={"w": False, "b": True})
    updates, _ = only_bias.update(grads, only_bias.init(params), params)
    np.testing.assert_allclose(updates["w"], np.zeros((2, 2)))
    bad = opt.add_decayed_weights(0.5, mask={"w": True})
    with pytest.raises(
        TypeError, match=r"params tree PyTreeDef\(\{'b': \*, 'w': \*\}\), mask tree"
    ):
        bad.init(params)


def test_l2_penalty_gradient_equals_decoupled_weight_decay_under_sgd():
    """SGD on loss + λ/2 ΣW² takes the same steps as SGD after add_decayed_weights(λ)."""
    params = _net_params()
    x = jnp.cos(jnp.arange(15.0)).reshape(5, 3)
    net = fnnet.serial(fnnet.Dense(4, fnnet.activations.relu), fnnet.Dense(2))

    def data_loss(p):
        return jnp.mean(net.apply(p, x) ** 2)

    def penalized(p):
        return data_loss(p) + fnnet.regularizers.l2_penalty(p, 0.3)

    @jax.jit
    def run(params):
        coupled, decoupled = opt.sgd(0.1), opt.chain(opt.add_decayed_weights(0.3), opt.sgd(0.1))
        p1, s1, p2, s2 = params, coupled.init(params), params, decoupled.init(params)
        for _ in range(3):
            u1, s1 = coupled.update(jax.grad(penalized)(p1), s1, p1)
            p1 = opt.apply_updates(p1, u1)
            u2, s2 = decoupled.update(jax.grad(data_loss)(p2), s2, p2)
            p2 = opt.apply_updates(p2, u2)
        return p1, p2

    p1, p2 = run(params)
    assert_close(p1, p2)
    assert not np.allclose(p1[0].w, params[0].w)  # the steps did move the weights


def test_centered_rmsprop_stays_finite_for_a_constant_gradient():
    """With a constant gradient ν − m² is 0 up to rounding, which in float32 is often negative."""
    rms = opt.scale_by_rms(0.9, 1e-12, centered=True)
    g = {"x": jnp.asarray([1.0, 0.3, 3.0, 1e-3, 7.0])}

    @jax.jit
    def run(state):
        def step(state, _):
            updates, state = rms.update(g, state)
            return state, updates["x"]

        return jax.lax.scan(step, state, None, length=300)[1]

    assert np.all(np.isfinite(np.asarray(run(rms.init(g)))))
