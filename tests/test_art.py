"""Adaptive resonance theory (fnnet.competitive): Fuzzy ART, ART 1 and simplified Fuzzy ARTMAP
against hand-checked examples and NumPy transcriptions of Carpenter, Grossberg et al.'s
equations; capacity, scaling and argument checks; the vigilance sweep."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fnnet import competitive as C


def _fuzzy_reference(inputs, labels, rho, alpha, beta, eps, complement=True):
    """Fuzzy ART / simplified ARTMAP as in Carpenter et al. (1991, 1992), written with loops.

    Uncommitted nodes (w = 1) join the choice with T = |I| / (α + M) and always pass vigilance;
    the first is committed with w = I. ``labels=None``: unsupervised."""
    W, lab, cats = [], [], []
    for n, a in enumerate(inputs):
        i = np.concatenate([a, 1 - a]) if complement else a
        y = None if labels is None else labels[n]
        t = [np.minimum(i, w).sum() / (alpha + w.sum()) for w in W]
        t.append(i.sum() / (alpha + len(i)))  # the uncommitted node, index len(W)
        vigilance, chosen = rho, None
        for j in sorted(range(len(t)), key=lambda k: (-t[k], k)):
            m = 1.0 if j == len(W) else np.minimum(i, W[j]).sum() / i.sum()
            if m < vigilance:
                if j == len(W):
                    break
                continue
            if j == len(W):
                W.append(i.copy())
                lab.append(y)
                chosen = j
                break
            if y is not None and lab[j] != y:
                vigilance = m + eps  # match tracking
                continue
            W[j] = beta * np.minimum(i, W[j]) + (1 - beta) * W[j]
            chosen = j
            break
        cats.append(-1 if chosen is None else chosen)
    return np.array(W), np.array(cats), lab


def test_fuzzy_art_hand_checked():
    """ρ = 0.8: I2 = (.3,.7) resonates with w0 = (.2,.8) (match 1.8/2 = 0.9); I3 = (.9,.1) has
    match 0.3 and T0 = 0.6/1.801 < T_u = 2/4.001, so it commits a new category."""
    art = C.fuzzy_art(rho=0.8, alpha=1e-3, capacity=3)
    x = jnp.array([[0.2, 0.8], [0.3, 0.7], [0.9, 0.1]])
    state, cats = C.train_art(art, art.init(2), x)
    np.testing.assert_array_equal(cats, [0, 0, 1])
    np.testing.assert_allclose(state.weights[0], [0.2, 0.7, 0.7, 0.2], rtol=1e-6)
    np.testing.assert_allclose(state.weights[1], [0.9, 0.1, 0.1, 0.9], rtol=1e-6)
    np.testing.assert_array_equal(state.committed, [True, True, False])
    np.testing.assert_array_equal(state.weights[2], np.ones(4))  # uncommitted: all ones
    np.testing.assert_array_equal(art.predict(state, x), [0, 0, 1])


def test_uncommitted_node_competes_in_the_choice():
    """ρ = 0: a committed category whose T is below |I|/(α + M) loses to an uncommitted one
    (Carpenter et al.), although it would pass vigilance."""
    art = C.fuzzy_art(rho=0.0, alpha=1e-3, capacity=3)
    x = jnp.array([[0.0, 0.0], [1.0, 1.0]])
    # I2 ∧ w0 = (0, 0, 0, 0): T0 = 0 < 0.5, so I2 commits category 1 rather than joining 0.
    _, cats = C.train_art(art, art.init(2), x)
    np.testing.assert_array_equal(cats, [0, 1])


@pytest.mark.parametrize("rho,beta", [(0.0, 1.0), (0.6, 1.0), (0.75, 0.5), (0.9, 0.3)])
def test_fuzzy_art_matches_numpy_transcription(rho, beta, x64):
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(60, 3))
    W, cats, _ = _fuzzy_reference(x, None, rho, 0.01, beta, 0.0)
    art = C.fuzzy_art(rho=rho, alpha=0.01, beta=beta, capacity=64)
    state, got = C.train_art(art, art.init(3), x)
    np.testing.assert_array_equal(got, cats)
    assert int(C.num_categories(state)) == len(W)
    np.testing.assert_allclose(state.weights[: len(W)], W, rtol=1e-12)


def _art1_reference(inputs, rho, L):
    """ART 1 (Carpenter & Grossberg 1987), fast learning, with explicit bottom-up weights
    z_j = L w_j / (L − 1 + |w_j|) and uncommitted bottom-up weights just below L/(L − 1 + M)."""
    M = inputs.shape[1]
    z0 = L / (L - 1 + M) * (1 - 1e-9)
    top, bottom, cats = [], [], []
    for i in inputs:
        t = [z @ i for z in bottom] + [z0 * i.sum()]
        for j in sorted(range(len(t)), key=lambda k: (-t[k], k)):
            if j == len(top):
                top.append(i.copy())
                bottom.append(L * i / (L - 1 + i.sum()))
                cats.append(j)
                break
            if (i * top[j]).sum() / i.sum() >= rho:
                top[j] = i * top[j]
                bottom[j] = L * top[j] / (L - 1 + top[j].sum())
                cats.append(j)
                break
    return np.array(top), np.array(cats)


def test_art1_matches_the_1987_algorithm():
    rng = np.random.default_rng(1)
    x = (rng.uniform(size=(50, 8)) < 0.4).astype(np.float32)
    x[x.sum(1) == 0, 0] = 1.0
    for rho, L in [(0.3, 2.0), (0.7, 2.0), (0.5, 5.0)]:
        top, cats = _art1_reference(x.astype(np.float64), rho, L)
        art = C.art1(rho=rho, L=L, capacity=64)
        state, got = C.train_art(art, art.init(8), jnp.asarray(x, jnp.int32))
        np.testing.assert_array_equal(got, cats)
        np.testing.assert_array_equal(state.weights[: len(top)], top)


def test_artmap_match_tracking_hand_checked():
    """ρ̄ = 0. I2 = (.3,.7), class 1, picks category 0 (T = 1.8/2.001) which predicts class 0:
    match tracking raises ρ to 0.9 + ε, so the uncommitted node takes it."""
    artmap = C.fuzzy_artmap(rho=0.0, alpha=1e-3, epsilon=1e-3, capacity=4)
    x = jnp.array([[0.2, 0.8], [0.3, 0.7], [0.22, 0.78], [0.3, 0.7]])
    y = jnp.array([0, 1, 0, 0])
    state, cats = C.train_art(artmap, artmap.init(2), x, y)
    # I3 resonates with category 0 (class 0); I4 duplicates category 1 (class 1) with class 0:
    # match 1 + ε > 1 leaves nothing; counted as a conflict, not learned.
    np.testing.assert_array_equal(cats, [0, 1, 0, -1])
    np.testing.assert_array_equal(state.labels[:2], [0, 1])
    assert int(state.conflicts) == 1 and int(state.overflow) == 0
    np.testing.assert_array_equal(artmap.predict(state, x[:3]), [0, 1, 0])


def test_artmap_matches_numpy_transcription(x64):
    rng = np.random.default_rng(2)
    centres = rng.uniform(0.2, 0.8, size=(3, 4))
    y = rng.integers(0, 3, 80)
    x = np.clip(centres[y] + rng.normal(0, 0.12, (80, 4)), 0, 1)
    for rho in (0.0, 0.8):
        W, cats, lab = _fuzzy_reference(x, y, rho, 1e-3, 1.0, 1e-3)
        artmap = C.fuzzy_artmap(rho=rho, alpha=1e-3, epsilon=1e-3, capacity=80)
        state, got = C.train_art(artmap, artmap.init(4), x, jnp.asarray(y))
        np.testing.assert_array_equal(got, cats)
        np.testing.assert_allclose(state.weights[: len(W)], W, rtol=1e-12)
        np.testing.assert_array_equal(state.labels[: len(W)], lab)
        accuracy = float(np.mean(np.asarray(artmap.predict(state, x)) == y))
        assert accuracy > 0.9


def test_incremental_learning_keeps_old_classes():
    """Classes A, then only classes B: the categories of A are untouched by B's inputs."""
    key_a, key_b = jax.random.split(jax.random.key(3))
    xa = jnp.clip(0.25 + 0.05 * jax.random.normal(key_a, (40, 2)), 0, 1)
    xb = jnp.clip(0.75 + 0.05 * jax.random.normal(key_b, (40, 2)), 0, 1)
    artmap = C.fuzzy_artmap(rho=0.5, capacity=32)
    state, _ = C.train_art(artmap, artmap.init(2), xa, jnp.zeros(40, jnp.int32))
    after_a = state.weights[state.committed]
    state, _ = C.train_art(artmap, state, xb, jnp.ones(40, jnp.int32))
    np.testing.assert_array_equal(state.weights[: after_a.shape[0]], after_a)
    assert float(jnp.mean(artmap.predict(state, xa) == 0)) == 1.0
    assert float(jnp.mean(artmap.predict(state, xb) == 1)) == 1.0


