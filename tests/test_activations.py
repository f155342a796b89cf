"""Activations: each hand rule against an independent reference (jax.nn, plain jnp, numpy).

References are ``jax.nn.*`` where JAX has the function, otherwise a plain ``jnp.where`` /
reshape-and-max transcription of the formula; gradients of the reference come from ``jax.grad``
(JAX's own derivation), never from fnnet's rules.

Speed: every new shape of a ``jax.random`` draw compiles its own threefry kernel (about a
second of CPU), so test inputs are slices of one draw (:func:`_normal`), and each check runs
as one compiled function per case.
"""

import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnnet
from fnnet import activations as act
from fnnet.gradcheck import assert_close
from fnnet.rules import all_rules

# Rule vs a reference (same math, different code): gradcheck's one tolerance table, through
# fnnet.gradcheck.assert_close (the row of the less precise dtype).

RRELU_MEAN = (1.0 / 8.0 + 1.0 / 3.0) / 2.0  # torch's RReLU inference slope for the defaults
EXTREMES = (-1e4, -3.0, -0.5, 2.0, 30.0, 1e4)  # 0 is a kink: see test_kink_conventions


@functools.cache
def _pool() -> np.ndarray:
    return np.asarray(jax.random.normal(jax.random.key(20261122), (4096,), jnp.float32))


def _normal(seed: int, shape, dtype):
    """Standard normal draws of `shape`: a slice, chosen by `seed`, of one jax.random draw."""
    n = math.prod(shape)
    start = (seed * 613) % (4096 - n)
    return jnp.asarray(_pool()[start : start + n].reshape(shape), dtype)


def _sample(seed, shape, dtype):
    z = 2.0 * _normal(seed, shape, dtype)
    return z + 0.1 * jnp.sign(z)  # stay away from the kinks at 0 (tested on their own below)


def _channel_alpha(z):
    """A per-channel PReLU slope, shape (features,), in z's dtype."""
    return 0.1 + 0.05 * jnp.arange(z.shape[-1]).astype(z.dtype)


def _plain_prelu(z, alpha):
    return jnp.where(z > 0, z, alpha * z)


class Case(NamedTuple):
    name: str
    fn: Callable  # the fnnet activation, hyperparameters bound
    ref: Callable  # an independent reference forward
    rule: str  # the registered hand rule it exercises
    shapes: tuple


ELEMENTWISE = ((), (7,), (3, 5))
ALONG_AXIS = ((7,), (3, 5))
GROUPED = ((6,), (3, 6))

CASES = [
    Case("identity", act.identity, lambda z: z, "identity", ELEMENTWISE),
    Case(
        "binary_step",
        act.binary_step,
        lambda z: jnp.heaviside(z, 1.0),
        "binary_step",
        ELEMENTWISE,
    ),
    Case("sigmoid", act.sigmoid, jax.nn.sigmoid, "sigmoid", ELEMENTWISE),
    Case("tanh", act.tanh, jnp.tanh, "tanh", ELEMENTWISE),
    Case("relu", act.relu, jax.nn.relu, "relu", ELEMENTWISE),
    Case("leaky_relu", act.leaky_relu, jax.nn.leaky_relu, "leaky_relu", ELEMENTWISE),
    Case("elu", act.elu, jax.nn.elu, "elu", ELEMENTWISE),
    Case("silu", act.silu, jax.nn.silu, "silu", ELEMENTWISE),
    Case("softplus", act.softplus, jax.nn.softplus, "softplus", ELEMENTWISE),
    Case(
        "gelu_exact",
        act.gelu,
        functools.partial(jax.nn.gelu, approximate=False),
        "gelu_exact",
        ELEMENTWISE,
    ),
    Case(
        "gelu_tanh",
        functools.partial(act.gelu, approximate=True),
        functools.partial(jax.nn.gelu, approximate=True),
        "gelu_tanh",
        ELEMENTWISE,
    ),
    Case("softmax", act.softmax, jax.nn.softmax, "softmax", ALONG_AXIS),
    Case(
        "softmax_axis0",
        functools.partial(act.softmax, axis=0),
        functools.partial(jax.nn.softmax, axis=0),
        "softmax",
        ALONG_AXIS,
    ),
    Case("log_softmax", act.log_softmax, jax.nn.log_softmax, "log_softmax", ALONG_AXIS),
    Case(
        "log_softmax_axis0",
        functools.partial(act.log_softmax, axis=0),
        functools.partial(jax.nn.log_softmax, axis=0),
        "log_softmax",
        ALONG_AXIS,
    ),
    Case(
        "prelu_scalar",
        lambda z: act.prelu(z, 0.25),
        lambda z: _plain_prelu(z, 0.25),
        "prelu",
        ELEMENTWISE,
    ),
    Case(
        "prelu_channel",
        lambda z: act.prelu(z, _channel_alpha(z)),
        lambda z: _plain_prelu(z, _channel_alpha(z)),
        "prelu",
        ALONG_AXIS,
    ),
    Case(
        "rrelu_inference",
        act.rrelu,
        lambda z: _plain_prelu(z, RRELU_MEAN),
        "leaky_relu",  # rrelu's backward is leaky_relu's rule with the drawn slopes
        ELEMENTWISE,
    ),
    Case(
        "maxout_3",
        functools.partial(act.maxout, num_pieces=3),
        lambda z: jnp.max(z.reshape(z.shape[:-1] + (-1, 3)), axis=-1),
        "maxout",
        GROUPED,
    ),
]
CASE_IDS = [pytest.param(c, id=c.name) for c in CASES]


