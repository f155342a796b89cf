"""Dense, serial, Activation and initializers against plain-jnp references."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnnet
from fnnet import activations, initializers
from fnnet.gradcheck import assert_close
from fnnet.layers import DenseParams

ACTS = {
    "identity": (activations.identity, lambda z: z),
    "sigmoid": (activations.sigmoid, lambda z: 1.0 / (1.0 + jnp.exp(-z))),
    "relu": (activations.relu, lambda z: jnp.where(z > 0, z, 0.0)),
}


def _data(key, batch, fan_in, fan_out, dtype):
    kx, kw, kb, kg = jax.random.split(key, 4)
    x = jax.random.normal(kx, (batch, fan_in), dtype)
    w = jax.random.normal(kw, (fan_in, fan_out), dtype)
    b = jax.random.normal(kb, (fan_out,), dtype)
    g = jax.random.normal(kg, (batch, fan_out), dtype)  # random output weights for the loss
    return x, DenseParams(w, b), g


def _grads(apply, params, x, g):
    return jax.grad(lambda p, x: jnp.sum(apply(p, x) * g), argnums=(0, 1))(params, x)


@pytest.mark.parametrize("name", sorted(ACTS))
@pytest.mark.parametrize("shape", [(1, 1, 1), (5, 3, 4), (16, 7, 2)])
def test_dense_grad_matches_autodiff_float64(x64, name, shape):
    act, ref = ACTS[name]
    x, params, g = _data(jax.random.key(1), *shape, jnp.float64)
    layer = fnnet.Dense(shape[2], activation=act, dtype=jnp.float64)
    hand = jax.jit(functools.partial(_grads, layer.apply))(params, x, g)
    plain = jax.jit(functools.partial(_grads, lambda p, x: ref(x @ p.w + p.b)))(params, x, g)
    assert_close(hand, plain)
    assert all(leaf.dtype == jnp.float64 for leaf in jax.tree_util.tree_leaves(hand))


@pytest.mark.parametrize("name", sorted(ACTS))
def test_dense_grad_float32_jit_vmap(name):
    act, ref = ACTS[name]
    x, params, g = _data(jax.random.key(2), 8, 5, 3, jnp.float32)
    layer = fnnet.Dense(3, activation=act)
    hand = jax.jit(functools.partial(_grads, layer.apply))(params, x, g)
    plain = _grads(lambda p, x: ref(x @ p.w + p.b), params, x, g)
    assert_close(hand, plain)
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree_util.tree_leaves(hand))
    # vmap over a stack of parameter sets equals a Python loop
    stacked = jax.tree_util.tree_map(lambda a: jnp.stack([a, 2 * a, -a]), params)
    batched = jax.vmap(lambda p: _grads(layer.apply, p, x, g)[0])(stacked)
    for i, scale in enumerate([1.0, 2.0, -1.0]):
        single = _grads(layer.apply, jax.tree_util.tree_map(lambda a: scale * a, params), x, g)[0]
        assert_close(jax.tree_util.tree_map(lambda a: a[i], batched), single)


def test_dense_params_contract(key):
    layer = fnnet.Dense(4)
    params = layer.init(key, 3)
    assert isinstance(params, DenseParams)
    leaves = jax.tree_util.tree_leaves(params)
    assert [leaf.shape for leaf in leaves] == [(3, 4), (4,)]  # flattens to [W, b]
    assert layer.init(key, (3,)).w.shape == (3, 4)
    assert layer.apply(params, jnp.ones((7, 3))).shape == (7, 4)
    vector = layer.apply(params, jnp.ones(3))
    assert vector.shape == (4,)
    assert_close(vector, jnp.ones(3) @ params.w + params.b)


def test_dense_bad_input(key):
    layer = fnnet.Dense(4)
    params = layer.init(key, 3)
    with pytest.raises(ValueError, match=r"`x` has 5 features.*\(2, 5\)"):
        layer.apply(params, jnp.ones((2, 5)))
    with pytest.raises(ValueError, match=r"`x` must have shape \(batch, 3\).*\(2, 2, 3\)"):
        layer.apply(params, jnp.ones((2, 2, 3)))
    with pytest.raises(TypeError, match="`x` must have a floating dtype; got int32"):
        layer.apply(params, jnp.ones((2, 3), jnp.int32))
    with pytest.raises(TypeError, match="unexpected keyword argument 'mode'"):
        layer.apply(params, jnp.ones((2, 3)), mode="train")
    with pytest.raises(TypeError, match="unexpected keyword argument 'activaton'"):
        fnnet.Dense(4, activaton=activations.relu)
    with pytest.raises(TypeError, match="`activation` must be a function.*'relu'"):
        fnnet.Dense(4, activation="relu")
    with pytest.raises(ValueError, match="`out_dim` must be an int >= 1"):
        fnnet.Dense(0)
    with pytest.raises(ValueError, match=r"w of shape \(fan_in, fan_out\).*\(3, 4\).*\(5,\)"):
        layer.apply(DenseParams(params.w, jnp.zeros(5)), jnp.ones((2, 3)))
    with pytest.raises(ValueError, match="`input_shape` must be"):
        layer.init(key, "3")
    with pytest.raises(ValueError, match=r"`input_shape` must be \(batch, features\).*\(2, 5, 3\)"):
        layer.init(key, (2, 5, 3))  # the shape apply would refuse: Flatten first
    assert layer.init(key, (7, 3)).w.shape == (3, 4)  # a batch shape, as serial gives it


def test_autodiff_switch_enables_forward_mode(key):
    net = fnnet.serial(fnnet.Dense(3, activations.sigmoid), fnnet.Dense(2))
    params = net.init(key, 2)
    x = jax.random.normal(key, (4, 2))

    def loss(p):
        return jnp.sum(net.apply(p, x) ** 2)

    with pytest.raises(TypeError, match="forward-mode"):
        jax.jvp(loss, (params,), (params,))
    with fnnet.autodiff():
        hess = jax.jit(jax.hessian(loss))(params)
    hess_wrapped = jax.jit(jax.hessian(fnnet.with_autodiff(loss)))(params)
    assert_close(hess, hess_wrapped)
    # Same numbers either way: the hand rule equals autodiff of its forward body.
    with fnnet.autodiff():
        auto = jax.jit(jax.grad(loss))(params)
    assert_close(jax.jit(jax.grad(loss))(params), auto)
    assert not fnnet.rules._autodiff_enabled()


def test_serial_composes_and_splits_keys(key):
    net = fnnet.serial(
        fnnet.Dense(5, activations.relu),
        fnnet.layers.Activation(activations.sigmoid),
        fnnet.Dense(2),
    )
    params = net.init(key, 3)
    assert isinstance(params, tuple) and len(params) == 3 and params[1] == ()
    x = jax.random.normal(key, (6, 3))
    (w1, b1), _, (w2, b2) = params
    expected = jax.nn.sigmoid(jax.nn.relu(x @ w1 + b1)) @ w2 + b2
    assert_close(net.apply(params, x), expected)
    # the two Dense layers got different keys
    assert not np.allclose(params[0].w[:2, :2], params[2].w[:2, :2])
    with pytest.raises(TypeError, match="`params` must be a tuple of 3"):
        net.apply(params[:2], x)
    with pytest.raises(TypeError, match=r"`layers\[1\]` must be a Layer"):
        fnnet.serial(fnnet.Dense(2), "relu")


def test_default_init_breaks_symmetry(key):
    """Hidden units differ after init and stay different after training (XOR, full batch)."""
    net = fnnet.serial(fnnet.Dense(4, activations.sigmoid), fnnet.Dense(1, activations.sigmoid))
    params = net.init(key, 2)
    x = jnp.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = jnp.array([[0.0], [1.0], [1.0], [0.0]])

    def loss(p):
        return 0.5 * jnp.mean(jnp.sum((net.apply(p, x) - y) ** 2, axis=-1))

    step = jax.jit(lambda p: jax.tree_util.tree_map(lambda a, g: a - 0.5 * g, p, jax.grad(loss)(p)))
    for _ in range(50):
        params = step(params)
    for w in (net.init(key, 2)[0].w, params[0].w):
        columns = np.asarray(w).T
        distances = np.abs(columns[:, None, :] - columns[None, :, :]).sum(-1)
        assert distances[~np.eye(4, dtype=bool)].min() > 1e-3


@pytest.mark.parametrize(
    "init, variance",
    [
        (initializers.glorot_normal(), lambda i, o: 2.0 / (i + o)),
        (initializers.glorot_uniform(), lambda i, o: 2.0 / (i + o)),
        (initializers.he_normal(), lambda i, o: 2.0 / i),
        (initializers.he_uniform(), lambda i, o: 2.0 / i),
        (initializers.lecun_normal(), lambda i, o: 1.0 / i),
        (initializers.normal(0.01), lambda i, o: 1e-4),
    ],
)
def test_initializer_variance(key, init, variance):
    w = np.asarray(init(key, (300, 200), jnp.float32))
    assert w.dtype == np.float32
    assert abs(w.var() / variance(300, 200) - 1) < 0.03  # tolerance: 60k samples, ratio's sd ≈ 0.6%
    assert abs(w.mean()) < 0.01 * np.sqrt(variance(300, 200)) * 10


def test_initializer_bounds_and_errors(key):
    w = initializers.glorot_uniform()(key, (50, 30))
    assert np.abs(w).max() <= np.sqrt(6.0 / 80)
    assert np.all(initializers.zeros(key, (3,)) == 0)
    with pytest.raises(TypeError, match="`dtype` must be a floating dtype"):
        initializers.he_normal()(key, (3, 3), jnp.int32)
    with pytest.raises(ValueError, match="`shape` must be a tuple"):
        initializers.he_normal()(key, (3, -1))


def test_prelu_layer_learns_slope_gradient(x64):
    key = jax.random.key(0)
    net = fnnet.serial(
        fnnet.Dense(4, dtype=jnp.float64),
        fnnet.layers.PReLU(dtype=jnp.float64),
        fnnet.Dense(2, dtype=jnp.float64),
    )
    params = net.init(key, 3)
    assert params[1].shape == (4,) and np.all(np.asarray(params[1]) == 0.25)
    x = jax.random.normal(key, (9, 3), jnp.float64)

    def plain(p):
        (w1, b1), alpha, (w2, b2) = p
        z = x @ w1 + b1
        return jnp.sum(jnp.where(z > 0, z, alpha * z) @ w2 + b2)

    hand = jax.grad(lambda p: jnp.sum(net.apply(p, x)))(params)
    assert_close(hand, jax.grad(plain)(params))
    assert fnnet.layers.PReLU(per_feature=False).init(key, 4).shape == ()


def test_rrelu_layer_training_switch(key):
    net = fnnet.serial(fnnet.layers.RReLU(0.1, 0.3))
    x = -jnp.ones((2, 500))
    inference = net.apply(((),), x)
    assert_close(inference, -0.2 * np.ones((2, 500), np.float32))
    a = net.apply(((),), x, key=key, training=True)
    slopes = -np.asarray(a)
    assert slopes.min() >= 0.1 and slopes.max() <= 0.3 and slopes.std() > 0.03
    np.testing.assert_array_equal(
        a, net.apply(((),), x, key=key, training=True)
    )  # same key, same draw
    with pytest.raises(ValueError, match="`key` must be a jax.random key"):
        net.apply(((),), x, training=True)


LAYERS = {
    "Dense": lambda: fnnet.Dense(3),
    "Activation": lambda: fnnet.layers.Activation(activations.tanh),
    "PReLU": lambda: fnnet.layers.PReLU(),
    "RReLU": lambda: fnnet.layers.RReLU(),
    "Dropout": lambda: fnnet.Dropout(0.5),
    "Residual": lambda: fnnet.layers.Residual(fnnet.Dense(4)),
    "serial": lambda: fnnet.serial(fnnet.Dense(3), fnnet.Dropout(0.1)),
    "MLP": lambda: fnnet.MLP((3, 2)),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_init_with_an_int_seed_says_use_a_key(name):
    layer = LAYERS[name]()
    with pytest.raises(
        TypeError,
        match=r"`key` must be a JAX random key; got the int 0\. Use jax\.random\.key\(0\)",
    ):
        layer.init(0, 4)
    layer.init(jax.random.key(0), 4)  # a key works


@pytest.mark.parametrize(
    "rate, error",
    [
        ("0.5", TypeError),
        (None, TypeError),
        (jnp.ones(2), ValueError),
        (1.0, ValueError),
        (-0.1, ValueError),
        (float("nan"), ValueError),
    ],
)
def test_dropout_bad_rate_fails_at_construction(rate, error):
    with pytest.raises(error, match="`rate`"):
        fnnet.Dropout(rate)


def test_dropout_traced_rate_still_sweeps():
    x = jnp.ones((4, 1000))
    out = jax.vmap(lambda r: fnnet.Dropout(r).apply((), x, key=jax.random.key(0), training=True))(
        jnp.array([0.0, 0.5])
    )
    np.testing.assert_array_equal(out[0], x)
    assert 0.4 < float(jnp.mean(out[1] == 0)) < 0.6


def test_serial_init_carries_the_dtype_of_each_layers_output(key):
    """serial.init reads each layer's output dtype off eval_shape instead of guessing it from the
    layer's first parameter leaf (an int32 counter is not the dtype of the data)."""
    from fnnet._checks import check_floating

    def init(key, input_shape):
        return (jnp.zeros((), jnp.int32), jnp.ones((), jnp.float32))  # (counter, scale)

    def apply(params, x, *, key=None, training=False):
        return check_floating("x", x) * params[1]

    net = fnnet.serial(
        fnnet.Dense(3), fnnet.layers.Layer(init, apply), fnnet.Dropout(0.1), fnnet.Dense(2)
    )
    params = net.init(key, 4)
    assert params[3].w.shape == (3, 2)
    with jax.enable_x64(True):
        cast = fnnet.layers.Activation(lambda z: z.astype(jnp.float64))
        wide = fnnet.serial(
            fnnet.Dropout(0.1), fnnet.Dense(3), cast, fnnet.Dense(2, dtype=jnp.float64)
        )
        assert wide.init(key, 4)[3].w.dtype == jnp.float64
