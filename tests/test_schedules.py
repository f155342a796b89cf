"""Schedules against numpy transcriptions of their formulas; traced parameters; dtypes; errors."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fnnet import schedules
from fnnet.gradcheck import assert_close

STEPS = np.arange(0, 40)


def _np_exponential(t, v, r, T, staircase=False):
    p = t / T
    return v * r ** (np.floor(p) if staircase else p)


def _np_piecewise(t, boundaries, values):
    out = []
    for s in t:
        i = 0
        while i < len(boundaries) and s >= boundaries[i]:
            i += 1
        out.append(values[i])
    return np.array(out)


def _np_inverse_time(t, v, r, T, staircase=False):
    p = t / T
    return v / (1 + r * (np.floor(p) if staircase else p))


def _np_polynomial(t, v, e, T, power):
    return (v - e) * (1 - np.minimum(t, T) / T) ** power + e


def _np_cosine(t, v, T, alpha):
    return v * ((1 - alpha) * 0.5 * (1 + np.cos(math.pi * np.minimum(t, T) / T)) + alpha)


def _np_warmup_cosine(t, v0, peak, W, T, end):
    out = []
    for s in t:
        if s < W:
            out.append(v0 + (peak - v0) * s / W)
        else:
            frac = min(s - W, T - W) / (T - W)
            out.append(end + (peak - end) * 0.5 * (1 + math.cos(math.pi * frac)))
    return np.array(out)


# (id, schedule factory, numpy reference); factories take a dict of float parameters
CASES = [
    ("constant", lambda: schedules.constant(0.3), lambda t: np.full(t.shape, 0.3)),
    (
        "exponential",
        lambda: schedules.exponential_decay(0.5, decay_rate=0.8, decay_steps=7),
        lambda t: _np_exponential(t, 0.5, 0.8, 7),
    ),
    (
        "exponential_staircase",
        lambda: schedules.exponential_decay(0.5, decay_rate=0.5, decay_steps=10, staircase=True),
        lambda t: _np_exponential(t, 0.5, 0.5, 10, staircase=True),
    ),
    (
        "piecewise",
        lambda: schedules.piecewise_constant([5, 12, 30], values=[1.0, 0.5, 0.25, 0.1]),
        lambda t: _np_piecewise(t, [5, 12, 30], [1.0, 0.5, 0.25, 0.1]),
    ),
    (
        "inverse_time",
        lambda: schedules.inverse_time_decay(0.2, decay_rate=0.7, decay_steps=5),
        lambda t: _np_inverse_time(t, 0.2, 0.7, 5),
    ),
    (
        "inverse_time_staircase",
        lambda: schedules.inverse_time_decay(0.2, decay_rate=0.7, decay_steps=5, staircase=True),
        lambda t: _np_inverse_time(t, 0.2, 0.7, 5, staircase=True),
    ),
    (
        "polynomial",
        lambda: schedules.polynomial_decay(0.3, end_value=0.01, decay_steps=25, power=2.0),
        lambda t: _np_polynomial(t, 0.3, 0.01, 25, 2.0),
    ),
    (
        "linear",
        lambda: schedules.polynomial_decay(1.0, end_value=0.0, decay_steps=30),
        lambda t: _np_polynomial(t, 1.0, 0.0, 30, 1.0),
    ),
    (
        "cosine",
        lambda: schedules.cosine_decay(0.4, decay_steps=30, alpha=0.1),
        lambda t: _np_cosine(t, 0.4, 30, 0.1),
    ),
    (
        "warmup_cosine",
        lambda: schedules.warmup_cosine_decay(
            0.0, peak_value=1.0, warmup_steps=8, decay_steps=30, end_value=0.05
        ),
        lambda t: _np_warmup_cosine(t, 0.0, 1.0, 8, 30, 0.05),
    ),
    (
        "warmup_cosine_nonzero_start",
        lambda: schedules.warmup_cosine_decay(0.1, peak_value=0.6, warmup_steps=5, decay_steps=20),
        lambda t: _np_warmup_cosine(t, 0.1, 0.6, 5, 20, 0.0),
    ),
]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize("name, make, reference", CASES, ids=IDS)
def test_matches_numpy_float64(x64, name, make, reference):
    schedule = make()
    steps = jnp.asarray(STEPS, jnp.int32)
    got = jax.jit(schedule)(steps)
    assert got.dtype == jnp.float64
    assert_close(got, reference(STEPS.astype(np.float64)))


@pytest.mark.parametrize("name, make, reference", CASES, ids=IDS)
def test_matches_numpy_float32_per_step(name, make, reference):
    schedule = make()
    # one 0-d int32 count at a time, as the optimizer calls it, under jit
    got = np.array([jax.jit(schedule)(jnp.asarray(s, jnp.int32)) for s in STEPS[:12]])
    assert jax.jit(schedule)(jnp.zeros((), jnp.int32)).dtype == jnp.float32
    assert_close(got, reference(STEPS[:12].astype(np.float64)))


def test_vmap_over_steps_equals_array_call():
    schedule = schedules.warmup_cosine_decay(0.0, peak_value=1.0, warmup_steps=4, decay_steps=16)
    steps = jnp.arange(20, dtype=jnp.int32)
    assert_close(jax.jit(jax.vmap(schedule))(steps), jax.jit(schedule)(steps))


def test_traced_parameters_vmap_and_one_compile():
    traces = []

    def value_at(init_value, decay_rate, step):
        traces.append(None)
        return schedules.exponential_decay(init_value, decay_rate=decay_rate, decay_steps=10)(step)

    fn = jax.jit(jax.vmap(value_at, in_axes=(0, 0, None)))
    step = jnp.asarray(13, jnp.int32)
    for inits in ([0.1, 0.2, 0.3], [1.0, 2.0, 4.0]):
        inits_arr = jnp.asarray(inits, jnp.float32)
        rates = jnp.asarray([0.5, 0.9, 0.99], jnp.float32)
        got = fn(inits_arr, rates, step)
        want = np.asarray(inits) * np.asarray([0.5, 0.9, 0.99]) ** 1.3
        assert_close(got, want)
    assert len(traces) == 1


def test_traced_warmup_and_boundaries():
    def f(warmup, boundary):
        a = schedules.warmup_cosine_decay(0.0, peak_value=1.0, warmup_steps=warmup, decay_steps=20)(
            jnp.asarray(3, jnp.int32)
        )
        b = schedules.piecewise_constant(jnp.stack([boundary]), values=jnp.asarray([1.0, 0.5]))(
            jnp.asarray(3, jnp.int32)
        )
        return a, b

    a, b = jax.jit(jax.vmap(f))(jnp.asarray([2, 6], jnp.int32), jnp.asarray([3, 4], jnp.int32))
    want = [_np_warmup_cosine([3], 0.0, 1.0, w, 20, 0.0)[0] for w in (2, 6)]
    assert_close(a, np.asarray(want))
    np.testing.assert_allclose(b, [0.5, 1.0])


def test_zero_warmup_is_plain_cosine():
    got = jax.jit(
        schedules.warmup_cosine_decay(0.0, peak_value=0.5, warmup_steps=0, decay_steps=10)
    )(jnp.arange(12, dtype=jnp.int32))
    assert_close(got, _np_cosine(np.arange(12.0), 0.5, 10, 0.0))


def test_float32_parameters_under_x64_stay_float32(x64):
    schedule = schedules.cosine_decay(jnp.asarray(0.1, jnp.float32), decay_steps=10)
    assert schedule(jnp.asarray(3, jnp.int32)).dtype == jnp.float32


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda: schedules.constant(jnp.ones(2)), "value"),
        (
            lambda: schedules.exponential_decay(jnp.ones(3), decay_rate=0.5, decay_steps=10),
            "init_value",
        ),
        (lambda: schedules.cosine_decay(0.1, decay_steps=jnp.ones(2)), "decay_steps"),
    ],
)
def test_non_scalar_parameter_is_a_clear_error(make, name):
    with pytest.raises(ValueError, match=f"`{name}` must be a scalar"):
        make()


def test_bad_parameter_types():
    with pytest.raises(TypeError, match="`init_value`"):
        schedules.exponential_decay("0.1", decay_rate=0.5, decay_steps=10)
    with pytest.raises(TypeError, match="`staircase` must be a bool"):
        schedules.exponential_decay(0.1, decay_rate=0.5, decay_steps=10, staircase=1)
    with pytest.raises(ValueError, match="len\\(values\\) == len\\(boundaries\\) \\+ 1"):
        schedules.piecewise_constant([1, 2], values=[1.0, 2.0])