@pytest.fixture(params=["float32", "float64"])
def dtype(request):
    """The dtype under test; float64 runs inside the `x64` fixture."""
    if request.param == "float64":
        request.getfixturevalue("x64")
    return jnp.dtype(request.param)


def _problem(case, shape, dtype, seed=0):
    """Random inputs z of `shape` and random weights w for the activation's output."""
    z = _sample(seed, shape, dtype)
    return z, _normal(seed + 1, jax.eval_shape(case.fn, z).shape, dtype)


def _weighted(f, w):
    """Scalar loss sum(f(z) ⊙ w): its gradient is the VJP of f with cotangent w."""
    return lambda z: jnp.sum(f(z) * w)


def _values_and_grads(case, z, w):
    """f(z), ref(z), ∇ sum(f(z) ⊙ w) through the hand rule, and the same for the reference."""
    return (
        case.fn(z),
        case.ref(z),
        jax.grad(_weighted(case.fn, w))(z),
        jax.grad(_weighted(case.ref, w))(z),
    )


@pytest.mark.parametrize("case", CASE_IDS)
def test_forward_and_grad_match_reference(case, dtype):
    """Random points, then extreme inputs (finite values and gradients). Shape handling does
    not depend on the dtype: float32 runs every shape, float64 the largest (to save compiles)."""
    shapes = case.shapes if dtype == jnp.float32 else case.shapes[-1:]
    problems = [_problem(case, shape, dtype, seed) for seed, shape in enumerate(shapes)]
    extremes = jnp.array(EXTREMES, dtype)
    problems.append((extremes, jnp.ones(jax.eval_shape(case.fn, extremes).shape, dtype)))
    labels = [f"shape {shape}" for shape in shapes] + [f"extremes {EXTREMES}"]
    # one compile per case and dtype (the eager path: test_eager_jit_and_vmap_agree)
    results = jax.jit(lambda ps: [_values_and_grads(case, z, w) for z, w in ps])(problems)
    for label, (z, _), (a, a_ref, g, g_ref) in zip(labels, problems, results):
        assert a.dtype == dtype and a.shape == a_ref.shape, label
        assert g.dtype == dtype and g.shape == z.shape, label
        assert bool(jnp.all(jnp.isfinite(a)) & jnp.all(jnp.isfinite(g))), (label, a, g)
        assert_close(a, a_ref, err_msg=f"forward, {label}")
        assert_close(g, g_ref, err_msg=f"gradient, {label}")


