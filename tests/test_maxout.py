"""The Maxout layer: forward and gradients against a plain jnp reference, δ routed to the
winning piece, parameter count, first SGD steps against a NumPy transcription, bad input."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnnet
from fnnet import losses, optimizers
from fnnet.gradcheck import assert_close
from fnnet.layers import DenseParams, Maxout


def _reference(params, x, pieces):
    z = x @ params.w + params.b
    return jnp.max(z.reshape(z.shape[:-1] + (-1, pieces)), axis=-1)


@pytest.mark.parametrize(
    "batch, fan_in, units, pieces, dtype",
    [(5, 4, 3, 2, jnp.float32), (1, 7, 2, 4, jnp.float64), (6, 3, 1, 1, jnp.float64)],
)
def test_forward_and_gradients_match_autodiff_of_reference(batch, fan_in, units, pieces, dtype):
    with jax.enable_x64(dtype == jnp.float64):
        layer = Maxout(units, pieces, dtype=dtype)
        params = layer.init(jax.random.key(0), fan_in)
        assert params.w.shape == (fan_in, units * pieces) and params.w.dtype == dtype
        params = params._replace(b=jax.random.normal(jax.random.key(1), params.b.shape, dtype))
        x = jax.random.normal(jax.random.key(2), (batch, fan_in), dtype)
        out = layer.apply(params, x)
        assert out.shape == (batch, units) and out.dtype == dtype
        assert_close(out, _reference(params, x, pieces))

        def loss(fn):
            return lambda p, x: jnp.sum(jnp.sin(fn(p, x)))

        got = jax.jit(jax.grad(loss(layer.apply), argnums=(0, 1)))(params, x)
        want = jax.grad(loss(functools.partial(_reference, pieces=pieces)), argnums=(0, 1))(
            params, x
        )
        assert_close(got, want)


def test_delta_goes_to_the_winning_piece_and_ties_to_the_first():
    layer = Maxout(2, 3)
    params = DenseParams(jnp.zeros((1, 6)), jnp.array([0.0, 2.0, 1.0, 5.0, 5.0, -1.0]))
    x = jnp.ones((1, 1))
    grads = jax.grad(lambda p: jnp.sum(jnp.array([10.0, 100.0]) * layer.apply(p, x)))(params)
    np.testing.assert_array_equal(grads.b, [0.0, 10.0, 0.0, 100.0, 0.0, 0.0])
    np.testing.assert_array_equal(layer.apply(params, x[0]), [2.0, 5.0])  # unbatched input


def test_parameter_count_equals_a_dense_layer_of_units_times_pieces():
    count = lambda p: sum(a.size for a in jax.tree_util.tree_leaves(p))
    maxout = Maxout(16, 3).init(jax.random.key(0), 10)
    assert count(maxout) == count(fnnet.Dense(48).init(jax.random.key(0), 10))


def test_sgd_steps_equal_numpy_transcription(x64):
    """Two SGD steps of a maxout layer + linear output under squared error, written in NumPy."""
    key = jax.random.key(3)
    net = fnnet.serial(Maxout(4, 3, dtype=jnp.float64), fnnet.Dense(2, dtype=jnp.float64))
    params = net.init(key, 5)
    x = jax.random.normal(jax.random.fold_in(key, 1), (8, 5), jnp.float64)
    y = jax.random.normal(jax.random.fold_in(key, 2), (8, 2), jnp.float64)
    (w1, b1), (w2, b2) = (tuple(np.array(a) for a in p) for p in params)
    xn, yn, lr = np.asarray(x), np.asarray(y), 0.1
    opt = optimizers.sgd(lr)
    state = opt.init(params)
    for _ in range(2):
        grads = jax.grad(lambda p: losses.squared_error(net.apply(p, x), y))(params)
        updates, state = opt.update(grads, state, params)
        params = optimizers.apply_updates(params, updates)
        z = (xn @ w1 + b1).reshape(8, 4, 3)
        win = z.argmax(-1)
        a = np.take_along_axis(z, win[..., None], -1)[..., 0]
        delta_out = (a @ w2 + b2 - yn) / 8  # squared error: (a − y) / batch
        delta_a = delta_out @ w2.T
        delta_z = (np.eye(3)[win] * delta_a[..., None]).reshape(8, 12)  # routed to the winner
        w2, b2 = w2 - lr * a.T @ delta_out, b2 - lr * delta_out.sum(0)
        w1, b1 = w1 - lr * xn.T @ delta_z, b1 - lr * delta_z.sum(0)
        assert_close(jax.tree_util.tree_leaves(params), [w1, b1, w2, b2])


def test_composes_with_dropout_and_trains():
    data = fnnet.data.xor(jax.random.key(0), 200, noise=0.1)
    net = fnnet.serial(Maxout(8, 2), fnnet.Dropout(0.1), fnnet.Dense(2))
    result = fnnet.fit(
        net.apply, net.init(jax.random.key(1), 2), losses.softmax_cross_entropy,
        optimizers.adam(0.02), (data.x, data.y), key=jax.random.key(2), epochs=30,
        batch_size=20, verbose=False,
    )  # fmt: skip
    assert result.history["accuracy"][-1] > 0.9  # XOR needs the piecewise-linear units


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="`units`"):
        Maxout(0, 2)
    with pytest.raises(ValueError, match="`pieces`"):
        Maxout(3, 0)
    with pytest.raises(TypeError, match="`pieces`"):
        Maxout(3, 2.0)
    layer = Maxout(3, 2)
    with pytest.raises(ValueError, match="`x` has 5 features"):
        layer.apply(layer.init(jax.random.key(0), 4), jnp.ones((2, 5)))
