"""Adaptive resonance theory (fnnet.competitive): Fuzzy ART, ART 1 and simplified Fuzzy ARTMAP
against hand-checked examples and NumPy transcriptions of Carpenter, Grossberg et al.'s
equations; capacity, scaling and argument checks; the vigilance sweep; ties independent of
the capacity; the data checks of every function and the NaN rule under jit."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fnnet import competitive as C
from fnnet.competitive._art_search import first_choice, tie_tolerance
from fnnet.competitive._scaling import complement_code
from fnnet.gradcheck import assert_close


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
    assert_close(state.weights[0], np.array([0.2, 0.7, 0.7, 0.2], np.float32))
    assert_close(state.weights[1], np.array([0.9, 0.1, 0.1, 0.9], np.float32))
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
    assert_close(state.weights[: len(W)], W)


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
        assert_close(state.weights[: len(W)], W)
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
        np.testing.assert_array_equal(states.weights[k], state.weights)
    assert counts[0] <= counts[2] and int(states.overflow.sum()) == 0
    one_at_a_time = C.sweep_vigilance(
        lambda r: C.fuzzy_artmap(rho=r, capacity=48), rho, x, y, batch_size=1
    )
    np.testing.assert_array_equal(one_at_a_time.weights, states.weights)
    preds = jax.vmap(artmap.predict, in_axes=(0, None))(states, x)
    assert preds.shape == (3, 40)


def test_scale_to_unit_and_complement_code():
    x = jnp.array([[0.0, 16.0], [8.0, 4.0]])
    np.testing.assert_array_equal(C.scale_to_unit(x, low=0.0, high=16.0), [[0, 1], [0.5, 0.25]])
    np.testing.assert_array_equal(
        C.scale_to_unit(x, low=jnp.array([0.0, 4.0]), high=jnp.array([8.0, 16.0])),
        [[0, 1], [1, 0]],
    )
    assert_close(complement_code(jnp.array([0.2, 1.0])), np.array([0.2, 1.0, 0.8, 0.0], np.float32))
    with pytest.raises(ValueError, match="outside the stated bounds"):
        C.scale_to_unit(x, low=0.0, high=10.0)
    with pytest.raises(ValueError, match="`high` must exceed `low`"):
        C.scale_to_unit(x, low=16.0, high=16.0)
    with pytest.raises(ValueError, match="`x` row 1 contains nan"):
        C.scale_to_unit(x.at[1, 0].set(jnp.nan), low=0.0, high=16.0)
    with pytest.raises(ValueError, match=r"1-D.*x\[None\]"):
        C.scale_to_unit(x[0], low=0.0, high=16.0)
    pixels = np.array([[0, 16], [8, 4]])  # int data: cast to the default float
    np.testing.assert_array_equal(C.scale_to_unit(pixels, low=0, high=16), [[0, 1], [0.5, 0.25]])


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


def test_predict_and_update_are_one_program_per_shape(compilations):
    """``predict`` and the per-sample ``update`` run compiled: a new batch shape costs one XLA
    program (op by op it was dozens, ~2 s for a 512-category ARTMAP), a repeated one none, and
    the answers are those of the same rules inside ``train_art``'s scan."""
    rng = np.random.default_rng(4)
    x = rng.uniform(size=(30, 3)).astype(np.float32)  # NumPy: slicing it compiles nothing
    labels = rng.integers(0, 3, 30).astype(np.int32)
    for learner, y in ((C.fuzzy_art(rho=0.6, capacity=64), None),
                       (C.fuzzy_artmap(rho=0.6, capacity=64), labels)):  # fmt: skip
        head, rest = np.split(x, [20])
        y_head, y_rest = (None, None) if y is None else np.split(y, [20])
        state, _ = C.train_art(learner, learner.init(3, dtype=jnp.float32), head, y_head)
        learner.predict(state, x[:2])  # this kind's program for 2 rows, compiled here
        rest_on_device = jnp.asarray(rest)
        with compilations() as first:
            got = learner.predict(state, rest_on_device)
        with compilations() as again:
            assert_close(learner.predict(state, rest_on_device), got)
        assert len(first) == 1 and again == []
        online = state
        for i in range(10):
            online, _ = learner.update(online, rest[i], None if y is None else y_rest[i])
        batch, _ = C.train_art(learner, state, rest, y_rest)
        assert_close(online.weights, batch.weights)
        np.testing.assert_array_equal(online.committed, batch.committed)