@pytest.mark.parametrize("case", CASE_IDS)
def test_eager_jit_and_vmap_agree(case):
    problems = [_problem(case, case.shapes[-1], jnp.float32, seed) for seed in range(3)]
    zs, w = jnp.stack([z for z, _ in problems]), problems[0][1]
    grad_f = jax.grad(_weighted(case.fn, w))
    eager = [(case.fn(z), grad_f(z)) for z in zs]  # the rule outside any jit
    vmapped_a, vmapped_g = jax.jit(jax.vmap(lambda z: (case.fn(z), grad_f(z))))(zs)
    for i, (a, g) in enumerate(eager):  # XLA fuses differently under jit: not bitwise
        assert_close(vmapped_a[i], a)
        assert_close(vmapped_g[i], g)


def test_sigmoid_tails_float32():
    z = jnp.array([-1e4, -100.0, 100.0, 1e4], jnp.float32)
    np.testing.assert_array_equal(act.sigmoid(z), np.array([0.0, 0.0, 1.0, 1.0], np.float32))
    np.testing.assert_array_equal(jax.grad(lambda z: act.sigmoid(z).sum())(z), np.zeros(4))


@pytest.mark.parametrize("dtype_name", ["bfloat16", "float16"])
def test_low_precision_dtype_is_preserved(dtype_name):
    z = jax.ShapeDtypeStruct((6,), jnp.dtype(dtype_name))  # dtypes are static: trace only
    for case in CASES:
        w = jnp.ones(jax.eval_shape(case.fn, z).shape, z.dtype)
        a, g = jax.eval_shape(lambda z: (case.fn(z), jax.grad(_weighted(case.fn, w))(z)), z)
        assert a.dtype == z.dtype and g.dtype == z.dtype, case.name


def _d(f, z):
    return jax.grad(lambda z: jnp.sum(f(z)))(z)


@pytest.mark.parametrize("autodiff", [False, True], ids=["hand_rule", "autodiff"])
def test_kink_conventions(autodiff):
    """The documented derivatives at kinks, through the hand rules and through JAX's own."""
    zero = jnp.zeros((), jnp.float32)
    with fnnet.autodiff(autodiff):
        assert float(_d(act.relu, zero)) == 0.0 == float(_d(jax.nn.relu, zero))
        # z > 0 convention: the slope at 0 (jax.nn.leaky_relu, with z >= 0, gives 1 there)
        leaky = functools.partial(act.leaky_relu, negative_slope=0.2)
        assert float(_d(leaky, zero)) == pytest.approx(0.2)
        assert float(_d(act.leaky_relu, zero)) == pytest.approx(0.01)  # the default slope
        assert float(_d(functools.partial(act.elu, alpha=0.5), zero)) == pytest.approx(0.5)
        assert float(_d(functools.partial(jax.nn.elu, alpha=0.5), zero)) == pytest.approx(0.5)
        dz, dalpha = jax.grad(act.prelu, argnums=(0, 1))(zero, jnp.float32(0.3))
        assert (float(dz), float(dalpha)) == (pytest.approx(0.3), 0.0)
        assert float(_d(act.rrelu, zero)) == pytest.approx(RRELU_MEAN)
        # Heaviside with H(0) = 1 and derivative 0 everywhere
        steps = jnp.array([-1.0, -0.0, 0.0, 1e-30, 1.0], jnp.float32)
        np.testing.assert_array_equal(act.binary_step(steps), [0.0, 1.0, 1.0, 1.0, 1.0])
        np.testing.assert_array_equal(_d(act.binary_step, steps), np.zeros(5))
        # maxout: ties route the whole gradient to the first maximum of each group
        z = jnp.array([1.0, 3.0, 3.0, 2.0, 2.0, 2.0], jnp.float32)
        a, vjp = jax.vjp(functools.partial(act.maxout, num_pieces=3), z)
        np.testing.assert_array_equal(a, [3.0, 2.0])
        (dz,) = vjp(jnp.array([5.0, 7.0], jnp.float32))
        np.testing.assert_array_equal(dz, [0.0, 5.0, 0.0, 7.0, 0.0, 0.0])


