"""The whole-network δ rule against per-layer composition, jax.grad and published numbers."""

import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnnet
from fnnet import activations, losses
from fnnet.gradcheck import assert_close
from fnnet.networks import mlp, mlp_loss

ROOT = pathlib.Path(__file__).resolve().parents[1]
PLAIN = {  # independent plain-jnp forwards
    activations.identity: lambda z: z,
    activations.sigmoid: lambda z: 1.0 / (1.0 + jnp.exp(-z)),
    activations.relu: lambda z: jnp.maximum(z, 0.0),
}


def _reference(acts, params, x):
    a = x
    for f, (w, b) in zip(acts, params):
        a = PLAIN[f](a @ w + b)
    return a


def _plain_loss(loss, a, y):
    if loss is losses.squared_error:
        return jnp.mean(0.5 * jnp.sum((y - a) ** 2, axis=-1))
    if loss is losses.softmax_cross_entropy:
        target = y if y.ndim == 2 else jax.nn.one_hot(y, a.shape[-1], dtype=a.dtype)
        return -jnp.mean(jnp.sum(target * jax.nn.log_softmax(a), axis=-1))
    assert loss is losses.sigmoid_binary_cross_entropy
    return -jnp.mean(jnp.sum(y * jax.nn.log_sigmoid(a) + (1 - y) * jax.nn.log_sigmoid(-a), axis=-1))


def _setup(key, sizes, dtype, batch=6):
    acts = tuple(
        activations.sigmoid if i % 2 else activations.relu for i in range(len(sizes) - 2)
    ) + (activations.identity,)
    net = fnnet.MLP(sizes[1:], dtype=dtype)
    params = net.init(key, sizes[0])
    x = jax.random.normal(jax.random.fold_in(key, 1), (batch, sizes[0]), dtype)
    return acts, params, x


@pytest.mark.parametrize("sizes", [(3, 2), (4, 5, 3), (2, 6, 6, 6, 2)])
def test_mlp_rule_equals_composition_and_autodiff(x64, sizes):
    acts, params, x = _setup(jax.random.key(len(sizes)), sizes, jnp.float64)
    g = jax.random.normal(jax.random.key(9), (x.shape[0], sizes[-1]), jnp.float64)
    net = fnnet.serial(*[fnnet.Dense(n, f, dtype=jnp.float64) for n, f in zip(sizes[1:], acts)])

    def grads(fn):
        return jax.grad(lambda p, x: jnp.sum(fn(p, x) * g), argnums=(0, 1))(params, x)

    whole = jax.jit(lambda: grads(lambda p, x: mlp(acts, p, x)))()
    assert_close(mlp(acts, params, x), _reference(acts, params, x))
    assert_close(whole, jax.jit(lambda: grads(net.apply))())
    assert_close(whole, jax.jit(lambda: grads(lambda p, x: _reference(acts, p, x)))())


LABELS = {
    "squared_error": lambda k, n, c, dt: jax.random.normal(k, (n, c), dt),
    "softmax_int": lambda k, n, c, dt: jax.random.randint(k, (n,), 0, c),
    "softmax_onehot": lambda k, n, c, dt: jax.nn.one_hot(
        jax.random.randint(k, (n,), 0, c), c, dtype=dt
    ),
    "bce": lambda k, n, c, dt: jax.random.bernoulli(k, 0.5, (n, c)).astype(dt),
}
LOSS_OF = {
    "squared_error": losses.squared_error,
    "softmax_int": losses.softmax_cross_entropy,
    "softmax_onehot": losses.softmax_cross_entropy,
    "bce": losses.sigmoid_binary_cross_entropy,
}


# Every kind of target each loss accepts, as (loss, targets(key, batch, classes, dtype)).
def _softmax_rows(k, n, c, dt):
    return jax.nn.softmax(jax.random.normal(k, (n, c), dt))


TARGET_KINDS = {
    "squared_error[real]": (losses.squared_error, LABELS["squared_error"]),
    "squared_error[one-hot]": (losses.squared_error, LABELS["softmax_onehot"]),
    "softmax[int]": (losses.softmax_cross_entropy, LABELS["softmax_int"]),
    "softmax[one-hot]": (losses.softmax_cross_entropy, LABELS["softmax_onehot"]),
    "softmax[soft rows]": (losses.softmax_cross_entropy, _softmax_rows),
    "softmax[rows sum to 0.5]": (
        losses.softmax_cross_entropy,
        lambda k, n, c, dt: 0.5 * _softmax_rows(k, n, c, dt),
    ),
    "softmax[unnormalised]": (
        losses.softmax_cross_entropy,
        lambda k, n, c, dt: jax.random.uniform(k, (n, c), dt, 0.0, 2.0),
    ),
    "softmax[multi-label]": (losses.softmax_cross_entropy, LABELS["bce"]),
    "bce[multi-label]": (losses.sigmoid_binary_cross_entropy, LABELS["bce"]),
    "bce[soft]": (
        losses.sigmoid_binary_cross_entropy,
        lambda k, n, c, dt: jax.random.uniform(k, (n, c), dt),
    ),
    "bce[one-hot]": (losses.sigmoid_binary_cross_entropy, LABELS["softmax_onehot"]),
}