def test_new_hyperparameters_do_not_recompile(compilations):
    x = jnp.full((5, 2), 0.5)
    art = C.fuzzy_art(rho=0.3, capacity=6)
    with compilations() as first:
        C.train_art(art, art.init(2), x)
    other = C.fuzzy_art(rho=0.8, alpha=0.1, beta=0.5, capacity=6)  # values live in the state
    with compilations() as again:
        C.train_art(other, other.init(2), x)
    assert first and again == []


def test_ties_go_to_the_lowest_index_at_every_capacity(x64):
    """Issue 20's case: iris, ρ 0.9, a stratified 67/33 split seeded 2, float64. Two categories
    whose choice values are equal in real arithmetic used to be ordered by the last bit of an
    XLA row sum whose order depends on the matrix shape (37 categories at capacity 128, 36 at
    512 and 1024). Now every capacity agrees with the float64 NumPy transcription (whose loop
    sorts by (−T, index)), as artlib 0.1.12 does (37)."""
    datasets = pytest.importorskip("sklearn.datasets")
    selection = pytest.importorskip("sklearn.model_selection")
    x, y = datasets.load_iris(return_X_y=True)
    x = (x - x.min(0)) / (x.max(0) - x.min(0))
    x, _, y, _ = selection.train_test_split(x, y, test_size=0.33, random_state=2, stratify=y)
    W, cats, labels = _fuzzy_reference(x, y, 0.9, 1e-3, 1.0, 1e-6)
    assert len(W) == 37
    for capacity in (128, 512, 1024):  # the issue saw 37 at 128, 36 at 512 and 1024
        artmap = C.fuzzy_artmap(rho=0.9, alpha=1e-3, epsilon=1e-6, capacity=capacity)
        state, got = C.train_art(artmap, artmap.init(4), x, jnp.asarray(y))
        np.testing.assert_array_equal(got, cats, err_msg=f"capacity {capacity}")
        np.testing.assert_array_equal(state.labels[: len(W)], labels)
    np.testing.assert_array_equal(artmap.predict(state, x), y)  # each row: its own class


def test_a_tie_up_to_rounding_goes_to_the_lowest_index(x64):
    """0.1 + 0.2 and 0.3 are one value in real arithmetic and differ by an ulp in float64: a
    tie, so index 0 wins. Denominators α + |w| that really differ are no tie, however close
    the choice values (a small α must still prefer the smaller category)."""
    tolerance = tie_tolerance(8, np.float64)
    num, den = np.array([0.3, 0.1 + 0.2, 0.29]), np.ones(3)
    assert num[1] > num[0]
    assert int(first_choice((num, den), np.ones(3, bool), tolerance)) == 0
    assert int(first_choice((num, den), np.array([False, True, True]), tolerance)) == 1
    close = (np.array([1.0, 1.0]), np.array([1.0 + 2e-6, 1.0 + 1e-6]))  # T differ by 1e-6
    assert int(first_choice(close, np.ones(2, bool), tolerance)) == 1


def test_every_function_that_takes_data_checks_it():
    """Width from the state (complement coded: half the weights' width), range [0, 1], NaN:
    the same checks in update, predict and train_art, eager; widths also under jit."""
    artmap = C.fuzzy_artmap(capacity=4)
    state, _ = C.train_art(artmap, artmap.init(2), jnp.array([[0.2, 0.8]]), jnp.array([1]))
    width = r"`x` has 3 features \(shape \(2, 3\)\) but 2 are expected \(from the state"
    with pytest.raises(ValueError, match=width + r", weights.shape = \(4, 4\) \(complement"):
        artmap.predict(state, jnp.full((2, 3), 0.5))
    with pytest.raises(ValueError, match=width):
        jax.jit(artmap.predict)(state, jnp.full((2, 3), 0.5))
    with pytest.raises(ValueError, match=r"`x` has 3 features \(shape \(1, 3\)\)"):
        artmap.update(state, jnp.full(3, 0.5), 0)
    with pytest.raises(ValueError, match=r"`x` must be one sample \(features,\)"):
        artmap.update(state, jnp.full((2, 2), 0.5), 0)
    with pytest.raises(ValueError, match=r"1-D array of shape \(2,\).*x\[None\]"):
        artmap.predict(state, jnp.full(2, 0.5))
    unscaled = 16.0 * jnp.array([[0.2, 0.8]])  # train_art refuses it; so does predict now
    for call in (
        lambda: artmap.predict(state, unscaled),
        lambda: artmap.update(state, unscaled[0], 0),
        lambda: C.train_art(artmap, state, unscaled, jnp.array([0])),
    ):
        with pytest.raises(ValueError, match=r"`x` must lie in \[0, 1\].*scale_to_unit"):
            call()
    with pytest.raises(ValueError, match="`x` row 1 contains nan"):
        artmap.predict(state, jnp.array([[0.5, 0.5], [jnp.nan, 0.5]]))
    art1 = C.art1(rho=0.5, capacity=4)
    with pytest.raises(ValueError, match="binary"):
        art1.predict(art1.init(3), jnp.array([[0.5, 1.0, 0.0]]))
    assert art1.predict(art1.init(3), jnp.array([[1, 0, 1]])).tolist() == [-1]  # ints accepted