@pytest.mark.parametrize("case", CASE_IDS)
def test_autodiff_switch_enables_forward_mode(case, x64):
    shape = next(s for s in case.shapes if len(s) == 1)
    with pytest.raises(TypeError, match="forward-mode"):  # a custom_vjp blocks jvp...
        jax.eval_shape(jax.jacfwd(case.fn), jax.ShapeDtypeStruct(shape, jnp.float64))
    z, w = _problem(case, shape, jnp.float64)
    extremes = jnp.array(EXTREMES)

    @jax.jit
    def run(z, w, extremes):
        loss = _weighted(case.fn, w)
        grad_sum = jax.grad(lambda z: jnp.sum(case.fn(z)))

        @fnnet.with_autodiff  # ...unless fnnet's rules defer to JAX
        def derivatives(z, extremes):
            return (
                jax.jacfwd(case.fn)(z),
                jax.hessian(loss)(z),
                jax.grad(loss)(z),
                grad_sum(extremes),
            )

        hand = jax.grad(loss)(z), grad_sum(extremes)
        return hand, derivatives(z, extremes), jax.hessian(_weighted(case.ref, w))(z)

    (hand_grad, hand_extremes), (jac, hess, auto_grad, auto_extremes), hess_ref = run(
        z, w, extremes
    )
    assert_close(w @ jac, hand_grad)
    assert_close(auto_grad, hand_grad)
    assert_close(hess, hess_ref)
    # JAX's own derivative of the forward body is finite at ±1e4 too (no inf·0 in a where)
    assert_close(auto_extremes, hand_extremes)


def _dense_problem(case, dtype, key):
    """Dense(6, activation=case.fn), its params, a batch x, and a loss sum(output ⊙ w) through
    the layer and through a plain reference f(x @ w + b)."""
    layer = fnnet.Dense(6, activation=case.fn, dtype=dtype)
    params = layer.init(key, 3)
    x = _normal(0, (4, 3), dtype)
    w = _normal(1, jax.eval_shape(layer.apply, params, x).shape, dtype)

    def loss(params, x):
        return jnp.sum(layer.apply(params, x) * w)

    def reference(params, x):
        return jnp.sum(case.ref(x @ params.w + params.b) * w)

    return params, x, loss, reference


@pytest.mark.parametrize("case", CASE_IDS)
def test_as_dense_activation(case, x64, key):
    params, x, loss, reference = _dense_problem(case, jnp.float64, key)

    @jax.jit
    def run(params, x):
        both = functools.partial(jax.value_and_grad, argnums=(0, 1))
        return both(loss)(params, x), both(reference)(params, x)

    (value, grads), (value_ref, expected) = run(params, x)
    assert_close(value, value_ref)
    assert jax.tree_util.tree_structure(grads) == jax.tree_util.tree_structure(expected)
    for got, want in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(expected)):
        assert_close(got, want)

    # a float32 layer keeps its loss and every gradient float32 (traced only: dtypes are static)
    def float32_loss_and_grads(key):
        params, x, loss, _ = _dense_problem(case, jnp.float32, key)
        return jax.value_and_grad(loss, argnums=(0, 1))(params, x)

    out = jax.eval_shape(float32_loss_and_grads, key)
    assert {leaf.dtype for leaf in jax.tree_util.tree_leaves(out)} == {jnp.dtype("float32")}


def test_every_activation_rule_is_covered():
    registered = {
        name.rsplit(".", 1)[1] for name in all_rules() if name.startswith("fnnet.activations.")
    }
    missing = registered - {case.rule for case in CASES}
    assert not missing, f"hand rules without a test case: {sorted(missing)}"
    for name in act.__all__:
        assert callable(getattr(act, name)), name


# --- hyperparameters: traced, vmappable, no gradient -------------------------------------------