def test_capacity_overflow_is_reported():
    art = C.fuzzy_art(rho=0.99, capacity=2)
    x = jnp.array([[0.1, 0.1], [0.5, 0.5], [0.9, 0.9]])
    with pytest.raises(RuntimeError, match="capacity exhausted: 1 inputs"):
        C.train_art(art, art.init(2), x)
    state, cats = C.train_art(art, art.init(2), x, allow_overflow=True)
    np.testing.assert_array_equal(cats, [0, 1, -1])
    assert int(state.overflow) == 1


def test_sweep_vigilance_equals_single_runs():
    rng = np.random.default_rng(4)
    x = jnp.asarray(rng.uniform(size=(40, 2)), jnp.float32)
    y = jnp.asarray(rng.integers(0, 2, 40), jnp.int32)
    rho = jnp.array([0.0, 0.5, 0.9])
    states = C.sweep_vigilance(lambda r: C.fuzzy_artmap(rho=r, capacity=48), rho, x, y)
    counts = np.asarray(C.num_categories(states))
    for k, r in enumerate([0.0, 0.5, 0.9]):
        artmap = C.fuzzy_artmap(rho=r, capacity=48)
        state, _ = C.train_art(artmap, artmap.init(2), x, y)
        assert counts[k] == int(C.num_categories(state))
        np.testing.assert_allclose(states.weights[k], state.weights)
    assert counts[0] <= counts[2] and int(states.overflow.sum()) == 0
    one_at_a_time = C.sweep_vigilance(
        lambda r: C.fuzzy_artmap(rho=r, capacity=48), rho, x, y, batch_size=1
    )
    np.testing.assert_array_equal(one_at_a_time.weights, states.weights)
    preds = jax.vmap(artmap.predict, in_axes=(0, None))(states, x)
    assert preds.shape == (3, 40)