def test_a_nan_row_is_minus_one_under_jit():
    """Compiled, a NaN cannot raise: predict gives the NaN row -1 (never class or category 0),
    the other rows their class; a NaN input to update is not learned and not counted."""
    x = jnp.array([[0.2, 0.8], [0.9, 0.1]])
    artmap = C.fuzzy_artmap(capacity=4)
    state, _ = C.train_art(artmap, artmap.init(2), x, jnp.array([0, 1]))
    rows = jnp.array([[0.2, 0.8], [jnp.nan, 0.5], [0.9, 0.1]])
    assert jax.jit(artmap.predict)(state, rows).tolist() == [0, -1, 1]
    art = C.fuzzy_art(rho=0.5, capacity=4)
    fresh = art.init(2)
    assert jax.jit(art.predict)(C.train_art(art, fresh, x)[0], rows).tolist() == [0, -1, 1]
    new, j = jax.jit(art.update)(fresh, jnp.array([jnp.nan, 0.5]))
    assert int(j) == -1 and not bool(new.committed.any())
    assert int(new.conflicts) == 0 and int(new.overflow) == 0


def test_labels_must_match_the_kind_of_learner():
    x, y = jnp.full((3, 2), 0.5), jnp.array([0, 1, 0])
    art = C.fuzzy_art(rho=0.5, capacity=4)
    with pytest.raises(ValueError, match="fuzzy_art is unsupervised: `labels` would be ignored"):
        C.train_art(art, art.init(2), x, y)
    with pytest.raises(ValueError, match="unsupervised: `label` would be ignored"):
        art.update(art.init(2), x[0], 1)
    with pytest.raises(ValueError, match="art1 is unsupervised"):
        C.sweep_vigilance(lambda r: C.art1(rho=r), jnp.array([0.5]), jnp.ones((3, 2)), y)
    artmap = C.fuzzy_artmap(capacity=4)
    with pytest.raises(ValueError, match="fuzzy_artmap needs `labels`"):
        C.train_art(artmap, artmap.init(2), x)
    with pytest.raises(ValueError, match="fuzzy_artmap needs `label`"):
        artmap.update(artmap.init(2), x[0])
    with pytest.raises(ValueError, match="fuzzy_artmap needs `labels`"):
        C.sweep_vigilance(lambda r: C.fuzzy_artmap(rho=r), jnp.array([0.5]), x)
    with pytest.raises(ValueError, match=r"`label` must be one int class id; got shape \(3,\)"):
        artmap.update(artmap.init(2), x[0], y)


def test_state_dtype_is_chosen_and_wider_data_is_refused(x64):
    """init(..., dtype=) sets the state's precision; float64 data is never rounded silently
    into a float32 state (refused with both fixes); narrower data and ints are cast exactly."""
    artmap = C.fuzzy_artmap(rho=0.5, capacity=8)
    x64_data = np.array([[0.1, 0.7], [0.6, 0.3]])
    y = jnp.array([0, 1])
    assert artmap.init(2).weights.dtype == jnp.float64  # JAX's default float, x64 on
    low = artmap.init(2, dtype=jnp.float32)
    assert low.weights.dtype == jnp.float32 and low.rho.dtype == jnp.float32
    with pytest.raises(TypeError, match=r"`x` is float64 but the ART state is float32.*dtype="):
        C.train_art(artmap, low, x64_data, y)
    with pytest.raises(TypeError, match="float64 but the ART state is float32"):
        artmap.predict(low, x64_data)
    state, _ = C.train_art(artmap, low, x64_data.astype(np.float32), y)
    assert state.weights.dtype == jnp.float32
    high, _ = C.train_art(artmap, artmap.init(2, dtype=jnp.float64), x64_data, y)
    assert_close(high.weights[:2], complement_code(x64_data))
    with pytest.raises(TypeError, match="`dtype` must be a floating dtype"):
        artmap.init(2, dtype=jnp.int32)
    art1 = C.art1(rho=0.5, capacity=4)
    ints, _ = C.train_art(art1, art1.init(3, dtype=jnp.float32), np.array([[1, 0, 1]]))
    assert ints.weights.dtype == jnp.float32 and ints.weights[0].tolist() == [1.0, 0.0, 1.0]