@pytest.mark.parametrize(
    "fn,ref",
    [
        (lambda z, s: act.leaky_relu(z, negative_slope=s), jax.nn.leaky_relu),
        (lambda z, s: act.elu(z, alpha=s), jax.nn.elu),
    ],
    ids=["leaky_relu", "elu"],
)
def test_hyperparameter_is_vmappable(fn, ref, x64):
    z = _sample(0, (7,), jnp.float64)
    values = jnp.array([0.01, 0.3, 1.5])

    def grad_at(f, s):
        return jax.grad(lambda z: jnp.sum(f(z, s) ** 2))(z)

    @jax.jit
    def run(values):
        swept = jax.vmap(functools.partial(grad_at, fn))(values)
        return swept, [grad_at(ref, s) for s in values]

    swept, expected = run(values)
    for got, want in zip(swept, expected):
        assert_close(got, want)
    # a hyperparameter gets a zero cotangent (documented), not JAX's derivative
    assert float(jax.grad(lambda s: jnp.sum(fn(z, s)))(0.3)) == 0.0


def test_bad_arguments_raise():
    z = jnp.ones((3, 5), jnp.float32)
    with pytest.raises(ValueError, match="`negative_slope`.*\\(3, 5\\).*\\(4,\\)"):
        act.leaky_relu(z, jnp.ones(4, jnp.float32))
    with pytest.raises(ValueError, match="`alpha`"):
        act.elu(z, jnp.ones((2, 1), jnp.float32))
    with pytest.raises(ValueError, match="`alpha`"):
        act.prelu(z, jnp.ones((2, 3, 5), jnp.float32))
    with pytest.raises(ValueError, match="`axis`.*\\(3, 5\\)"):
        act.softmax(z, 2)
    with pytest.raises(TypeError, match="`axis`"):
        act.log_softmax(z, 1.0)
    with pytest.raises(TypeError, match="`approximate`"):
        act.gelu(z, approximate="tanh")


# --- prelu: the learnable slope gets its gradient ------------------------------------------------


PRELU_SHAPES = [((4, 5), ()), ((4, 5), (5,)), ((2, 3, 5), (5,)), ((2, 3, 5), (3, 1)), ((7,), (7,))]


def test_prelu_alpha_gradient(dtype):
    """dz and dα against jax.grad of a plain jnp.where, for scalar and per-channel α."""

    def loss(f, w):
        return lambda z, alpha: jnp.sum(f(z, alpha) * w)

    def both(z, alpha, w):
        hand = jax.grad(loss(act.prelu, w), argnums=(0, 1))(z, alpha)
        ref = jax.grad(loss(_plain_prelu, w), argnums=(0, 1))(z, alpha)
        # vmapped over a batch of slopes, as in an initialisation sweep
        alphas = jnp.stack([alpha, 2.0 * alpha])
        swept = jax.vmap(jax.grad(loss(act.prelu, w), argnums=1), in_axes=(None, 0))(z, alphas)
        swept_ref = [jax.grad(loss(_plain_prelu, w), argnums=1)(z, a) for a in alphas]
        return hand, ref, swept, swept_ref

    problems = []
    for seed, (z_shape, alpha_shape) in enumerate(PRELU_SHAPES):
        alpha = 0.05 + 0.2 * jnp.abs(_normal(3 * seed, alpha_shape, dtype))
        w = _normal(3 * seed + 2, z_shape, dtype)
        problems.append((_sample(3 * seed + 1, z_shape, dtype), alpha, w))
    results = jax.jit(lambda ps: [both(*p) for p in ps])(problems)
    for (z_shape, alpha_shape), ((dz, dalpha), (dz_ref, dalpha_ref), swept, swept_ref) in zip(
        PRELU_SHAPES, results
    ):
        msg = f"z {z_shape}, alpha {alpha_shape}"
        assert dalpha.shape == alpha_shape and dalpha.dtype == dtype and dz.dtype == dtype, msg
        assert_close(dz, dz_ref, err_msg=msg)
        assert_close(dalpha, dalpha_ref, err_msg=msg)
        for got, want in zip(swept, swept_ref):
            assert_close(got, want, err_msg=msg)


# --- rrelu: random slopes in training, the mean slope in inference -------------------------------


def _negative(n, seed=0):
    return -(jnp.abs(_normal(seed, (n,), jnp.float32)) + 0.1)


