"""RBMs: free energy against enumeration, the CD rule against autodiff, PCD-1 steps against a
NumPy transcription of scikit-learn's BernoulliRBM update, CD-k, sweeps as one program,
monitoring, Gaussian visible units and bad input."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fnnet import boltzmann, optimizers


def _small(key, v=3, h=2, dtype=jnp.float64):
    k1, k2, k3 = jax.random.split(key, 3)
    return boltzmann.RBMParams(
        jax.random.normal(k1, (v, h), dtype),
        0.5 * jax.random.normal(k2, (v,), dtype),
        0.5 * jax.random.normal(k3, (h,), dtype),
    )


def _energy(params, v, h, gaussian):
    w, b, c = (np.asarray(a) for a in params)
    visible = 0.5 * np.sum((v - b) ** 2) if gaussian else -(v @ b)
    return visible - c @ h - v @ w @ h


@pytest.mark.parametrize("gaussian", [False, True])
def test_free_energy_equals_enumeration_over_hidden_states(x64, gaussian):
    params = _small(jax.random.key(0))
    v = np.array([[1.0, 0.0, 1.0], [0.3, 0.9, 0.0]])
    hs = [np.array(h, float) for h in itertools.product([0, 1], repeat=2)]
    expected = [-np.log(sum(np.exp(-_energy(params, row, h, gaussian)) for h in hs)) for row in v]
    got = boltzmann.free_energy(params, jnp.asarray(v), gaussian=gaussian)
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_conditionals_equal_enumeration(x64):
    """p(h_j = 1 | v) = σ(vW + c) and p(v_i = 1 | h) = σ(hWᵀ + b), from the joint by brute force."""
    params = _small(jax.random.key(1))
    v = np.array([1.0, 0.0, 1.0])
    hs = [np.array(h, float) for h in itertools.product([0, 1], repeat=2)]
    weights = np.array([np.exp(-_energy(params, v, h, False)) for h in hs])
    p_h = sum(wt * h for wt, h in zip(weights, hs)) / weights.sum()
    np.testing.assert_allclose(
        boltzmann.hidden_probs(params, jnp.asarray(v)[None])[0], p_h, rtol=1e-12
    )
    vs = [np.array(x, float) for x in itertools.product([0, 1], repeat=3)]
    h = np.array([0.0, 1.0])
    weights = np.array([np.exp(-_energy(params, x, h, False)) for x in vs])
    p_v = sum(wt * x for wt, x in zip(weights, vs)) / weights.sum()
    np.testing.assert_allclose(
        boltzmann.visible_mean(params, jnp.asarray(h)[None])[0], p_v, rtol=1e-12
    )


@pytest.mark.parametrize("gaussian, dtype", [(False, jnp.float32), (True, jnp.float64)])
def test_cd_rule_equals_autodiff_of_free_energy(gaussian, dtype):
    with jax.enable_x64(dtype == jnp.float64):
        key = jax.random.key(2)
        params = _small(key, 5, 4, dtype)
        v_data = jax.random.uniform(jax.random.fold_in(key, 1), (6, 5), dtype)
        v_model = jax.random.uniform(jax.random.fold_in(key, 2), (3, 5), dtype)

        def reference(p):
            w, b, c = p

            def f(v):
                visible = 0.5 * jnp.sum((v - b) ** 2, -1) if gaussian else -(v @ b)
                return visible - jnp.sum(jax.nn.softplus(v @ w + c), -1)

            return jnp.mean(f(v_data)) - jnp.mean(f(v_model))

        rule = jax.grad(boltzmann.free_energy_gap, argnums=1)
        got = jax.jit(rule, static_argnums=0)(gaussian, params, v_data, v_model)
        want = jax.jit(jax.grad(reference))(params)
        rtol = 1e-5 if dtype == jnp.float32 else 1e-12
        for a, b in zip(got, want):
            assert a.dtype == dtype
            np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)
        value = boltzmann.free_energy_gap(gaussian, params, v_data, v_model)
        np.testing.assert_allclose(value, reference(params), rtol=rtol)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def test_pcd1_steps_equal_numpy_transcription_of_scikit_learn(x64):
    """BernoulliRBM._fit: h_pos = σ(vW + c); v_neg ~ σ(h_samples Wᵀ + b); h_neg = σ(v_neg W + c);
    W += η/B (vᵀh_pos − v_negᵀh_neg); b += η/B Σ(v − v_neg); c += η/B Σ(h_pos − h_neg);
    h_samples ← [U < h_neg]. The uniforms U are the ones fnnet draws (documented key use)."""
    key = jax.random.key(3)
    params = boltzmann.rbm_init(key, 6, 4, dtype=jnp.float64)
    data = np.asarray(jax.random.uniform(jax.random.fold_in(key, 9), (3, 5, 6), jnp.float64))
    lr, batch = 0.06, 5
    state = boltzmann.rbm_init_state(params, optimizers.sgd(lr), batch)
    w, b, c = (np.array(a) for a in params)
    h_samples = np.zeros((batch, 4))
    opt = optimizers.sgd(lr)
    step_fn = jax.jit(
        lambda state, v, key: boltzmann.rbm_step(opt, state, v, key, 1, persistent=True)
    )
    for step, v in enumerate(data):
        step_key = jax.random.fold_in(key, step)
        state = step_fn(state, jnp.asarray(v), step_key)
        _, key_chain = jax.random.split(step_key)
        key_v, key_h = jax.random.split(jax.random.fold_in(key_chain, 0))
        u_v = np.asarray(jax.random.uniform(key_v, (batch, 6), jnp.float64))
        u_h = np.asarray(jax.random.uniform(key_h, (batch, 4), jnp.float64))
        h_pos = _sigmoid(v @ w + c)
        v_neg = (u_v < _sigmoid(h_samples @ w.T + b)).astype(float)
        h_neg = _sigmoid(v_neg @ w + c)
        w = w + lr / batch * (v.T @ h_pos - v_neg.T @ h_neg)
        b = b + lr / batch * (v.sum(0) - v_neg.sum(0))
        c = c + lr / batch * (h_pos.sum(0) - h_neg.sum(0))
        h_samples = (u_h < h_neg).astype(float)
        np.testing.assert_allclose(state.params.w, w, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(state.params.b, b, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(state.params.c, c, rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(state.chain, h_samples)


def test_cd_k_runs_k_gibbs_steps_from_the_data():
    key = jax.random.key(4)
    params = boltzmann.rbm_init(key, 6, 3)
    h = jnp.ones((2, 3))

    @jax.jit
    def chains():
        _, h1 = boltzmann.gibbs_chain(key, params, h, 1)
        v2, h2 = boltzmann.gibbs_chain(key, params, h, 2)
        # step 2 continues step 1: from h1 one more draw with the key of step index 1
        key_v, key_h = jax.random.split(jax.random.fold_in(key, 1))
        v_next = boltzmann.bernoulli(key_v, boltzmann.visible_mean(params, h1))
        h_next = boltzmann.bernoulli(key_h, boltzmann.hidden_probs(params, v_next))
        return v2, h2, v_next, h_next

    v2, h2, v_next, h_next = chains()
    np.testing.assert_array_equal(v2, v_next)
    np.testing.assert_array_equal(h2, h_next)
    traced = jax.jit(lambda k: boltzmann.gibbs_chain(key, params, h, k))(jnp.asarray(2))
    np.testing.assert_array_equal(traced[0], v2)


def test_sweep_over_learning_rate_k_and_seed_is_one_program():
    x = (jax.random.uniform(jax.random.key(5), (20, 8)) < 0.3).astype(jnp.float32)

    def run(lr, k, seed):
        key = jax.random.key(seed)
        params = boltzmann.rbm_init(key, 8, 4)
        opt = optimizers.sgd(lr, momentum=0.5)
        state = boltzmann.rbm_init_state(params, opt, 10)
        return boltzmann.train_rbm(key, x, state, opt, epochs=2, batch_size=10, k=k)

    lrs, ks, seeds = (jnp.asarray(a) for a in zip(*itertools.product([0.05, 0.1], [1, 3], [0, 1])))
    sweep = jax.jit(jax.vmap(run))
    states, errors = sweep(lrs, ks, seeds)
    assert errors.shape == (8, 2)
    assert sweep._cache_size() == 1
    single_state, single_errors = run(lrs[5], ks[5], seeds[5])
    np.testing.assert_allclose(states.params.w[5], single_state.params.w, rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(errors[5], single_errors, rtol=2e-5)


def test_training_lowers_reconstruction_error_and_raises_pseudo_likelihood():
    key = jax.random.key(6)
    pattern = jnp.array([[1.0, 1.0, 1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]])
    x = pattern[jax.random.randint(key, (200,), 0, 2)]
    fit = boltzmann.rbm_fit(key, x, 4, optimizer=optimizers.sgd(0.5), epochs=10, k=1)
    params0 = boltzmann.rbm_init(jax.random.fold_in(key, 0), 6, 4)
    errors = fit.history["reconstruction_error"]
    assert errors[-1] < 0.5 * float(boltzmann.reconstruction_error(params0, x))
    assert float(boltzmann.pseudo_log_likelihood(fit.params, x)) > float(
        boltzmann.pseudo_log_likelihood(params0, x)
    )


def test_pseudo_likelihood_is_the_sum_of_conditionals_and_its_estimate_is_unbiased(x64):
    params = _small(jax.random.key(7))
    v = jnp.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    w, b, c = (np.asarray(a) for a in params)
    expected = []
    for row in np.asarray(v):
        total = 0.0
        for j in range(3):
            p1 = _sigmoid(
                b[j]
                + sum(
                    np.log1p(np.exp(row @ w + c + (1 - row[j]) * w[j]))
                    - np.log1p(np.exp(row @ w + c - row[j] * w[j]))
                )
            )
            total += np.log(p1 if row[j] == 1 else 1 - p1)
        expected.append(total)
    exact = boltzmann.pseudo_log_likelihood(params, v, per_unit=False)
    np.testing.assert_allclose(exact, np.mean(expected), rtol=1e-10)
    np.testing.assert_allclose(
        boltzmann.pseudo_log_likelihood(params, v), np.mean(expected) / 3, rtol=1e-10
    )
    keys = jax.random.split(jax.random.key(8), 3000)
    estimates = jax.vmap(
        lambda k: boltzmann.pseudo_log_likelihood(params, v, key=k, per_unit=False)
    )(keys)
    np.testing.assert_allclose(jnp.mean(estimates), exact, rtol=0.05)


def test_gaussian_visible_units_learn_standardised_data():
    key = jax.random.key(10)
    centres = jnp.array([[2.0, 2.0, -2.0, -2.0], [-2.0, -2.0, 2.0, 2.0]])
    x = centres[jax.random.randint(key, (200,), 0, 2)] + 0.3 * jax.random.normal(key, (200, 4))
    x = (x - x.mean(0)) / x.std(0)
    fit = boltzmann.rbm_fit(
        key,
        x,
        4,
        optimizer=optimizers.sgd(0.01, momentum=0.9),
        epochs=10,
        gaussian=True,
    )
    errors = fit.history["reconstruction_error"]
    assert np.all(np.isfinite(errors)) and errors[-1] < 0.5 * errors[0]
    v, _ = boltzmann.gibbs_chain(key, fit.params, jnp.ones((3, 4)), 1, gaussian=True)
    assert v.dtype == jnp.float32 and not np.array_equal(np.asarray(v), np.round(np.asarray(v)))


def test_a_non_finite_step_keeps_the_state():
    key = jax.random.key(11)
    params = boltzmann.rbm_init(key, 3, 2)
    state = boltzmann.rbm_init_state(params, optimizers.sgd(0.1), 2)
    new = boltzmann.rbm_step(
        optimizers.sgd(0.1),
        state,
        jnp.array([[jnp.nan, 0.0, 1.0], [0.0, 1.0, 1.0]]),
        key,
    )
    for a, b in zip(new.params, params):
        np.testing.assert_array_equal(a, b)
    assert int(new.step) == 1


def test_bad_input_names_the_argument():
    key, opt = jax.random.key(0), optimizers.sgd(0.1)
    with pytest.raises(ValueError, match="`x` must lie in \\[0, 1\\] for Bernoulli"):
        boltzmann.rbm_fit(
            key,
            jnp.array([[0.0, 16.0], [1.0, 0.0]]),
            2,
            optimizer=opt,
            epochs=1,
            batch_size=1,
        )
    for k, error in ((0, ValueError), (1.5, TypeError), (jnp.array(0), ValueError)):
        with pytest.raises(error, match="`k`"):
            boltzmann.rbm_fit(key, jnp.ones((4, 2)), 2, optimizer=opt, epochs=1, k=k, batch_size=2)
    with pytest.raises(ValueError, match="`batch_size`"):
        boltzmann.rbm_fit(key, jnp.ones((4, 2)), 2, optimizer=opt, epochs=1, batch_size=5)
    with pytest.raises(TypeError, match="`optimizer`"):
        boltzmann.rbm_fit(key, jnp.ones((4, 2)), 2, optimizer="sgd", epochs=1, batch_size=2)
    with pytest.raises(TypeError, match="`x` must have a floating dtype"):
        boltzmann.rbm_fit(
            key, jnp.ones((4, 2), jnp.int32), 2, optimizer=opt, epochs=1, batch_size=2
        )
    # Gaussian units take any real data
    boltzmann.rbm_fit(
        key,
        jnp.array([[0.0, 16.0], [-1.0, 0.0]]),
        2,
        optimizer=opt,
        epochs=1,
        batch_size=1,
        gaussian=True,
    )


def test_unshuffled_epoch_is_rbm_step_over_the_rows_in_order():
    key, opt = jax.random.key(12), optimizers.sgd(0.1)
    x = (jax.random.uniform(key, (20, 5)) < 0.4).astype(jnp.float32)
    state = boltzmann.rbm_init_state(boltzmann.rbm_init(key, 5, 3), opt, 10)
    got, _ = jax.jit(
        lambda s: boltzmann.train_rbm(
            key, x, s, opt, epochs=1, batch_size=10, persistent=True, shuffle=False
        )
    )(state)
    step = jax.jit(lambda s, v, k: boltzmann.rbm_step(opt, s, v, k, 1, persistent=True))
    want = state
    for i in range(2):
        want = step(
            want, x[10 * i : 10 * (i + 1)], jax.random.fold_in(jax.random.fold_in(key, 0), i + 1)
        )
    for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    with pytest.raises(TypeError, match="`shuffle`"):
        boltzmann.rbm_fit(key, x, 3, optimizer=opt, epochs=1, shuffle="no")
