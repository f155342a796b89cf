"""The perceptron: criterion rule vs autodiff, the online rule vs a NumPy transcription of
Rosenblatt's update, the averaged perceptron, convergence (iris setosa) and non-convergence (XOR),
digits against scikit-learn's published figure, and bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnnet
from fnnet import activations, classic, optimizers


def _reference(scores, targets):
    return jnp.mean(jnp.sum(jnp.maximum(0.0, -targets * scores), axis=-1))


@pytest.mark.parametrize(
    "shape, dtype", [((7, 1), jnp.float32), ((5, 3), jnp.float64), ((4,), jnp.float32)]
)
def test_criterion_forward_and_gradient_match_autodiff(dtype, shape):
    with jax.enable_x64(dtype == jnp.float64):
        k1, k2 = jax.random.split(jax.random.key(1))
        s = jax.random.normal(k1, shape, dtype)
        s = jnp.where(jnp.abs(s) < 0.1, s + jnp.sign(s) * 0.1 + 0.05, s)  # away from the kink
        t = jnp.where(jax.random.normal(k2, shape) > 0, 1.0, -1.0).astype(dtype)
        value = classic.perceptron_criterion(s, t)
        assert value.dtype == dtype
        np.testing.assert_allclose(value, _reference(s, t), rtol=1e-6)
        np.testing.assert_allclose(
            jax.grad(classic.perceptron_criterion)(s, t),
            jax.grad(_reference)(s, t),
            rtol=1e-6,
        )
        jitted = jax.jit(jax.grad(classic.perceptron_criterion))(s, t)
        np.testing.assert_array_equal(jitted, jax.grad(classic.perceptron_criterion)(s, t))


def test_criterion_boundary_counts_as_a_mistake_and_nan_propagates():
    s = jnp.array([[0.0], [0.0], [2.0]])
    t = jnp.array([[1.0], [-1.0], [1.0]])
    g = jax.grad(classic.perceptron_criterion)(s, t)
    np.testing.assert_allclose(g, [[-1 / 3], [1 / 3], [0.0]], rtol=1e-7)  # −t [t s ≤ 0] / batch
    nan = jnp.array([[jnp.nan]])
    assert jnp.isnan(classic.perceptron_criterion(nan, jnp.array([[1.0]])))
    assert jnp.isnan(jax.grad(classic.perceptron_criterion)(nan, jnp.array([[1.0]])))


def _numpy_rosenblatt(x, t01, eta, epochs):
    """Rosenblatt's rule as published: o = H(w·x + b), Δw = η (t − o) x, t, o ∈ {0, 1}; the
    boundary s = 0 counts as wrong for either label (the convention of the convergence proof)."""
    w, b, history = np.zeros(x.shape[1]), 0.0, []
    for _ in range(epochs):
        for xi, ti in zip(x, t01):
            s = xi @ w + b
            o = 1.0 if s >= 0 else 0.0
            if s == 0:  # on the boundary: wrong, whatever the label
                o = 1.0 - ti
            w, b = w + eta * (ti - o) * xi, b + eta * (ti - o)
            history.append((w.copy(), b))
    return w, b, history


def test_online_rule_equals_numpy_transcription(x64):
    key = jax.random.key(3)
    x = np.asarray(jax.random.normal(key, (40, 5), jnp.float64))
    t01 = (x @ np.array([1.0, -2.0, 0.5, 0.0, 1.0]) + 0.3 + 0.5 * x[:, 3] ** 2 > 0).astype(float)
    targets = jnp.asarray(2 * t01 - 1)[:, None]
    result = classic.perceptron_fit(
        key, jnp.asarray(x), targets, epochs=3, learning_rate=0.5, shuffle=False
    )
    w, b, history = _numpy_rosenblatt(x, t01, 0.5, 3)
    np.testing.assert_allclose(result.params.w[:, 0], w, rtol=1e-12)
    np.testing.assert_allclose(result.params.b[0], b, rtol=1e-12)
    # the averaged perceptron: the mean of the weights after every example
    np.testing.assert_allclose(
        result.averaged.w[:, 0], np.mean([h[0] for h in history], 0), rtol=1e-12
    )
    np.testing.assert_allclose(result.averaged.b[0], np.mean([h[1] for h in history]), rtol=1e-12)
    # first steps one at a time
    state = classic.PerceptronState(
        classic.perceptron_init(5, 1, dtype=jnp.float64),
        classic.perceptron_init(5, 1, dtype=jnp.float64),
        jnp.zeros((), jnp.int32),
    )
    for i in range(4):
        state, mistake = classic.perceptron_step(state, jnp.asarray(x[i]), targets[i], 0.5)
        np.testing.assert_allclose(state.params.w[:, 0], history[i][0], rtol=1e-12)
        assert bool(mistake) == (i == 0 or not np.array_equal(history[i][0], history[i - 1][0]))


def test_one_vs_rest_columns_are_independent_binary_perceptrons(x64):
    key = jax.random.key(4)
    x = jax.random.normal(key, (30, 4), jnp.float64)
    labels = jax.random.randint(jax.random.fold_in(key, 1), (30,), 0, 3)
    targets = classic.signed_targets(labels, 3, dtype=jnp.float64)
    np.testing.assert_array_equal(targets, 2 * jax.nn.one_hot(labels, 3) - 1)
    multi = classic.perceptron_fit(key, x, targets, epochs=2, shuffle=False)
    for j in range(3):
        t01 = np.asarray(labels == j, float)
        w, b, _ = _numpy_rosenblatt(np.asarray(x), t01, 1.0, 2)
        np.testing.assert_allclose(multi.params.w[:, j], w, rtol=1e-12)
        np.testing.assert_allclose(multi.params.b[j], b, rtol=1e-12)
    s = classic.perceptron_scores(multi.params, x)
    np.testing.assert_array_equal(classic.perceptron_predict(multi.params, x), jnp.argmax(s, -1))


def test_binary_prediction_is_binary_step_and_accepts_one_example():
    params = classic.perceptron_init(2, 1)._replace(w=jnp.array([[1.0], [-1.0]]))
    x = jnp.array([[1.0, 1.0], [0.0, 1.0], [2.0, 0.0]])  # s = 0 → binary_step(0) = 1 → +1
    np.testing.assert_array_equal(classic.perceptron_predict(params, x), [1, -1, 1])
    assert classic.perceptron_predict(params, x[1]) == -1
    np.testing.assert_array_equal(
        classic.perceptron_predict(params, x),
        2 * activations.binary_step(x @ params.w)[:, 0] - 1,
    )


def test_learning_rate_is_sweepable_with_vmap():
    x = jax.random.normal(jax.random.key(0), (20, 3))
    t = jnp.where(x[:, :1] > 0, 1.0, -1.0)
    fit = jax.vmap(
        lambda lr: (
            classic.perceptron_fit(jax.random.key(0), x, t, epochs=2, learning_rate=lr).params
        )
    )
    params = fit(jnp.array([0.5, 2.0]))
    # from w = 0 the perceptron's weights scale with η; the decisions do not change
    np.testing.assert_allclose(params.w[1], 4.0 * params.w[0], rtol=1e-5)


def test_converges_on_iris_setosa_and_never_on_xor():
    datasets = pytest.importorskip("sklearn.datasets")
    x, y = datasets.load_iris(return_X_y=True)
    t = jnp.where(jnp.asarray(y)[:, None] == 0, 1.0, -1.0)
    fit = classic.perceptron_fit(jax.random.key(0), jnp.asarray(x, jnp.float32), t, epochs=20)
    assert int(fit.mistakes[-1]) == 0  # separable: stops making mistakes
    predictions = classic.perceptron_predict(fit.params, jnp.asarray(x, jnp.float32))
    np.testing.assert_array_equal(predictions, np.where(y == 0, 1, -1))
    xor = jnp.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    fit = classic.perceptron_fit(
        jax.random.key(0), xor, jnp.array([[-1.0], [1.0], [1.0], [-1.0]]), epochs=200
    )
    assert int(jnp.min(fit.mistakes)) >= 1  # not separable: a mistake in every epoch


def test_digits_training_accuracy_reaches_scikit_learn_docstring():
    datasets = pytest.importorskip("sklearn.datasets")
    x, y = datasets.load_digits(return_X_y=True)  # raw pixels 0..16, as the docstring
    x = jnp.asarray(x, jnp.float32)
    fit = classic.perceptron_fit(
        jax.random.key(0), x, classic.signed_targets(jnp.asarray(y), 10), epochs=22
    )
    accuracy = float(jnp.mean(classic.perceptron_predict(fit.params, x) == y))
    assert accuracy >= 0.939  # Perceptron(tol=1e-3, random_state=0).fit(X, y).score(X, y): 0.939


def test_bad_input_names_the_argument():
    x, t = jnp.ones((3, 2)), jnp.ones((3, 1))
    with pytest.raises(ValueError, match="`labels` must lie in \\[0, 3\\)"):
        classic.signed_targets(jnp.array([0, 1, 3]), 3)
    with pytest.raises(TypeError, match="`labels`"):
        classic.signed_targets(jnp.array([0.0, 1.0]), 3)
    with pytest.raises(ValueError, match="`targets` must hold only -1 and \\+1"):
        classic.perceptron_fit(jax.random.key(0), x, jnp.array([[1.0], [0.0], [1.0]]), epochs=1)
    with pytest.raises(ValueError, match="`targets` must hold only"):
        classic.perceptron_criterion(jnp.ones((2, 1)), jnp.array([[1.0], [2.0]]))
    with pytest.raises(ValueError, match="`targets` must have shape \\(n, k\\)"):
        classic.perceptron_fit(jax.random.key(0), x, jnp.ones((2, 1)), epochs=1)
    with pytest.raises(ValueError, match="`learning_rate` must be > 0"):
        classic.perceptron_fit(jax.random.key(0), x, t, epochs=1, learning_rate=-1.0)
    with pytest.raises(ValueError, match="`epochs`"):
        classic.perceptron_fit(jax.random.key(0), x, t, epochs=0)
    with pytest.raises(TypeError, match="`key`"):
        classic.perceptron_fit(0, x, t, epochs=1)


def test_batch_perceptron_through_fit_steps_by_the_mean_of_the_rules():
    key = jax.random.key(5)
    x = jax.random.normal(key, (40, 3))
    t = jnp.where(x @ jnp.array([1.0, -1.0, 0.5]) + 0.2 > 0, 1.0, -1.0)[:, None]
    layer = fnnet.Dense(1)
    params = classic.perceptron_init(3, 1)._replace(b=jnp.array([0.3]))
    grads = jax.grad(lambda p: classic.perceptron_criterion(layer.apply(p, x), t))(params)
    s = np.asarray(x @ params.w + params.b)
    mistakes = (np.asarray(t) * s <= 0)[:, 0]
    expected = -(np.asarray(t)[mistakes, 0, None] * np.asarray(x)[mistakes]).sum(0) / 40
    np.testing.assert_allclose(grads.w[:, 0], expected, rtol=1e-6)
    result = fnnet.fit(
        layer.apply, params, classic.perceptron_criterion, optimizers.sgd(1.0), (x, t),
        key=key, epochs=30, batch_size=8, verbose=False,
    )  # fmt: skip
    assert result.history["loss"][-1] == 0.0  # separable: the batch perceptron converges too