def test_rrelu_training_draws_slopes_in_range(key):
    z = _negative(400)
    k1, k2 = jax.random.split(key)

    @jax.jit
    def run(z, k1, k2):
        def train(z, key):
            return act.rrelu(z, key=key, training=True)

        grad = jax.grad(lambda z: jnp.sum(train(z, k1)))(z)
        return train(z, k1), train(z, k1), train(z, k2), grad, train(-z, k1)

    a1, again, other_key, g, positive = run(z, k1, k2)
    slopes = a1 / z
    assert bool(jnp.all(slopes >= 1.0 / 8.0 - 1e-6)) and bool(jnp.all(slopes <= 1.0 / 3.0 + 1e-6))
    assert float(jnp.std(slopes)) > 0.03  # per-element draws, U(1/8, 1/3) has std 0.06
    # tolerance: a sample mean of 400 draws (standard error 0.003), not rounding
    assert abs(float(jnp.mean(slopes)) - RRELU_MEAN) < 0.02
    np.testing.assert_array_equal(again, a1)
    assert not np.allclose(other_key, a1)
    # the backward pass uses the slopes the forward drew
    assert_close(g, slopes)
    # positive inputs pass through unchanged in training too
    np.testing.assert_array_equal(positive, -z)


def test_rrelu_traced_bounds_under_vmap(key):
    z = _negative(50)
    lowers, uppers = jnp.array([0.0, 0.2, 0.5]), jnp.array([0.1, 0.25, 0.9])

    def draw(lower, upper):
        return act.rrelu(z, key=key, lower=lower, upper=upper, training=True)

    for lo, hi, a in zip(lowers, uppers, jax.jit(jax.vmap(draw))(lowers, uppers)):
        slopes = a / z
        assert bool(jnp.all(slopes >= lo - 1e-6)) and bool(jnp.all(slopes <= hi + 1e-6))


def test_rrelu_inference_uses_mean_slope(key):
    z = _sample(0, (9,), jnp.float32)

    @jax.jit
    def run(z):
        def infer(z):
            return act.rrelu(z, lower=0.1, upper=0.3)

        with_key = act.rrelu(z, key=key, lower=0.1, upper=0.3)  # a key is ignored in inference
        return infer(z), with_key, jax.grad(lambda z: jnp.sum(infer(z)))(z)

    a, with_key, g = run(z)
    assert_close(a, np.where(z > 0, z, 0.2 * np.asarray(z)))
    np.testing.assert_array_equal(with_key, a)
    assert_close(g, np.where(z > 0, 1.0, 0.2))


def test_rrelu_training_float64_dtype(x64, key):
    z = jax.ShapeDtypeStruct((5,), jnp.float64)
    assert jax.eval_shape(lambda z: act.rrelu(z, key=key, training=True), z).dtype == jnp.float64


def test_rrelu_errors(key):
    z = jnp.ones(3, jnp.float32)
    with pytest.raises(ValueError, match="`key`.*None"):
        act.rrelu(z, training=True)
    with pytest.raises(TypeError, match="`training`"):
        act.rrelu(z, key=key, training=1)
    with pytest.raises(TypeError, match="`z`.*floating"):
        act.rrelu(jnp.ones(3, jnp.int32))


# --- maxout: grouping and validation ------------------------------------------------------------


def test_maxout_groups_consecutive_units():
    z = np.asarray(_normal(0, (2, 3, 12), jnp.float32))
    a = act.maxout(jnp.asarray(z), 4)
    assert a.shape == (2, 3, 3)
    expected = np.stack([z[..., 4 * j : 4 * j + 4].max(axis=-1) for j in range(3)], axis=-1)
    np.testing.assert_array_equal(a, expected)


@pytest.mark.parametrize(
    "z_shape,num_pieces,error,pattern",
    [
        ((3, 6), 4, ValueError, "multiple of `num_pieces`.*\\(3, 6\\)"),
        ((3, 6), 0, ValueError, "`num_pieces`"),
        ((3, 6), 2.0, TypeError, "`num_pieces`"),
        ((3, 6), True, TypeError, "`num_pieces`"),
        ((), 1, ValueError, "`z`"),
    ],
)
def test_maxout_bad_num_pieces_raises(z_shape, num_pieces, error, pattern):
    with pytest.raises(error, match=pattern):
        act.maxout(jnp.ones(z_shape, jnp.float32), num_pieces)
