"""The perceptron: criterion rule vs autodiff, training through the core's train step vs a NumPy
transcription of Rosenblatt's update, the averaged perceptron as Polyak averaging, convergence
(iris setosa) and non-convergence (XOR), digits against scikit-learn, one compilation for
repeated calls, the guard, and bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnnet
from fnnet import activations, classic, optimizers
from fnnet.gradcheck import assert_close


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
        assert_close(value, _reference(s, t))
        assert_close(jax.grad(classic.perceptron_criterion)(s, t), jax.grad(_reference)(s, t))
        jitted = jax.jit(jax.grad(classic.perceptron_criterion))(s, t)
        np.testing.assert_array_equal(jitted, jax.grad(classic.perceptron_criterion)(s, t))


def test_criterion_boundary_counts_as_a_mistake_and_nan_propagates():
    s = jnp.array([[0.0], [0.0], [2.0]])
    t = jnp.array([[1.0], [-1.0], [1.0]])
    g = jax.grad(classic.perceptron_criterion)(s, t)
    assert_close(g, jnp.array([[-1 / 3], [1 / 3], [0.0]]))  # −t [t s ≤ 0] / batch
    nan = jnp.array([[jnp.nan]])
    assert jnp.isnan(classic.perceptron_criterion(nan, jnp.array([[1.0]])))
    assert jnp.isnan(jax.grad(classic.perceptron_criterion)(nan, jnp.array([[1.0]])))


def _numpy_rosenblatt(x, t01, eta, epochs):
    """Rosenblatt's rule as published: o = H(w·x + b), Δw = η (t − o) x, t, o ∈ {0, 1}; the
    boundary s = 0 counts as wrong for either label (the convention of the convergence proof).
    Returns the final (w, b), every iterate, and the rows misclassified after each epoch."""
    w, b, history, errors = np.zeros(x.shape[1]), 0.0, [], []
    for _ in range(epochs):
        for xi, ti in zip(x, t01):
            s = xi @ w + b
            o = 1.0 if s >= 0 else 0.0
            if s == 0:  # on the boundary: wrong, whatever the label
                o = 1.0 - ti
            w, b = w + eta * (ti - o) * xi, b + eta * (ti - o)
            history.append((w.copy(), b))
        margins = (2 * t01 - 1) * (x @ w + b)
        errors.append(int(np.sum(margins <= 0)))
    return w, b, history, errors


def test_training_equals_numpy_transcription_and_averages_the_iterates(x64):
    key = jax.random.key(3)
    x = np.asarray(jax.random.normal(key, (40, 5), jnp.float64))
    t01 = (x @ np.array([1.0, -2.0, 0.5, 0.0, 1.0]) + 0.3 + 0.5 * x[:, 3] ** 2 > 0).astype(float)
    targets = jnp.asarray(2 * t01 - 1)[:, None]
    result = classic.perceptron_fit(
        jnp.asarray(x), targets, key=key, epochs=3, learning_rate=0.5, shuffle=False
    )
    w, b, history, errors = _numpy_rosenblatt(x, t01, 0.5, 3)
    assert_close(result.params.w[:, 0], w)
    assert_close(result.params.b[0], np.float64(b))
    np.testing.assert_array_equal(result.history["errors"], errors)
    # the averaged perceptron: the mean of the weights after every example
    assert_close(result.averaged.w[:, 0], np.mean([h[0] for h in history], 0))
    assert_close(result.averaged.b[0], np.mean([h[1] for h in history]))
    assert_close(
        optimizers.averaged_params(result.state.opt_state), result.averaged
    )  # the transform's state
    assert int(result.state.step) == 3 * 40


def test_one_vs_rest_columns_are_independent_binary_perceptrons(x64):
    key = jax.random.key(4)
    x = jax.random.normal(key, (30, 4), jnp.float64)
    labels = jax.random.randint(jax.random.fold_in(key, 1), (30,), 0, 3)
    targets = classic.signed_targets(labels, 3, dtype=jnp.float64)
    np.testing.assert_array_equal(targets, 2 * jax.nn.one_hot(labels, 3) - 1)
    multi = classic.perceptron_fit(x, targets, key=key, epochs=2, shuffle=False)
    for j in range(3):
        t01 = np.asarray(labels == j, float)
        w, b, _, _ = _numpy_rosenblatt(np.asarray(x), t01, 1.0, 2)
        assert_close(multi.params.w[:, j], w)
        assert_close(multi.params.b[j], np.float64(b))
    s = classic.perceptron_scores(multi.params, x)
    np.testing.assert_array_equal(classic.perceptron_predict(multi.params, x), jnp.argmax(s, -1))


def test_shuffled_epochs_follow_fits_key_schedule(x64):
    """Epoch e visits the rows in the order fnnet.fit's epoch e would (make_epoch's shuffle)."""
    key = jax.random.key(9)
    x = jax.random.normal(key, (12, 3), jnp.float64)
    t = jnp.where(x[:, :1] - x[:, 1:2] > 0, 1.0, -1.0)
    got = classic.perceptron_fit(x, t, key=key, epochs=2)
    order = [
        np.asarray(jax.random.permutation(jax.random.split(jax.random.fold_in(key, e))[0], 12))
        for e in range(2)
    ]
    rows = np.concatenate(order)
    w, b, _, _ = _numpy_rosenblatt(np.asarray(x)[rows], (np.asarray(t)[rows, 0] + 1) / 2, 1.0, 1)
    assert_close(got.params.w[:, 0], w)
    assert_close(got.params.b[0], np.float64(b))


def test_prediction_is_a_class_index_and_a_nan_row_is_minus_one_under_jit():
    params = classic.perceptron_init(2, 1)._replace(w=jnp.array([[1.0], [-1.0]]))
    x = jnp.array([[1.0, 1.0], [0.0, 1.0], [2.0, 0.0]])  # s = 0 → binary_step(0) = 1 → class 1
    np.testing.assert_array_equal(classic.perceptron_predict(params, x), [1, 0, 1])
    np.testing.assert_array_equal(
        classic.perceptron_predict(params, x), activations.binary_step(x @ params.w)[:, 0]
    )
    nan = x.at[1, 0].set(jnp.nan)
    predict = jax.jit(classic.perceptron_predict)
    np.testing.assert_array_equal(predict(params, nan), [1, -1, 1])  # never a valid class
    multi = classic.perceptron_init(2, 3)._replace(b=jnp.array([0.0, 1.0, 0.0]))
    np.testing.assert_array_equal(predict(multi, nan), [1, -1, 1])
    assert bool(jnp.isnan(jax.jit(classic.perceptron_scores)(multi, nan)[1]).all())
    with pytest.raises(ValueError, match="`x` row 1 contains nan"):
        classic.perceptron_predict(params, nan)  # eager: refused, naming the row
    with pytest.raises(ValueError, match="`x` must be 2-D.*x\\[None\\]"):
        classic.perceptron_predict(params, x[1])
    with pytest.raises(ValueError, match="`x` has 3 features.*2 are expected.*w.shape"):
        classic.perceptron_predict(params, jnp.ones((2, 3)))
    np.testing.assert_array_equal(  # integer data is cast, as check_samples documents
        classic.perceptron_predict(params, np.array([[1, 1], [0, 1]])), [1, 0]
    )


def test_learning_rate_is_sweepable_with_vmap():
    x = jax.random.normal(jax.random.key(0), (20, 3))
    t = jnp.where(x[:, :1] > 0, 1.0, -1.0)
    fit = jax.vmap(
        lambda lr: (
            classic.perceptron_fit(x, t, key=jax.random.key(0), epochs=2, learning_rate=lr).params
        )
    )
    params = fit(jnp.array([0.5, 2.0]))
    # from w = 0 the perceptron's weights scale with η; the decisions do not change
    assert_close(params.w[1], 4.0 * params.w[0])


def test_repeated_calls_compile_once(compilations):
    x = jax.random.normal(jax.random.key(1), (23, 7))  # a shape no other test uses
    t = jnp.where(x[:, :1] > 0, 1.0, -1.0)
    with compilations() as first:
        a = classic.perceptron_fit(x, t, key=jax.random.key(0), epochs=3, learning_rate=0.5)
    with compilations() as second:
        b = classic.perceptron_fit(x, t, key=jax.random.key(1), epochs=3, learning_rate=2.0)
    assert len(first) >= 1 and len(second) == 0
    assert not np.array_equal(a.params.w, b.params.w)  # another key and rate: another run


def test_the_guard_rejects_an_overflowing_step():
    x = jnp.array([[1e30, 1.0], [-1e30, 1.0], [3.0, -1.0]])
    t = jnp.array([[1.0], [-1.0], [1.0]])
    fit = classic.perceptron_fit(x, t, key=jax.random.key(0), epochs=2, learning_rate=1e30)
    # the first step would write w = 1e60 = inf (float32): rejected, like every one after it
    assert float(jnp.sum(fit.history["skipped_steps"])) >= 1
    assert bool(jnp.all(jnp.isfinite(fit.params.w))) and bool(jnp.all(jnp.isfinite(fit.averaged.w)))


def test_polyak_average_after_any_optimizer_keeps_its_updates_and_averages_the_iterates():
    params = {"w": jnp.array([1.0, -2.0])}
    grads = [jnp.array([0.5, 1.0]), jnp.array([-1.0, 0.25]), jnp.array([2.0, -0.5])]
    plain, averaged = (
        optimizers.sgd(0.1, momentum=0.9),
        optimizers.chain(optimizers.sgd(0.1, momentum=0.9), optimizers.polyak_average()),
    )
    s_plain, s_avg, p_plain, p_avg, iterates = (
        plain.init(params),
        averaged.init(params),
        params,
        params,
        [],
    )
    for g in grads:
        u, s_plain = plain.update({"w": g}, s_plain, p_plain)
        v, s_avg = averaged.update({"w": g}, s_avg, p_avg)
        np.testing.assert_array_equal(v["w"], u["w"])  # the updates pass through unchanged
        p_plain, p_avg = optimizers.apply_updates(p_plain, u), optimizers.apply_updates(p_avg, v)
        iterates.append(np.asarray(p_avg["w"], np.float64))
    assert_close(optimizers.averaged_params(s_avg)["w"], np.mean(iterates, 0).astype(np.float32))
    assert_close(optimizers.averaged_params(averaged.init(params))["w"], jnp.zeros(2))
    with pytest.raises(optimizers.StateMismatchError, match="exactly one PolyakAverageState"):
        optimizers.averaged_params(s_plain)


def test_converges_on_iris_setosa_and_never_on_xor():
    datasets = pytest.importorskip("sklearn.datasets")
    x, y = datasets.load_iris(return_X_y=True)
    t = jnp.where(jnp.asarray(y)[:, None] == 0, 1.0, -1.0)
    fit = classic.perceptron_fit(x, t, key=jax.random.key(0), epochs=20)  # NumPy float64 in
    assert int(fit.history["errors"][-1]) == 0  # separable: converged
    predictions = classic.perceptron_predict(fit.params, x)
    np.testing.assert_array_equal(predictions, (y == 0).astype(int))
    xor = jnp.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    fit = classic.perceptron_fit(
        xor, jnp.array([[-1.0], [1.0], [1.0], [-1.0]]), key=jax.random.key(0), epochs=200
    )
    assert int(jnp.min(fit.history["errors"])) >= 1  # not separable: never all right


def test_digits_training_accuracy_reaches_scikit_learn_docstring():
    datasets = pytest.importorskip("sklearn.datasets")
    x, y = datasets.load_digits(return_X_y=True)  # raw pixels 0..16, as the docstring
    x = jnp.asarray(x, jnp.float32)
    fit = classic.perceptron_fit(
        x, classic.signed_targets(jnp.asarray(y), 10), key=jax.random.key(0), epochs=22
    )
    accuracy = float(jnp.mean(classic.perceptron_predict(fit.params, x) == y))
    assert accuracy >= 0.939  # Perceptron(tol=1e-3, random_state=0).fit(X, y).score(X, y): 0.939


def test_bad_input_names_the_argument():
    x, t, key = jnp.ones((3, 2)), jnp.ones((3, 1)), jax.random.key(0)
    with pytest.raises(ValueError, match="`labels` must lie in \\[0, 3\\)"):
        classic.signed_targets(jnp.array([0, 1, 3]), 3)
    with pytest.raises(TypeError, match="`labels`"):
        classic.signed_targets(jnp.array([0.0, 1.0]), 3)
    with pytest.raises(TypeError, match="`labels` must be integer class indices.*<U3"):
        classic.signed_targets(np.array(["cat", "dog"]), 2)
    with pytest.raises(ValueError, match="`targets` must hold only -1 and \\+1"):
        classic.perceptron_fit(x, jnp.array([[1.0], [0.0], [1.0]]), key=key, epochs=1)
    with pytest.raises(ValueError, match="`targets` must hold only"):
        classic.perceptron_criterion(jnp.ones((2, 1)), jnp.array([[1.0], [2.0]]))
    with pytest.raises(ValueError, match=r"`targets` must have as many rows as `x` \(3\)"):
        classic.perceptron_fit(x, jnp.ones((2, 1)), key=key, epochs=1)
    with pytest.raises(ValueError, match=r"`targets` must have rank 2 \(n, k\).*signed_targets"):
        classic.perceptron_fit(x, jnp.ones(3), key=key, epochs=1)
    with pytest.raises(ValueError, match="`learning_rate` must be > 0"):
        classic.perceptron_fit(x, t, key=key, epochs=1, learning_rate=-1.0)
    with pytest.raises(ValueError, match="`epochs`"):
        classic.perceptron_fit(x, t, key=key, epochs=0)
    with pytest.raises(TypeError, match="`key`"):
        classic.perceptron_fit(x, t, key=0, epochs=1)
    with pytest.raises(TypeError):  # the key is keyword-only
        classic.perceptron_fit(key, x, t, epochs=1)
    with pytest.raises(ValueError, match="`x` row 1 contains nan"):
        classic.perceptron_fit(x.at[1, 0].set(jnp.nan), t, key=key, epochs=1)
    with pytest.raises(ValueError, match="`x` must be 2-D"):
        classic.perceptron_fit(jnp.ones(3), t, key=key, epochs=1)


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
    assert_close(grads.w[:, 0], expected.astype(np.float32))
    result = fnnet.fit(
        layer.apply, params, classic.perceptron_criterion, optimizers.sgd(1.0), (x, t),
        key=key, epochs=30, batch_size=8, verbose=False,
    )  # fmt: skip
    assert result.history["loss"][-1] == 0.0  # separable: the batch perceptron converges too
