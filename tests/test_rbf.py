"""RBF networks: the Gaussian layer's rule against autodiff of a broadcast reference and a NumPy
transcription of one gradient step, k-means against a NumPy Lloyd, Haykin's width, the
least-squares output, two-stage + fine-tuning on iris, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnnet
from fnnet import classic, losses, optimizers
from fnnet.gradcheck import assert_close


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
        assert_close(phi, _reference(params, x))

        def loss(fn):
            return lambda p, x: jnp.sum(jnp.cos(3.0 * fn(p, x)))

        got = jax.jit(jax.grad(loss(classic.gaussian_rbf), argnums=(0, 1)))(params, x)
        want = jax.grad(loss(_reference), argnums=(0, 1))(params, x)
        assert_close(got, want)


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
    assert_close(grads[0].centres, np.sum(u * diff / s**2, 0))
    assert_close(grads[0].log_sigma, np.sum(u * diff**2 / s**2, 0))


def test_kmeans_equals_numpy_lloyd_from_the_same_start(x64):
    key = jax.random.key(4)
    x = jax.random.normal(key, (60, 2), jnp.float64) + jnp.repeat(
        jnp.array([[4.0, 0.0], [0.0, 4.0], [-4.0, -4.0]]), 20, axis=0
    )
    for iterations in (2,):
        centres, inertia = classic.kmeans(x, 3, key=key, iterations=iterations, restarts=1)
        start = jax.random.split(key, 1)[0]
        c = np.asarray(x)[np.asarray(jax.random.choice(start, 60, (3,), replace=False))]
        xn = np.asarray(x)
        for _ in range(iterations):
            labels = np.argmin(((xn[:, None] - c[None]) ** 2).sum(-1), 1)
            c = np.array(
                [xn[labels == j].mean(0) if np.any(labels == j) else c[j] for j in range(3)]
            )
        assert_close(centres, c)
        assert_close(inertia, np.min(((xn[:, None] - c[None]) ** 2).sum(-1), 1).sum())
    expected = np.array([[4.0, 0.0], [0.0, 4.0], [-4.0, -4.0]])
    found = np.asarray(classic.kmeans(x, 3, key=key, restarts=4)[0])
    # tolerance: sampling, not rounding: the three generating centres, each found within 0.5
    # (20 normal samples per cluster)
    assert np.max(np.abs(np.sort(found, 0) - np.sort(expected, 0))) < 0.5


def test_haykin_width_and_least_squares(x64):
    c = jnp.array([[0.0, 0.0], [3.0, 4.0], [1.0, 1.0], [0.0, 1.0]])
    assert_close(classic.haykin_width(c), np.float64(5.0 / np.sqrt(8.0)))
    f = jax.random.uniform(jax.random.key(5), (20, 4), jnp.float64)
    t = jax.random.normal(jax.random.key(6), (20, 3), jnp.float64)
    out = classic.least_squares_output(f, t, ridge=0.0)
    design = np.hstack([np.asarray(f), np.ones((20, 1))])
    solution = np.linalg.lstsq(design, np.asarray(t), rcond=None)[0]
    assert_close(out, fnnet.layers.DenseParams(solution[:4], solution[4]))


def test_two_stage_then_fine_tuning_on_iris():
    datasets = pytest.importorskip("sklearn.datasets")
    x, y = datasets.load_iris(return_X_y=True)
    (xtr, ytr), (xte, yte) = fnnet.data.train_test_split(
        jax.random.key(0), jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.int32)
    )
    (xtr, xte), _ = fnnet.data.standardize(xtr, xte)
    params = classic.rbf_two_stage(xtr, jax.nn.one_hot(ytr, 3), 30, key=jax.random.key(0))
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
    layer, key = classic.RBF(3), jax.random.key(0)
    params = layer.init(jax.random.key(0), 2)
    np.testing.assert_array_equal(
        layer.apply(params, jnp.ones(2)), layer.apply(params, jnp.ones((1, 2)))[0]
    )
    with pytest.raises(ValueError, match="`widths` must be positive"):
        classic.rbf_params(jnp.zeros((2, 2)), jnp.array([1.0, -0.5]))
    with pytest.raises(ValueError, match="`k` \\(5\\) must be at most"):
        classic.kmeans(jnp.zeros((4, 2)), 5, key=key)
    with pytest.raises(ValueError, match="`k`"):
        classic.kmeans(jnp.zeros((4, 2)), 0, key=key)
    with pytest.raises(ValueError, match="`targets` must have as many rows as `x` \\(4\\)"):
        classic.rbf_two_stage(jnp.zeros((4, 2)), jnp.zeros((3, 2)), 2, key=key)
    with pytest.raises(ValueError, match="`targets` must be 2-D"):
        classic.rbf_two_stage(jnp.zeros((4, 2)), jnp.zeros(4), 2, key=key)
    with pytest.raises(ValueError, match="`units` \\(5\\) must be at most"):
        classic.rbf_two_stage(jnp.zeros((4, 2)), jnp.zeros((4, 2)), 5, key=key)
    with pytest.raises(ValueError, match="`x` row 2 contains nan"):
        classic.rbf_two_stage(
            jnp.zeros((4, 2)).at[2, 1].set(jnp.nan), jnp.zeros((4, 2)), 2, key=key
        )
    with pytest.raises(TypeError):  # the key is keyword-only
        classic.rbf_two_stage(key, jnp.zeros((4, 2)), jnp.zeros((4, 2)), 2)
    with pytest.raises(ValueError, match="`features` row 1 contains inf"):
        classic.least_squares_output(jnp.ones((3, 2)).at[1, 0].set(jnp.inf), jnp.ones((3, 1)))
    with pytest.raises(ValueError, match="`ridge` must be >= 0"):
        classic.least_squares_output(jnp.ones((3, 2)), jnp.ones((3, 1)), ridge=-1.0)
    with pytest.raises(ValueError, match="`units`"):
        classic.RBF(0)
    with pytest.raises(ValueError, match="`x` has 3 features"):
        layer.apply(params, jnp.ones((2, 3)))


def test_kmeans_refuses_non_finite_data_and_takes_the_key_by_keyword(x64):
    x = jnp.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [5.0, 5.0]])
    with pytest.raises(ValueError, match="`x` row 3 contains nan"):
        classic.kmeans(x.at[3, 1].set(jnp.nan), 2, key=jax.random.key(0))
    with pytest.raises(ValueError, match="`x` must be 2-D.*x\\[None\\]"):
        classic.kmeans(x[0], 1, key=jax.random.key(0))
    with pytest.raises(TypeError):
        classic.kmeans(jax.random.key(0), x, 2)
    # integer data is cast (check_samples), and gives the float data's answer
    ints = classic.kmeans(np.array([[0, 0], [1, 0], [0, 1], [5, 5]]), 2, key=jax.random.key(1))
    floats = classic.kmeans(x, 2, key=jax.random.key(1))
    assert_close(ints, floats)


def test_rbf_params_names_widths_of_the_wrong_shape():
    centres = jnp.zeros((3, 2))
    with pytest.raises(
        ValueError, match="`widths` must be a scalar, \\(3,\\).*\\(3, 2\\).*\\(5,\\)"
    ):
        classic.rbf_params(centres, jnp.ones(5))
    with pytest.raises(ValueError, match="`widths`"):
        classic.rbf_params(centres, jnp.ones((3, 5)))
    for widths, sigma in ((2.0, np.full((3, 2), 2.0)), (jnp.array([1.0, 2.0, 4.0]), None)):
        sigma = np.repeat(np.asarray(widths)[:, None], 2, 1) if sigma is None else sigma
        assert_close(jnp.exp(classic.rbf_params(centres, widths).log_sigma), sigma)


def test_rbf_init_follows_the_layer_contract():
    layer = classic.RBF(3)
    with pytest.raises(ValueError, match="`input_shape` must be a feature count"):
        layer.init(jax.random.key(0), None)
    with pytest.raises(TypeError, match="`key`"):
        layer.init(0, 2)
    assert layer.init(jax.random.key(0), (5, 2)).centres.shape == (3, 2)
    np.testing.assert_array_equal(
        layer.init(jax.random.key(0), 2).centres, layer.init(jax.random.key(0), (7, 2)).centres
    )
