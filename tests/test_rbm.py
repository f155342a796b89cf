"""RBMs: free energy against enumeration, the CD rule against autodiff, PCD-1 training through the
core's train step against a NumPy transcription of scikit-learn's BernoulliRBM update, CD-k,
sweeps as one program, one compilation for repeated rbm_fit calls, monitoring (both
pseudo-likelihood scales, against scikit-learn), transform, Gaussian visible units, the guard
and bad input."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fnnet import boltzmann, optimizers
from fnnet.gradcheck import assert_close


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
    assert_close(got, np.array(expected))


def test_conditionals_equal_enumeration(x64):
    """p(h_j = 1 | v) = σ(vW + c) and p(v_i = 1 | h) = σ(hWᵀ + b), from the joint by brute force."""
    params = _small(jax.random.key(1))
    v = np.array([1.0, 0.0, 1.0])
    hs = [np.array(h, float) for h in itertools.product([0, 1], repeat=2)]
    weights = np.array([np.exp(-_energy(params, v, h, False)) for h in hs])
    p_h = sum(wt * h for wt, h in zip(weights, hs)) / weights.sum()
    assert_close(boltzmann.hidden_probs(params, v[None])[0], p_h)
    vs = [np.array(x, float) for x in itertools.product([0, 1], repeat=3)]
    h = np.array([0.0, 1.0])
    weights = np.array([np.exp(-_energy(params, x, h, False)) for x in vs])
    p_v = sum(wt * x for wt, x in zip(weights, vs)) / weights.sum()
    assert_close(boltzmann.visible_mean(params, h[None])[0], p_v)


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
        assert all(a.dtype == dtype for a in got)
        assert_close(got, jax.jit(jax.grad(reference))(params))
        assert_close(
            boltzmann.free_energy_gap(gaussian, params, v_data, v_model), reference(params)
        )


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _numpy_pcd1(params, x, key, lr, batch, epochs, rejected=()):
    """scikit-learn's BernoulliRBM._fit in NumPy: h_pos = σ(vW + c); v_neg ~ σ(h_samples Wᵀ + b);
    h_neg = σ(v_neg W + c); W += η/B (vᵀh_pos − v_negᵀh_neg); b += η/B Σ(v − v_neg);
    c += η/B Σ(h_pos − h_neg); h_samples ← [U < h_neg]; batches in row order every epoch (the
    last n % B rows left out). The uniforms U are the ones fnnet draws under the documented key
    schedule (fnnet.fit's: epoch e splits fold_in(key, e) into a shuffling and a step key, step s
    uses fold_in(step_key, s); the step's key splits into the CD start and the chain; Gibbs step
    0 splits fold_in(chain_key, 0) into v and h). Steps in ``rejected`` change nothing."""
    w, b, c = (np.array(a) for a in params)
    num_visible, num_hidden = w.shape
    h_samples, errors, step = np.zeros((batch, num_hidden)), [], 0
    for epoch in range(epochs):
        step_key = jax.random.split(jax.random.fold_in(key, epoch))[1]
        for start in range(0, len(x) // batch * batch, batch):
            v = x[start : start + batch]
            chain_key = jax.random.split(jax.random.fold_in(step_key, step))[1]
            key_v, key_h = jax.random.split(jax.random.fold_in(chain_key, 0))
            u_v = np.asarray(jax.random.uniform(key_v, (batch, num_visible), jnp.float64))
            u_h = np.asarray(jax.random.uniform(key_h, (batch, num_hidden), jnp.float64))
            step += 1
            if step - 1 in rejected:
                continue
            h_pos = _sigmoid(v @ w + c)
            v_neg = (u_v < _sigmoid(h_samples @ w.T + b)).astype(float)
            h_neg = _sigmoid(v_neg @ w + c)
            w = w + lr / batch * (v.T @ h_pos - v_neg.T @ h_neg)
            b = b + lr / batch * (v.sum(0) - v_neg.sum(0))
            c = c + lr / batch * (h_pos.sum(0) - h_neg.sum(0))
            h_samples = (u_h < h_neg).astype(float)
        recon = _sigmoid(_sigmoid(x @ w + c) @ w.T + b)
        errors.append(np.mean(np.sum((x - recon) ** 2, -1)) / num_visible)
    return boltzmann.RBMParams(w, b, c), h_samples, np.array(errors)


def _train_pcd1(params, x, key, lr, batch, epochs):
    opt = optimizers.sgd(lr)
    state = boltzmann.rbm_init_state(params, opt, batch)
    return jax.jit(
        lambda s: boltzmann.train_rbm(
            x, s, opt, key=key, epochs=epochs, batch_size=batch, persistent=True, shuffle=False
        )
    )(state)


def test_pcd1_training_equals_numpy_transcription_of_scikit_learn(x64):
    key = jax.random.key(3)
    params = boltzmann.rbm_init(6, 4, key=key, dtype=jnp.float64)
    x = np.asarray(jax.random.uniform(jax.random.fold_in(key, 9), (17, 6), jnp.float64))
    got, errors = _train_pcd1(params, x, key, 0.06, 5, 2)  # 17 rows: 2 left out each epoch
    want, chain, want_errors = _numpy_pcd1(params, x, key, 0.06, 5, 2)
    assert_close(got.params, want)
    np.testing.assert_array_equal(got.model_state, chain)  # the persistent chain
    assert_close(errors, want_errors)
    assert int(got.step) == 6


def test_rows_left_over_by_the_batches_are_not_trained_on():
    key, opt = jax.random.key(12), optimizers.sgd(0.1)
    x = (jax.random.uniform(key, (23, 5)) < 0.4).astype(jnp.float32)
    other = x.at[20:].set(1.0 - x[20:])  # only the 3 rows past 2 batches of 10 differ
    fits = [
        boltzmann.rbm_fit(data, 3, key=key, optimizer=opt, epochs=2, shuffle=False).params
        for data in (x, other)
    ]
    for a, b in zip(*fits):
        np.testing.assert_array_equal(a, b)


def test_cd_k_runs_k_gibbs_steps_from_the_data():
    key = jax.random.key(4)
    params = boltzmann.rbm_init(6, 3, key=key)
    h = jnp.ones((2, 3))

    @jax.jit
    def chains():
        _, h1 = boltzmann.gibbs_chain(params, h, 1, key=key)
        v2, h2 = boltzmann.gibbs_chain(params, h, 2, key=key)
        # step 2 continues step 1: from h1 one more draw with the key of step index 1
        key_v, key_h = jax.random.split(jax.random.fold_in(key, 1))
        draw = lambda p, k: (jax.random.uniform(k, p.shape, p.dtype) < p).astype(p.dtype)
        v_next = draw(boltzmann.visible_mean(params, h1), key_v)  # [u < p], u ~ U[0, 1)
        h_next = draw(boltzmann.hidden_probs(params, v_next), key_h)
        return v2, h2, v_next, h_next

    v2, h2, v_next, h_next = chains()
    np.testing.assert_array_equal(v2, v_next)
    np.testing.assert_array_equal(h2, h_next)
    traced = jax.jit(lambda k: boltzmann.gibbs_chain(params, h, k, key=key))(jnp.asarray(2))
    np.testing.assert_array_equal(traced[0], v2)


def test_sweep_over_learning_rate_k_and_seed_is_one_program(compilations):
    x = (jax.random.uniform(jax.random.key(5), (20, 8)) < 0.3).astype(jnp.float32)

    def run(lr, k, seed):
        key = jax.random.key(seed)
        params = boltzmann.rbm_init(8, 4, key=key)
        opt = optimizers.sgd(lr, momentum=0.5)
        state = boltzmann.rbm_init_state(params, opt, 10)
        return boltzmann.train_rbm(x, state, opt, key=key, epochs=2, batch_size=10, k=k)

    lrs, ks, seeds = (jnp.asarray(a) for a in zip(*itertools.product([0.05, 0.1], [1, 3], [0, 1])))
    sweep = jax.jit(jax.vmap(run))
    states, errors = sweep(lrs, ks, seeds)
    assert errors.shape == (8, 2)
    reversed_lrs = lrs[::-1]
    with compilations() as again:  # other values, same program
        sweep(reversed_lrs, ks, seeds)
    assert again == []
    single_state, single_errors = run(lrs[5], ks[5], seeds[5])
    assert_close(states.params.w[5], single_state.params.w)
    assert_close(errors[5], single_errors)


def test_rbm_fit_with_fresh_optimizers_compiles_once(compilations):
    x = (jax.random.uniform(jax.random.key(13), (30, 7)) < 0.5).astype(jnp.float32)
    kwargs = dict(epochs=2, batch_size=6, persistent=True)  # a shape no other test uses
    with compilations() as first:
        a = boltzmann.rbm_fit(x, 5, key=jax.random.key(0), optimizer=optimizers.sgd(0.06), **kwargs)
    with compilations() as second:
        b = boltzmann.rbm_fit(x, 5, key=jax.random.key(1), optimizer=optimizers.sgd(0.06), **kwargs)
    assert len(first) >= 1 and second == []
    assert not np.array_equal(a.params.w, b.params.w)  # another key: another run


def test_the_documented_keys_and_a_run_continued_epoch_by_epoch():
    """rbm_fit(key) = train_rbm(key=fold_in(key, 1)) from rbm_init(key=fold_in(key, 0)); with
    params= only the training key is used; two train_rbm calls of one epoch = one of two."""
    key = jax.random.key(14)
    x = (jax.random.uniform(key, (20, 6)) < 0.5).astype(jnp.float32)
    opt = optimizers.sgd(0.1)
    default = boltzmann.rbm_fit(x, 3, key=key, optimizer=opt, epochs=2, batch_size=5)
    given = boltzmann.rbm_init(6, 3, key=jax.random.fold_in(key, 0))
    explicit = boltzmann.rbm_fit(x, 3, key=key, optimizer=opt, epochs=2, batch_size=5, params=given)
    state = boltzmann.rbm_init_state(given, opt, 5)
    run = jax.jit(
        lambda s: boltzmann.train_rbm(
            x, s, opt, key=jax.random.fold_in(key, 1), epochs=1, batch_size=5
        )
    )
    (_, first), (twice, second) = run(state), run(run(state)[0])
    for a, b, c in zip(default.params, explicit.params, twice.params):
        np.testing.assert_array_equal(a, b)
        assert_close(c, a)  # the same program up to how XLA compiles one vs two epochs
    assert_close(jnp.concatenate([first, second]), default.history["reconstruction_error"])


def test_training_lowers_reconstruction_error_and_raises_pseudo_likelihood():
    key = jax.random.key(6)
    pattern = jnp.array([[1.0, 1.0, 1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]])
    x = pattern[jax.random.randint(key, (200,), 0, 2)]
    fit = boltzmann.rbm_fit(x, 4, key=key, optimizer=optimizers.sgd(0.5), epochs=10, k=1)
    params0 = boltzmann.rbm_init(6, 4, key=jax.random.fold_in(key, 0))
    errors = fit.history["reconstruction_error"]
    assert errors[-1] < 0.5 * float(boltzmann.reconstruction_error(params0, x))
    assert float(boltzmann.pseudo_log_likelihood(fit.params, x).per_unit) > float(
        boltzmann.pseudo_log_likelihood(params0, x).per_unit
    )
    assert fit.history["skipped_steps"].tolist() == [0.0] * 10


def test_pseudo_likelihood_in_both_scales_and_its_estimate_is_unbiased(x64):
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
    exact = boltzmann.pseudo_log_likelihood(params, np.asarray(v))  # NumPy input works
    assert_close(exact.per_example, np.mean(expected))
    assert_close(exact.per_unit, np.mean(expected) / 3)
    keys = jax.random.split(jax.random.key(8), 3000)
    estimates = jax.vmap(lambda k: boltzmann.pseudo_log_likelihood(params, v, key=k))(keys)
    # tolerance: sampling, not rounding: an unbiased estimate, 3000 draws put the mean within
    # 5% of the exact value
    assert abs(float(jnp.mean(estimates.per_example)) / float(exact.per_example) - 1) < 0.05


def test_per_example_scale_is_scikit_learns_score_samples(x64):
    neural_network = pytest.importorskip("sklearn.neural_network")
    params = _small(jax.random.key(15), 4, 3)
    v = np.array([[1.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 0.0], [1.0, 1.0, 0.0, 0.0]])
    rbm = neural_network.BernoulliRBM(n_components=3)
    rbm.components_, rbm.intercept_hidden_, rbm.intercept_visible_ = (
        np.asarray(params.w).T, np.asarray(params.c), np.asarray(params.b),
    )  # fmt: skip
    rbm.n_features_in_ = 4
    # scikit-learn flips one random unit per row; its mean over seeds is the exact value
    scores = [np.mean(rbm.set_params(random_state=s).score_samples(v)) for s in range(2000)]
    exact = float(boltzmann.pseudo_log_likelihood(params, v).per_example)
    # tolerance: sampling, not rounding: 2000 draws of scikit-learn's estimate, within 5%
    assert abs(np.mean(scores) / exact - 1) < 0.05
    # and transform is scikit-learn's transform (hidden probabilities)
    assert_close(boltzmann.transform(params, v), rbm.transform(v))
    assert_close(boltzmann.transform(params, v), boltzmann.hidden_probs(params, v))


def test_gaussian_visible_units_learn_standardised_data():
    key = jax.random.key(10)
    centres = jnp.array([[2.0, 2.0, -2.0, -2.0], [-2.0, -2.0, 2.0, 2.0]])
    x = centres[jax.random.randint(key, (200,), 0, 2)] + 0.3 * jax.random.normal(key, (200, 4))
    x = (x - x.mean(0)) / x.std(0)
    opt = optimizers.sgd(0.01, momentum=0.9)
    fit = boltzmann.rbm_fit(x, 4, key=key, optimizer=opt, epochs=10, gaussian=True)
    errors = fit.history["reconstruction_error"]
    assert np.all(np.isfinite(errors)) and errors[-1] < 0.5 * errors[0]
    v, _ = boltzmann.gibbs_chain(fit.params, jnp.ones((3, 4)), 1, key=key, gaussian=True)
    assert v.dtype == jnp.float32 and not np.array_equal(np.asarray(v), np.round(np.asarray(v)))


def test_the_guard_keeps_the_state_at_a_non_finite_step(x64):
    """train_rbm is unchecked (rbm_fit refuses NaN data): a NaN row makes the gap NaN, and the
    core's guard keeps params, optimizer state and chain at that step (the NumPy transcription
    with that step left out); an overflowing rate is rejected too."""
    key = jax.random.key(11)
    params = boltzmann.rbm_init(3, 2, key=key, dtype=jnp.float64)
    x = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    x[2, 0] = np.nan  # in step 1's batch
    got, _ = _train_pcd1(params, x, key, 0.1, 2, 2)
    want, chain, _ = _numpy_pcd1(params, np.nan_to_num(x), key, 0.1, 2, 2, rejected=(1, 3))
    assert int(got.step) == 4
    assert_close(got.params, want)
    np.testing.assert_array_equal(got.model_state, chain)
    # an overflowing update (gaussian units on 1e15 data, rate 1e30: |Δb| ~ 1e45 > float32 max)
    # is rejected at every step, reported, and the parameters stay where they started
    fit = boltzmann.rbm_fit(
        np.full((4, 3), 1e15, np.float32), 2, key=key, optimizer=optimizers.sgd(1e30), epochs=2,
        batch_size=2, gaussian=True,
    )  # fmt: skip
    assert fit.history["skipped_steps"].tolist() == [2.0, 2.0]
    start = boltzmann.rbm_init(3, 2, key=jax.random.fold_in(key, 0))
    for a, b in zip(fit.params, start):
        np.testing.assert_array_equal(a, b)


def test_bad_input_names_the_argument():
    key, opt = jax.random.key(0), optimizers.sgd(0.1)
    with pytest.raises(ValueError, match="`x` must lie in \\[0, 1\\].*gaussian=True"):
        boltzmann.rbm_fit(
            jnp.array([[0.0, 16.0], [1.0, 0.0]]), 2, key=key, optimizer=opt, epochs=1, batch_size=1
        )
    for k, error in ((0, ValueError), (1.5, TypeError), (jnp.array(0), ValueError)):
        with pytest.raises(error, match="`k`"):
            boltzmann.rbm_fit(
                jnp.ones((4, 2)), 2, key=key, optimizer=opt, epochs=1, k=k, batch_size=2
            )
    with pytest.raises(ValueError, match="`batch_size`"):
        boltzmann.rbm_fit(jnp.ones((4, 2)), 2, key=key, optimizer=opt, epochs=1, batch_size=5)
    with pytest.raises(TypeError, match="`optimizer`"):
        boltzmann.rbm_fit(jnp.ones((4, 2)), 2, key=key, optimizer="sgd", epochs=1, batch_size=2)
    with pytest.raises(TypeError, match="`shuffle`"):
        boltzmann.rbm_fit(jnp.ones((4, 2)), 2, key=key, optimizer=opt, epochs=1, shuffle="no")
    with pytest.raises(TypeError):  # the key is keyword-only
        boltzmann.rbm_fit(key, jnp.ones((4, 2)), 2, optimizer=opt, epochs=1)
    # integer data is cast (0/1 pixels as ints) and gives the float data's result
    ints = boltzmann.rbm_fit(
        np.eye(4, dtype=np.int32), 2, key=key, optimizer=opt, epochs=1, batch_size=2
    )
    floats = boltzmann.rbm_fit(jnp.eye(4), 2, key=key, optimizer=opt, epochs=1, batch_size=2)
    assert_close(ints.params, floats.params)
    # Gaussian units take any real data, but not NaN (it would skip every step)
    data = jnp.array([[0.0, 16.0], [-1.0, 0.0]])
    boltzmann.rbm_fit(data, 2, key=key, optimizer=opt, epochs=1, batch_size=1, gaussian=True)
    with pytest.raises(ValueError, match="`x` row 1 contains nan"):
        boltzmann.rbm_fit(
            data.at[1, 0].set(jnp.nan), 2, key=key, optimizer=opt, epochs=1, batch_size=1,
            gaussian=True,
        )  # fmt: skip


def test_data_of_the_wrong_width_or_range_is_named_at_every_entry():
    key, opt = jax.random.key(0), optimizers.sgd(0.1)
    params = boltzmann.rbm_init(64, 3, key=key)
    x6 = jnp.full((5, 6), 0.5)
    width = "`x` has 6 features .* but 64 are expected \\(from the weights, params.w.shape = \\(64, 3\\)\\)"
    with pytest.raises(ValueError, match=width):
        boltzmann.rbm_fit(x6, 3, key=key, optimizer=opt, epochs=1, params=params)
    with pytest.raises(ValueError, match="`num_hidden` \\(4\\) must equal the hidden units"):
        boltzmann.rbm_fit(
            jnp.full((5, 64), 0.5), 4, key=key, optimizer=opt, epochs=1, params=params
        )
    with pytest.raises(ValueError, match="`v` has 6 features"):
        boltzmann.hidden_probs(params, x6)
    with pytest.raises(ValueError, match="`v` has 6 features"):
        jax.jit(boltzmann.hidden_probs)(params, x6)  # shapes are checked under jit too
    with pytest.raises(ValueError, match="`x` has 6 features"):
        boltzmann.transform(params, x6)
    with pytest.raises(ValueError, match="`h` has 6 features .* but 3 are expected"):
        boltzmann.visible_mean(params, x6)
    with pytest.raises(ValueError, match="`v` must lie in \\[0, 1\\]"):
        boltzmann.pseudo_log_likelihood(params, jnp.full((2, 64), 2.0))
    with pytest.raises(ValueError, match="`v` must lie in \\[0, 1\\]"):
        boltzmann.reconstruction_error(params, jnp.full((2, 64), -1.0))
    with pytest.raises(ValueError, match="`v` row 0 contains nan"):
        boltzmann.hidden_probs(params, jnp.full((2, 64), jnp.nan))
    with pytest.raises(ValueError, match="`v` must be 2-D.*v\\[None\\]"):
        boltzmann.free_energy(params, jnp.zeros(64))
    with pytest.raises(TypeError, match="`params` must be RBMParams"):
        boltzmann.hidden_probs((params.w, params.b), jnp.zeros((1, 64)))
    # under jit a NaN row cannot raise: NaN in, NaN out
    probs = jax.jit(boltzmann.hidden_probs)(params, jnp.zeros((2, 64)).at[1, 0].set(jnp.nan))
    assert not bool(jnp.isnan(probs[0]).any()) and bool(jnp.isnan(probs[1]).all())
