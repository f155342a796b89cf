"""RBF networks: the Gaussian layer's rule against autodiff of a broadcast reference and a NumPy
transcription of one gradient step, k-means against a NumPy Lloyd, Haykin's width, the
least-squares output, two-stage + fine-tuning on iris, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnnet
from fnnet import classic, losses, optimizers


def _reference(params, x):
    r = (x[:, None, :] - params.centres[None]) / jnp.exp(params.log_sigma)[None]
    return jnp.exp(-0.5 * jnp.sum(r * r, axis=-1))


def _sample(key, batch, k, d, dtype):
    k1, k2, k3 = jax.random.split(key, 3)
    params = classic.RBFParams(
        jax.random.normal(k1, (k, d), dtype), 0.3 * jax.random.normal(k2, (k, d), dtype)
    )
    return params, jax.random.normal(k3, (batch, d), dtype)


@pytest.mark.parametrize(
    "batch, k, d, dtype",
    [(5, 3, 2, jnp.float32), (1, 4, 3, jnp.float64), (6, 1, 1, jnp.float64)],
)
def test_rule_matches_autodiff_of_broadcast_reference(batch, k, d, dtype):
    with jax.enable_x64(dtype == jnp.float64):
        params, x = _sample(jax.random.key(0), batch, k, d, dtype)
        phi = classic.gaussian_rbf(params, x)
        assert phi.shape == (batch, k) and phi.dtype == dtype
        rtol = 1e-5 if dtype == jnp.float32 else 1e-11
        np.testing.assert_allclose(phi, _reference(params, x), rtol=rtol)

        def loss(fn):
            return lambda p, x: jnp.sum(jnp.cos(3.0 * fn(p, x)))

        got = jax.jit(jax.grad(loss(classic.gaussian_rbf), argnums=(0, 1)))(params, x)
        want = jax.grad(loss(_reference), argnums=(0, 1))(params, x)
        for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
            np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)


def test_gradient_step_equals_numpy_transcription(x64):
    """One SGD step of serial(RBF, Dense) on squared error, ∂/∂c and ∂/∂log σ written in NumPy."""
    params, x = _sample(jax.random.key(1), 7, 4, 3, jnp.float64)
    out = fnnet.layers.DenseParams(
        jax.random.normal(jax.random.key(2), (4, 2), jnp.float64),
        jnp.zeros(2, jnp.float64),
    )
    y = jax.random.normal(jax.random.key(3), (7, 2), jnp.float64)
    net = fnnet.serial(classic.RBF(4, dtype=jnp.float64), fnnet.Dense(2, dtype=jnp.float64))
    grads = jax.grad(lambda p: losses.squared_error(net.apply(p, x), y))((params, out))
    c, s, xn = (
        np.asarray(params.centres),
        np.exp(np.asarray(params.log_sigma)),
        np.asarray(x),
    )
    diff = xn[:, None, :] - c[None]  # (n, k, d)
    phi = np.exp(-0.5 * np.sum((diff / s) ** 2, -1))
    g = ((phi @ np.asarray(out.w) - np.asarray(y)) / 7) @ np.asarray(out.w).T  # ∂L/∂φ
    u = (g * phi)[..., None]
    np.testing.assert_allclose(grads[0].centres, np.sum(u * diff / s**2, 0), rtol=1e-11)
    np.testing.assert_allclose(grads[0].log_sigma, np.sum(u * diff**2 / s**2, 0), rtol=1e-11)


def test_kmeans_equals_numpy_lloyd_from_the_same_start(x64):
    key = jax.random.key(4)
    x = jax.random.normal(key, (60, 2), jnp.float64) + jnp.repeat(
        jnp.array([[4.0, 0.0], [0.0, 4.0], [-4.0, -4.0]]), 20, axis=0
    )
    for iterations in (2,):
        centres, inertia = classic.kmeans(key, x, 3, iterations=iterations, restarts=1)
        start = jax.random.split(key, 1)[0]
        c = np.asarray(x)[np.asarray(jax.random.choice(start, 60, (3,), replace=False))]
        xn = np.asarray(x)
        for _ in range(iterations):
            labels = np.argmin(((xn[:, None] - c[None]) ** 2).sum(-1), 1)
            c = np.array(
                [xn[labels == j].mean(0) if np.any(labels == j) else c[j] for j in range(3)]
            )
        np.testing.assert_allclose(centres, c, rtol=1e-10)
        np.testing.assert_allclose(
            inertia, np.min(((xn[:, None] - c[None]) ** 2).sum(-1), 1).sum(), rtol=1e-10
        )
    expected = np.array([[4.0, 0.0], [0.0, 4.0], [-4.0, -4.0]])
    found = np.asarray(classic.kmeans(key, x, 3, restarts=4)[0])
    assert np.allclose(np.sort(found, 0), np.sort(expected, 0), atol=0.5)


def test_haykin_width_and_least_squares(x64):
    c = jnp.array([[0.0, 0.0], [3.0, 4.0], [1.0, 1.0], [0.0, 1.0]])
    np.testing.assert_allclose(classic.haykin_width(c), 5.0 / np.sqrt(8.0), rtol=1e-12)
    f = jax.random.uniform(jax.random.key(5), (20, 4), jnp.float64)
    t = jax.random.normal(jax.random.key(6), (20, 3), jnp.float64)
    out = classic.least_squares_output(f, t, ridge=0.0)
    design = np.hstack([np.asarray(f), np.ones((20, 1))])
    solution = np.linalg.lstsq(design, np.asarray(t), rcond=None)[0]
    np.testing.assert_allclose(out.w, solution[:4], rtol=1e-8)
    np.testing.assert_allclose(out.b, solution[4], rtol=1e-8)


def test_two_stage_then_fine_tuning_on_iris():
    datasets = pytest.importorskip("sklearn.datasets")
    x, y = datasets.load_iris(return_X_y=True)
    (xtr, ytr), (xte, yte) = fnnet.data.train_test_split(
        jax.random.key(0), jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.int32)
    )
    (xtr, xte), _ = fnnet.data.standardize(xtr, xte)
    params = classic.rbf_two_stage(jax.random.key(0), xtr, jax.nn.one_hot(ytr, 3), 30)
    net = fnnet.serial(classic.RBF(30), fnnet.Dense(3))
    two_stage = float(jnp.mean(jnp.argmax(net.apply(params, xte), -1) == yte))
    assert two_stage >= 0.93
    tuned = fnnet.fit(
        net.apply, params, losses.softmax_cross_entropy, optimizers.adam(3e-3), (xtr, ytr),
        key=jax.random.key(1), epochs=30, batch_size=16, verbose=False,
    )  # fmt: skip
    assert float(jnp.mean(jnp.argmax(net.apply(tuned.params, xte), -1) == yte)) >= two_stage
    assert float(jnp.min(jnp.exp(tuned.params[0].log_sigma))) > 0  # widths stay positive


def test_layer_accepts_one_example_and_bad_input_is_named():
    layer = classic.RBF(3)
    params = layer.init(jax.random.key(0), 2)
    np.testing.assert_allclose(
        layer.apply(params, jnp.ones(2)), layer.apply(params, jnp.ones((1, 2)))[0]
    )
    with pytest.raises(ValueError, match="`widths` must be positive"):
        classic.rbf_params(jnp.zeros((2, 2)), jnp.array([1.0, -0.5]))
    with pytest.raises(ValueError, match="`k` \\(5\\) must be at most"):
        classic.kmeans(jax.random.key(0), jnp.zeros((4, 2)), 5)
    with pytest.raises(ValueError, match="`k`"):
        classic.kmeans(jax.random.key(0), jnp.zeros((4, 2)), 0)
    with pytest.raises(ValueError, match="`targets` must have shape \\(n, m\\)"):
        classic.rbf_two_stage(jax.random.key(0), jnp.zeros((4, 2)), jnp.zeros((3, 2)), 2)
    with pytest.raises(ValueError, match="`units` \\(5\\) must be at most"):
        classic.rbf_two_stage(jax.random.key(0), jnp.zeros((4, 2)), jnp.zeros((4, 2)), 5)
    with pytest.raises(ValueError, match="`x` row 2 contains nan"):
        classic.rbf_two_stage(
            jax.random.key(0), jnp.zeros((4, 2)).at[2, 1].set(jnp.nan), jnp.zeros((4, 2)), 2
        )
    with pytest.raises(ValueError, match="`ridge` must be >= 0"):
        classic.least_squares_output(jnp.ones((3, 2)), jnp.ones((3, 1)), ridge=-1.0)
    with pytest.raises(ValueError, match="`units`"):
        classic.RBF(0)
    with pytest.raises(ValueError, match="`x` has 3 features"):
        layer.apply(params, jnp.ones((2, 3)))
