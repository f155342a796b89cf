"""Hyperparameters are refused at construction when concrete and out of range (NaN, inf, a
negative learning rate, a decay outside [0, 1)), with the argument's name; traced values inside
jit/vmap pass untouched. A state from another optimizer is a clear error, not AttributeError."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fnnet import optimizers as opt
from fnnet import regularizers as reg
from fnnet import schedules
from fnnet.gradcheck import assert_close

NAN, INF = float("nan"), float("inf")
PARAMS = {"w": jnp.ones((2, 3)), "b": jnp.zeros(3)}
GRADS = {"w": jnp.full((2, 3), 0.5), "b": jnp.full(3, -0.25)}

# (constructor taking one keyword, argument name, values refused, a valid value)
RANGES = [
    (lambda v: opt.sgd(v), "learning_rate", [NAN, INF, -INF, -1e-3], 0.0),
    (lambda v: opt.adam(v), "learning_rate", [NAN, INF, -0.1], 1e-3),
    (lambda v: opt.sgd(0.1, momentum=v), "momentum", [NAN, INF, -0.1, 1.0, 1.5], 0.0),
    (lambda v: opt.rmsprop(0.1, momentum=v), "momentum", [NAN, -0.5, 1.0], 0.9),
    (lambda v: opt.rmsprop(0.1, decay=v), "decay", [NAN, INF, -0.1, 1.0], 0.0),
    (lambda v: opt.rmsprop(0.1, eps=v), "eps", [NAN, INF, -1e-8], 0.0),
    (lambda v: opt.adagrad(0.1, eps=v), "eps", [NAN, INF, -1e-7], 1e-10),
    (
        lambda v: opt.adagrad(0.1, initial_accumulator_value=v),
        "initial_accumulator_value",
        [NAN, INF, -0.1],
        0.1,
    ),
    (lambda v: opt.adam(1e-3, b1=v), "b1", [NAN, INF, -0.1, 1.0], 0.0),
    (lambda v: opt.adam(1e-3, b2=v), "b2", [NAN, 1.0, 1.1], 0.5),
    (lambda v: opt.adam(1e-3, eps=v), "eps", [NAN, INF, -1.0], 1e-12),
    (lambda v: opt.nadam(1e-3, b1=v), "b1", [NAN, 1.0], 0.9),
    (lambda v: opt.amsgrad(1e-3, b2=v), "b2", [NAN, -1.0, 1.0], 0.99),
    (lambda v: opt.adamw(1e-3, weight_decay=v), "weight_decay", [NAN, INF, -1e-4], 0.0),
    (lambda v: opt.add_l1_decay(v), "l1_decay", [NAN, -1.0], 0.0),
    (lambda v: opt.scale(v), "step_size", [NAN, INF], -2.0),
    (lambda v: opt.clip_by_value(v), "max_delta", [NAN, INF, 0.0, -1.0], 0.5),
    (lambda v: opt.clip_by_global_norm(v), "max_norm", [NAN, INF, 0.0, -1.0], 1.0),
]
RANGE_IDS = [f"{name}-{i}" for i, (_, name, _, _) in enumerate(RANGES)]


@pytest.mark.parametrize("make, name, bad_values, good", RANGES, ids=RANGE_IDS)
def test_concrete_bad_hyperparameters_refused_with_name(make, name, bad_values, good):
    for bad in bad_values:
        for value in (bad, np.float32(bad), jnp.asarray(bad, jnp.float32)):
            with pytest.raises(ValueError, match=f"`{name}` must be"):
                make(value)
    optimizer = make(good)  # the boundary values accepted, and the optimizer works
    updates, _ = optimizer.update(GRADS, optimizer.init(PARAMS), PARAMS)
    assert all(np.all(np.isfinite(u)) for u in jax.tree_util.tree_leaves(updates))


def test_error_message_shows_expected_range_and_value():
    with pytest.raises(ValueError, match=r"`learning_rate` must be >= 0.0; got -0.001"):
        opt.adam(-1e-3)
    with pytest.raises(ValueError, match=r"`b2` must be < 1.0; got 1.0"):
        opt.adam(1e-3, b2=1.0)
    with pytest.raises(ValueError, match=r"`momentum` must be finite; got nan"):
        opt.sgd(0.1, momentum=NAN)


@pytest.mark.parametrize(
    "make",
    [
        lambda lr: opt.adam(lr),
        lambda lr: opt.sgd(0.1, momentum=lr),
        lambda lr: opt.adamw(0.1, weight_decay=lr),
        lambda lr: opt.rmsprop(0.1, decay=lr, eps=lr),
    ],
)
def test_traced_values_pass_unchecked_inside_vmap_and_jit(make):
    """Inside a sweep the values are tracers: no check, no host sync; NaN in gives NaN out."""

    def step(value):
        optimizer = make(value)
        updates, _ = optimizer.update(GRADS, optimizer.init(PARAMS), PARAMS)
        return updates["w"]

    values = jnp.asarray([0.5, NAN], jnp.float32)
    out = jax.jit(jax.vmap(step))(values)
    assert np.all(np.isfinite(out[0]))
    assert np.all(np.isnan(out[1]))


def test_set_hyperparams_checks_concrete_values_as_construction_does():
    state = opt.adam(1e-3).init(PARAMS)
    with pytest.raises(ValueError, match="`learning_rate` must be finite"):
        opt.set_hyperparams(state, learning_rate=NAN)
    with pytest.raises(ValueError, match="`b1` must be finite"):
        opt.set_hyperparams(state, b1=jnp.asarray(INF))
    with pytest.raises(ValueError, match="`learning_rate` must be >= 0.0; got -0.1"):
        opt.set_hyperparams(state, learning_rate=-0.1)
    with pytest.raises(ValueError, match="`b2` must be < 1.0; got 1.0"):
        opt.set_hyperparams(state, b2=1.0)
    stacked = jax.vmap(lambda lr: opt.adam(lr).init(PARAMS))(jnp.asarray([1e-3, 1e-2]))
    with pytest.raises(ValueError, match="`learning_rate` must be >= 0.0; got -1.0"):
        opt.set_hyperparams(stacked, learning_rate=jnp.asarray([0.1, -1.0]))
    swept = opt.set_hyperparams(stacked, learning_rate=jnp.asarray([0.1, 0.2]))
    np.testing.assert_allclose(opt.get_hyperparams(swept)["learning_rate"], [0.1, 0.2])

    def traced(lr):  # traced: unchecked
        return opt.get_hyperparams(opt.set_hyperparams(state, learning_rate=lr))["learning_rate"]

    assert np.isnan(jax.jit(traced)(jnp.asarray(NAN)))


@pytest.mark.parametrize(
    "fn, name",
    [
        (lambda v: reg.l2_penalty(PARAMS, v), "strength"),
        (lambda v: reg.l1_penalty(PARAMS, v), "strength"),
        (lambda v: reg.elastic_net_penalty(PARAMS, v, 0.1), "l1_strength"),
        (lambda v: reg.elastic_net_penalty(PARAMS, 0.1, v), "l2_strength"),
    ],
)
def test_penalty_strengths_refused_when_non_finite_or_negative(fn, name):
    for bad in (NAN, INF, -0.1):
        with pytest.raises(ValueError, match=f"`{name}` must be"):
            fn(bad)
    assert math.isfinite(float(fn(0.0)))


# ---------------------------------------------------------------- schedules

SCHEDULE_RANGES = [
    (lambda v: schedules.constant(v), "value", [NAN, INF, -0.1]),
    (
        lambda v: schedules.exponential_decay(v, decay_rate=0.5, decay_steps=10),
        "init_value",
        [NAN, -1e-3],
    ),
    (
        lambda v: schedules.exponential_decay(0.1, decay_rate=v, decay_steps=10),
        "decay_rate",
        [NAN, INF, -0.5],
    ),
    (
        lambda v: schedules.exponential_decay(0.1, decay_rate=0.5, decay_steps=v),
        "decay_steps",
        [NAN, INF, 0, 0.5, -3],
    ),
    (
        lambda v: schedules.inverse_time_decay(0.1, decay_rate=0.5, decay_steps=v),
        "decay_steps",
        [0, -1],
    ),
    (
        lambda v: schedules.inverse_time_decay(0.1, decay_rate=v, decay_steps=3),
        "decay_rate",
        [NAN, -1.0],
    ),
    (
        lambda v: schedules.polynomial_decay(0.1, end_value=v, decay_steps=10),
        "end_value",
        [NAN, -0.01],
    ),
    (
        lambda v: schedules.polynomial_decay(0.1, end_value=0.0, decay_steps=v),
        "decay_steps",
        [0, NAN],
    ),
    (
        lambda v: schedules.polynomial_decay(0.1, end_value=0.0, decay_steps=5, power=v),
        "power",
        [NAN, 0.0, -1.0],
    ),
    (lambda v: schedules.cosine_decay(1e-3, decay_steps=v), "decay_steps", [0, -5, NAN, INF]),
    (lambda v: schedules.cosine_decay(1e-3, decay_steps=10, alpha=v), "alpha", [NAN, -0.1]),
    (lambda v: schedules.cosine_decay(v, decay_steps=10), "init_value", [NAN, -1.0]),
    (
        lambda v: schedules.warmup_cosine_decay(0.0, peak_value=v, warmup_steps=2, decay_steps=10),
        "peak_value",
        [NAN, INF, -1e-3],
    ),
    (
        lambda v: schedules.warmup_cosine_decay(
            0.0, peak_value=0.1, warmup_steps=v, decay_steps=10
        ),
        "warmup_steps",
        [NAN, -1],
    ),
    (
        lambda v: schedules.warmup_cosine_decay(0.0, peak_value=0.1, warmup_steps=0, decay_steps=v),
        "decay_steps",
        [0, NAN],
    ),
    (
        lambda v: schedules.warmup_cosine_decay(
            0.0, peak_value=0.1, warmup_steps=5, decay_steps=10, end_value=v
        ),
        "end_value",
        [NAN, -0.1],
    ),
    (lambda v: schedules.piecewise_constant([5], values=[0.1, v]), "values", [NAN, INF, -0.1]),
    (lambda v: schedules.piecewise_constant([v], values=[0.1, 0.01]), "boundaries", [NAN, INF]),
]


@pytest.mark.parametrize(
    "make, name, bad_values",
    SCHEDULE_RANGES,
    ids=[f"{c[1]}-{i}" for i, c in enumerate(SCHEDULE_RANGES)],
)
def test_schedule_parameters_refused_with_name(make, name, bad_values):
    for bad in bad_values:
        with pytest.raises(ValueError, match=f"`{name}` must be"):
            make(bad)


def test_cosine_decay_zero_steps_refused_instead_of_nan_every_step():
    with pytest.raises(ValueError, match=r"`decay_steps` must be >= 1.0; got 0.0"):
        schedules.cosine_decay(1e-3, decay_steps=0)
    values = schedules.cosine_decay(1e-3, decay_steps=1)(jnp.arange(4, dtype=jnp.int32))
    assert_close(values, np.asarray([1e-3, 0.0, 0.0, 0.0]))


def test_piecewise_boundaries_must_not_decrease_and_warmup_fit_in_total():
    with pytest.raises(ValueError, match="`boundaries` must be non-decreasing; got \\[10, 5\\]"):
        schedules.piecewise_constant([10, 5], values=[0.1, 0.01, 0.001])
    with pytest.raises(ValueError, match="`decay_steps` .* must be >= `warmup_steps`"):
        schedules.warmup_cosine_decay(0.0, peak_value=0.1, warmup_steps=20, decay_steps=10)


def test_schedules_take_traced_parameters_unchecked():
    def value(decay_steps, init_value):
        schedule = schedules.cosine_decay(init_value, decay_steps=decay_steps)
        return schedule(jnp.asarray(1, jnp.int32))

    got = jax.jit(jax.vmap(value))(jnp.asarray([2.0, 0.0]), jnp.asarray([1.0, 1.0]))
    assert_close(got[0], 0.5)
    assert np.isnan(got[1])  # traced 0 steps: the documented NaN, no error, no host sync


@pytest.mark.parametrize(
    "call",
    [
        lambda: schedules.exponential_decay(0.1, 0.5, 10),
        lambda: schedules.inverse_time_decay(0.1, 0.5, 10),
        lambda: schedules.polynomial_decay(0.1, 0.0, 10),
        lambda: schedules.cosine_decay(0.1, 10),
        lambda: schedules.warmup_cosine_decay(0.0, 0.1, 5, 50),
        lambda: schedules.piecewise_constant([5], [0.1, 0.01]),
    ],
)
def test_schedule_arguments_after_the_first_are_keyword_only(call):
    """optax orders exponential_decay (init, steps, rate): a positional port must fail, not
    silently swap the rate and the number of steps."""
    with pytest.raises(TypeError, match="positional argument"):
        call()


# ---------------------------------------------------------------- state from another optimizer


def test_state_from_another_optimizer_names_both():
    momentum_state = opt.sgd(0.1, momentum=0.9).init(PARAMS)
    with pytest.raises(
        TypeError, match=r"scale_by_adam's update .*expected ScaleByAdamState\(count, mu"
    ):
        opt.adam(1e-3).update(GRADS, momentum_state, PARAMS)
    with pytest.raises(TypeError, match=r"got TraceState with tree PyTreeDef"):
        opt.adam(1e-3).update(GRADS, momentum_state, PARAMS)
    # with params, the chain also shows the state tree this optimizer's init makes
    with pytest.raises(
        TypeError, match=r"transform 0 of the chain.*init makes PyTreeDef\(\(Custom"
    ):
        opt.adam(1e-3).update(GRADS, momentum_state, PARAMS)
    with pytest.raises(TypeError, match=r"trace \(momentum\)'s update .*got ScaleByAdamState"):
        opt.sgd(0.1, momentum=0.9).update(GRADS, opt.adam(1e-3).init(PARAMS))


@pytest.mark.parametrize(
    "make_a, make_b",
    [
        (lambda: opt.sgd(0.1), lambda: opt.sgd(schedules.constant(0.1))),
        (lambda: opt.rmsprop(0.1), lambda: opt.rmsprop(0.1, centered=True)),
        (lambda: opt.adagrad(0.1), lambda: opt.amsgrad(0.1)),
        (
            lambda: opt.adamw(0.1),
            lambda: opt.chain(opt.scale_by_adam(), opt.add_l1_decay(0.1), opt.sgd(0.1)),
        ),
        (lambda: opt.clip_by_value(1.0), lambda: opt.clip_by_global_norm(1.0)),
        (lambda: opt.sgd(0.1), lambda: opt.adam(0.1)),
    ],
)
def test_mismatched_state_is_a_type_error_never_attribute_error(make_a, make_b):
    a, b = make_a(), make_b()
    for updater, state in ((a, b.init(PARAMS)), (b, a.init(PARAMS))):
        with pytest.raises(TypeError, match="(state|`state`)") as info:
            updater.update(GRADS, state, PARAMS)
        assert not isinstance(info.value, AttributeError)


@pytest.mark.parametrize("value", [[0.5], (0.5,), [[0.1]], []], ids=repr)
@pytest.mark.parametrize(
    "make",
    [
        lambda v: opt.sgd(v),
        lambda v: opt.adam(1e-3, b1=v),
        lambda v: schedules.cosine_decay(v, decay_steps=10),
        lambda v: reg.l2_penalty({"w": jnp.ones(2)}, v),
    ],
    ids=["sgd learning_rate", "adam b1", "cosine_decay init_value", "l2_penalty strength"],
)
def test_a_list_or_tuple_is_refused_before_jax_sees_it(make, value):
    """A list ([0.5]) used to reach jnp.shape first, whose DeprecationWarning (an error under
    filterwarnings=error) came before fnnet's message; now the message comes, naming the type."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning on the way fails the test
        with pytest.raises(
            TypeError, match=rf"must be a real number .*not a {type(value).__name__}"
        ):
            make(value)