def test_every_target_kind_through_every_network_path(x64):
    """The output δ comes from the loss's own rule on every path: mlp then the loss, mlp_loss,
    MLP(...).loss and diagnostics.diagnose all equal jax.grad of a plain jnp reference in
    float64, for every kind of target (a re-derived δ = a − y is off by up to 0.47 for rows
    that do not sum to 1)."""
    dt = jnp.float64
    acts, params, x = _setup(jax.random.key(3), (5, 7, 4), dt)
    net = fnnet.MLP((7, 4), activation=activations.relu, dtype=dt)
    assert net.activations == acts
    paths = {
        "plain jnp": lambda loss: lambda p, x, y: _plain_loss(loss, _reference(acts, p, x), y),
        "mlp then loss": lambda loss: lambda p, x, y: loss(mlp(acts, p, x), y),
        "mlp_loss": lambda loss: lambda p, x, y: mlp_loss(acts, loss, p, x, y),
        "MLP.loss": lambda loss: lambda p, x, y: net.loss(p, x, y, loss),
    }

    def all_grads(loss, args):  # every path in one compiled program per loss and label dtype
        grads = {name: jax.grad(path(loss), args) for name, path in paths.items()}
        diagnose = lambda p, x, y: (fnnet.diagnostics.diagnose(net, loss, p, x, y).grads,)  # noqa: E731
        return jax.jit(
            lambda p, x, y: {
                **{k: g(p, x, y) for k, g in grads.items()},
                "diagnose": diagnose(p, x, y),
            }
        )

    compiled = {}
    for kind, (loss, targets) in TARGET_KINDS.items():
        y = targets(jax.random.key(4), x.shape[0], 4, dt)
        args = (0, 1, 2) if jnp.issubdtype(y.dtype, jnp.floating) else (0, 1)
        if (loss, args) not in compiled:
            compiled[loss, args] = all_grads(loss, args)
        grads = compiled[loss, args](params, x, y)
        plain = grads.pop("plain jnp")
        for name, got in grads.items():
            want = plain[:1] if name == "diagnose" else plain  # diagnose: params grads only
            try:
                assert_close(got, want)
            except AssertionError as error:
                raise AssertionError(f"{kind} through {name}") from error