def test_scale_to_unit_and_complement_code():
    x = jnp.array([[0.0, 16.0], [8.0, 4.0]])
    np.testing.assert_allclose(C.scale_to_unit(x, low=0.0, high=16.0), [[0, 1], [0.5, 0.25]])
    np.testing.assert_allclose(
        C.scale_to_unit(x, low=jnp.array([0.0, 4.0]), high=jnp.array([8.0, 16.0])),
        [[0, 1], [1, 0]],
    )
    np.testing.assert_allclose(C.complement_code(jnp.array([0.2, 1.0])), [0.2, 1.0, 0.8, 0.0])
    with pytest.raises(ValueError, match="outside the stated bounds"):
        C.scale_to_unit(x, low=0.0, high=10.0)
    with pytest.raises(ValueError, match="`high` must exceed `low`"):
        C.scale_to_unit(x, low=16.0, high=16.0)


def test_bad_input_names_the_argument():
    for rho in (-0.1, 1.5):
        with pytest.raises(ValueError, match="`rho`"):
            C.fuzzy_art(rho=rho)
    with pytest.raises(ValueError, match="`alpha`"):
        C.fuzzy_artmap(alpha=0.0)
    with pytest.raises(ValueError, match="`beta`"):
        C.fuzzy_art(rho=0.5, beta=1.5)
    with pytest.raises(ValueError, match="`capacity`"):
        C.fuzzy_art(rho=0.5, capacity=0)
    with pytest.raises(ValueError, match="`L`"):
        C.art1(rho=0.5, L=1.0)
    art = C.fuzzy_art(rho=0.5, capacity=4)
    state = art.init(2)
    x2 = jnp.full((3, 2), 0.5)
    with pytest.raises(ValueError, match=r"`x` must lie in \[0, 1\].*scale_to_unit"):
        C.train_art(art, state, jnp.array([[0.5, 3.0]]))
    with pytest.raises(ValueError, match="`x` row 1 contains nan"):
        C.train_art(art, state, jnp.array([[0.5, 0.5], [jnp.nan, 0.1]]))
    with pytest.raises(ValueError, match="`x` has 3 features"):
        C.train_art(art, state, jnp.full((2, 3), 0.5))
    with pytest.raises(ValueError, match="`x` is empty"):
        C.train_art(art, state, jnp.zeros((0, 2)))
    artmap = C.fuzzy_artmap(capacity=4)
    with pytest.raises(ValueError, match="`labels`"):
        C.train_art(artmap, artmap.init(2), jnp.full((3, 2), 0.5), jnp.zeros(2, jnp.int32))
    with pytest.raises(ValueError, match="binary"):
        a1 = C.art1(rho=0.5)
        C.train_art(a1, a1.init(2), jnp.array([[0.5, 1.0]]))
    with pytest.raises(ValueError, match="all-zero"):
        C.train_art(a1, a1.init(2), jnp.array([[0.0, 0.0]]))
    uncoded = C.fuzzy_art(rho=0.5, complement=False)
    with pytest.raises(ValueError, match="all-zero rows; without complement coding"):
        C.train_art(uncoded, uncoded.init(2), jnp.array([[0.5, 0.5], [0.0, 0.0]]))
    assert uncoded.init(2).weights.shape == (512, 2)
    with pytest.raises(TypeError, match="`learner`"):
        C.train_art(object(), state, jnp.full((2, 2), 0.5))
    with pytest.raises(ValueError, match="`batch_size`"):
        C.sweep_vigilance(lambda r: C.fuzzy_art(rho=r), jnp.array([0.5]), x2, batch_size=0)
    with pytest.raises(ValueError, match="`rho` values"):
        C.sweep_vigilance(lambda r: C.fuzzy_art(rho=r), jnp.array([0.5, 1.2]), jnp.ones((3, 2)))


@pytest.mark.slow
def test_art_examples_quick(tmp_path, load_example):
    pytest.importorskip("matplotlib")
    pytest.importorskip("sklearn")
    results = load_example("art_incremental").main(["--quick", "--out", str(tmp_path)])
    assert results["Fuzzy ARTMAP", "B", "A"] > 0.9  # keeps A after learning B
    assert results["MLP", "B", "A"] < 0.5  # forgets A
    sweep = load_example("art_sweep").main(["--quick", "--out", str(tmp_path)])
    assert sweep["accuracy"][-1] > 0.9
    assert {"art_incremental.png", "art_sweep.png"} <= {p.name for p in tmp_path.iterdir()}


def test_new_hyperparameters_do_not_recompile():
    from fnnet.competitive._art_train import _scan

    x = jnp.full((5, 2), 0.5)
    art = C.fuzzy_art(rho=0.3, capacity=6)
    C.train_art(art, art.init(2), x)
    compiled = _scan._cache_size()
    other = C.fuzzy_art(rho=0.8, alpha=0.1, beta=0.5, capacity=6)  # values live in the state
    C.train_art(other, other.init(2), x)
    assert _scan._cache_size() == compiled