@pytest.mark.parametrize("case", sorted(LABELS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_whole_network_loss_rule_matches_autodiff(case, dtype):
    with jax.enable_x64(dtype == "float64"):
        dt = jnp.dtype(dtype)
        acts, params, x = _setup(jax.random.key(3), (5, 7, 4), dt)
        y = LABELS[case](jax.random.key(4), x.shape[0], 4, dt)
        loss = LOSS_OF[case]
        args = (0, 1, 2) if jnp.issubdtype(y.dtype, jnp.floating) else (0, 1)
        value, hand = jax.jit(
            jax.value_and_grad(lambda p, x, y: mlp_loss(acts, loss, p, x, y), args)
        )(params, x, y)
        plain = jax.jit(
            jax.grad(lambda p, x, y: _plain_loss(loss, _reference(acts, p, x), y), args)
        )(params, x, y)
        assert_close(value, _plain_loss(loss, _reference(acts, params, x), y))
        assert_close(hand, plain)
        assert all(leaf.dtype == dt for leaf in jax.tree_util.tree_leaves(hand))


def test_unmatched_output_pair_and_jit_vmap(x64):
    """Sigmoid output + squared error takes the general δ_L = ∂L/∂a ⊙ σ'(z) path."""
    net = fnnet.MLP((3, 2), output_activation=activations.sigmoid, dtype=jnp.float64)
    params = net.init(jax.random.key(5), 4)
    x = jax.random.normal(jax.random.key(6), (8, 4), jnp.float64)
    y = jax.random.uniform(jax.random.key(7), (8, 2), jnp.float64)
    acts = (activations.sigmoid, activations.sigmoid)
    hand = jax.jit(jax.grad(net.loss), static_argnums=3)(params, x, y, losses.squared_error)
    plain = jax.grad(lambda p: _plain_loss(losses.squared_error, _reference(acts, p, x), y))(params)
    assert_close(hand, plain)
    xs = jnp.stack([x, 2 * x, -x])
    batched = jax.jit(jax.vmap(lambda x: jax.grad(net.loss)(params, x, y, losses.squared_error)))(
        xs
    )
    single_grad = jax.jit(lambda x: jax.grad(net.loss)(params, x, y, losses.squared_error))
    for i in range(3):
        single = single_grad(xs[i])
        assert_close(jax.tree_util.tree_map(lambda a: a[i], batched), single)


def test_mlp_hessian_through_autodiff_switch(x64):
    acts, params, x = _setup(jax.random.key(8), (3, 4, 2), jnp.float64)
    y = jax.random.normal(jax.random.key(2), (x.shape[0], 2), jnp.float64)

    def loss(p):
        return mlp_loss(acts, losses.squared_error, p, x, y)

    with fnnet.autodiff():
        hess = jax.jit(jax.hessian(loss))(params)
    plain = jax.jit(
        jax.hessian(lambda p: _plain_loss(losses.squared_error, _reference(acts, p, x), y))
    )(params)
    assert_close(hess, plain)


def test_forward_mode_without_the_switch_points_to_autodiff(key):
    """jax.hessian of a network rule fails inside JAX; fnnet adds the way out to the message."""
    net = fnnet.MLP((3, 2))
    params = net.init(key, 4)
    x, y = jnp.ones((5, 4)), jnp.zeros(5, jnp.int32)

    def loss(p):
        return net.loss(p, x, y, losses.softmax_cross_entropy)

    with pytest.raises(
        TypeError, match=r"forward-mode(.|\n)*fnnet.autodiff\(\)(.|\n)*with_autodiff"
    ) as info:
        jax.hessian(loss)(params)
    assert str(info.value).count("first-order") == 1  # explained once, not once per nested rule
    with pytest.raises(TypeError, match=r"fnnet.autodiff\(\)"):
        jax.jvp(lambda z: activations.tanh(z), (jnp.ones(3),), (jnp.ones(3),))
    with fnnet.autodiff():  # the way out works (forward mode of the same code)
        _, tangent = jax.jvp(lambda z: activations.tanh(z), (jnp.ones(3),), (jnp.ones(3),))
    assert_close(tangent, np.full(3, 1.0 - np.tanh(1.0) ** 2, np.float32))


def test_mlp_errors(key):
    net = fnnet.MLP((3, 2))
    params = net.init(key, 4)
    with pytest.raises(ValueError, match=r"`x` has 5 features"):
        net.apply(params, jnp.ones((2, 5)))
    with pytest.raises(TypeError, match="`params` must be a tuple of 2 DenseParams"):
        net.apply(params[:1], jnp.ones((2, 4)))
    bad = (params[0], fnnet.layers.DenseParams(jnp.ones((4, 2)), jnp.ones(2)))
    with pytest.raises(
        ValueError, match=r"`params\[1\].w` has shape \(4, 2\) but layer 0 has 3 outputs"
    ):
        net.apply(bad, jnp.ones((2, 4)))
    with pytest.raises(ValueError, match="`layer_sizes` must be"):
        fnnet.MLP(())


def test_worked_example_reproduces_published_numbers(load_example):
    """Figures published for this network (forward values, updated weights, errors).

    The tolerances below are those of the published figures, not of the tolerance table: 8-9
    printed digits, and the published error after training was computed from rounded
    intermediate values, so it agrees to about 5e-7 (one update) and 2e-4 (10,000 updates)
    relative.
    """
    example = load_example("worked_example")
    with jax.enable_x64(True):
        r = example.run(10_000)
    # tolerance: published figures, to their printed digits (8-9)
    np.testing.assert_allclose(r["output"], [0.75136507, 0.772928465], rtol=1e-8)
    # tolerance: published, 9 digits
    np.testing.assert_allclose(r["error"], 0.298371109, rtol=1e-8)
    # tolerance: published, 8 digits
    np.testing.assert_allclose(r["grad_delta_rule"][4], 0.082167041, rtol=1e-7)
    assert_close(r["grad_delta_rule"], r["grad_jax"])  # the δ rule against jax.grad
    published = [
        0.149780716,
        0.19956143,
        0.24975114,
        0.29950229,
        0.35891648,
        0.408666186,
        0.511301270,
        0.561370121,
    ]
    # tolerance: published, half a unit of the 8-9 printed digits
    np.testing.assert_allclose(r["weights_after_one"], published, rtol=0, atol=5e-9)
    # tolerance: the published errors come from rounded intermediate values (see the docstring)
    np.testing.assert_allclose(r["error_after_one"], 0.291027924, rtol=1e-6)
    # tolerance: as above, after 10,000 updates
    np.testing.assert_allclose(r["error_after_many"], 0.0000351085, rtol=1e-3)
    # tolerance: as above, after 10,000 updates
    np.testing.assert_allclose(r["output_after_many"], [0.015912196, 0.984065734], rtol=1e-4)
