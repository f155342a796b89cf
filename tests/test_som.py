"""Self-organizing maps (fnnet.competitive): each rule and metric against a brute-force NumPy
transcription, on both topologies (hexagonal neighbours computed independently from cube
coordinates), plus the sweep, the pictures, the argument checks and the NaN rule under jit."""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fnnet import competitive as C
from fnnet import schedules
from fnnet.competitive._grid import adjacency
from fnnet.gradcheck import assert_close

GRIDS = [
    C.rectangular_grid(3, 4),
    C.hexagonal_grid(3, 4),
    C.hexagonal_grid(4, 3),
    C.rectangular_grid(1, 5),
    C.hexagonal_grid(5, 1),
]


def _ids(grid):
    return f"{'hex' if grid.hexagonal else 'rect'}{grid.rows}x{grid.cols}"


def _adjacent_reference(grid, a, b):
    """Independent adjacency: Chebyshev distance 1 (rect); cube distance 1 (hex, odd-r)."""
    (ra, ca), (rb, cb) = divmod(a, grid.cols), divmod(b, grid.cols)
    if not grid.hexagonal:
        return max(abs(ra - rb), abs(ca - cb)) == 1

    def cube(r, c):  # odd-r offset -> cube coordinates (redblobgames)
        x = c - (r - (r & 1)) // 2
        return x, -x - r, r

    return max(abs(p - q) for p, q in zip(cube(ra, ca), cube(rb, cb))) == 1


@pytest.mark.parametrize("grid", GRIDS, ids=_ids)
def test_adjacency_matches_cube_coordinates(grid):
    adj = adjacency(grid)
    ref = np.array(
        [[_adjacent_reference(grid, a, b) for b in range(grid.size)] for a in range(grid.size)]
    )
    np.testing.assert_array_equal(adj, ref)
    if grid.hexagonal and grid.rows >= 3 and grid.cols >= 3:
        assert adj.sum(1).max() == 6  # an interior hexagon has six neighbours
    pos = C.node_positions(grid)
    dist = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    if grid.hexagonal:
        assert_close(dist[adj], np.ones(int(adj.sum())))  # all six at distance exactly 1


def _numpy_neighborhood(name, grid, c, sigma):
    """MiniSom's four neighbourhoods, transcribed (per-axis for triangle and bubble)."""
    pos = C.node_positions(grid)
    d = pos - pos[c]
    p = (d**2).sum(1)
    if name == "gaussian":
        return np.exp(-p / (2 * sigma**2))
    if name == "mexican_hat":
        return np.exp(-p / (2 * sigma**2)) * (1 - p / sigma**2)
    if name == "bubble":
        return ((np.abs(d[:, 0]) < sigma) & (np.abs(d[:, 1]) < sigma)).astype(float)
    return np.maximum(sigma - np.abs(d[:, 0]), 0) * np.maximum(sigma - np.abs(d[:, 1]), 0)


@pytest.mark.parametrize("name", ["gaussian", "mexican_hat", "bubble", "triangle"])
@pytest.mark.parametrize("grid", GRIDS[:2], ids=_ids)
def test_neighborhoods_match_numpy(name, grid, x64):
    pos = jnp.asarray(C.node_positions(grid))
    for c, sigma in [(0, 1.0), (5, 1.5), (grid.size - 1, 2.0)]:
        got = getattr(C, name)(pos - pos[c], jnp.float64(sigma))
        assert_close(got, _numpy_neighborhood(name, grid, c, sigma))


def _som_reference(grid, w, data, order, sigma0, eta0, total, name):
    """The textbook online rule with MiniSom's asymptotic decay, one sample at a time."""
    w = np.array(w, dtype=np.float64)
    for t, i in enumerate(order):
        x = data[i]
        c = int(np.argmin(((x - w) ** 2).sum(1)))
        sigma, eta = sigma0 / (1 + t / (total / 2)), eta0 / (1 + t / (total / 2))
        w = w + eta * _numpy_neighborhood(name, grid, c, sigma)[:, None] * (x - w)
    return w


@pytest.mark.parametrize("name", ["gaussian", "triangle", "mexican_hat"])
@pytest.mark.parametrize("grid", GRIDS[:2], ids=_ids)
def test_online_training_matches_textbook_rule(name, grid, x64):
    rng = np.random.default_rng(0)
    data, w0 = rng.normal(size=(7, 3)), rng.normal(size=(grid.size, 3))
    total = 20
    learner = C.som(
        grid,
        sigma=C.asymptotic_decay(1.5, total),
        learning_rate=C.asymptotic_decay(0.4, total),
        neighborhood=getattr(C, name),
    )
    assert learner.num_steps == total  # the schedules' step count: train_som trains for it
    state = C.train_som(learner, jnp.asarray(w0), data, random_order=False)
    order = np.arange(total) % 7
    ref = _som_reference(grid, w0, data, order, 1.5, 0.4, total, name)
    assert_close(state.weights, ref)
    assert int(state.step) == total


def test_random_order_is_a_shuffle_of_every_sample(key, x64):
    """MiniSom's convention: arange(T) mod n, shuffled; replayed by the reference it agrees."""
    grid, rng = C.rectangular_grid(2, 3), np.random.default_rng(1)
    data, w0 = rng.normal(size=(4, 2)), rng.normal(size=(6, 2))
    learner = C.som(grid, sigma=1.0, learning_rate=0.3)
    state = C.train_som(learner, jnp.asarray(w0), data, num_steps=10, key=key)
    order = np.asarray(jax.random.permutation(key, jnp.arange(10) % 4))
    assert sorted(order.tolist()) == sorted((np.arange(10) % 4).tolist())
    ref = w0.copy()
    for i in order:  # constant σ and η
        c = int(np.argmin(((data[i] - ref) ** 2).sum(1)))
        h = _numpy_neighborhood("gaussian", grid, c, 1.0)
        ref = ref + 0.3 * h[:, None] * (data[i] - ref)
    assert_close(state.weights, ref)


@pytest.mark.parametrize("grid", GRIDS[:2], ids=_ids)
def test_batch_rule_matches_numpy(grid, x64):
    rng = np.random.default_rng(2)
    data, w0 = rng.normal(size=(9, 3)), rng.normal(size=(grid.size, 3))
    learner = C.som(grid, sigma=schedules.constant(0.8), learning_rate=0.6, neighborhood=C.bubble)
    state = C.train_som(learner, jnp.asarray(w0), data, num_steps=3, batch=True)
    w = w0.copy()
    for _ in range(3):
        num, den = np.zeros_like(w), np.zeros(grid.size)
        for x in data:
            c = int(np.argmin(((x - w) ** 2).sum(1)))
            h = _numpy_neighborhood("bubble", grid, c, 0.8)
            num += h[:, None] * x
            den += h
        ok = den > 0
        w[ok] = 0.4 * w[ok] + 0.6 * num[ok] / den[ok, None]
    assert_close(state.weights, w)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_update_keeps_dtype_and_jits(dtype, x64):
    grid = C.hexagonal_grid(2, 2)
    learner = C.som(grid, sigma=1.0, learning_rate=0.5, neighborhood=C.triangle)
    state = learner.init(jnp.zeros((4, 3), dtype))
    new = jax.jit(learner.update)(state, jnp.ones(3, dtype))
    assert new.weights.dtype == dtype
    assert learner.batch_update(state, jnp.ones((5, 3), dtype)).weights.dtype == dtype


def _winners_reference(w, data, k):
    d = np.linalg.norm(data[:, None, :] - w[None], axis=-1)
    return np.argsort(d, axis=1, kind="stable")[:, :k], d


@pytest.mark.parametrize("grid", GRIDS, ids=_ids)
def test_quantization_and_topographic_error_brute_force(grid, x64):
    rng = np.random.default_rng(3)
    w, data = rng.normal(size=(grid.size, 4)), rng.normal(size=(40, 4))
    best2, d = _winners_reference(w, data, 2)
    qe = np.mean([d[i, best2[i, 0]] for i in range(40)])
    te = np.mean([not _adjacent_reference(grid, int(a), int(b)) for a, b in best2])
    assert_close(C.quantization_error(jnp.asarray(w), data), np.float64(qe))
    assert_close(C.topographic_error(grid, jnp.asarray(w), data), np.float64(te))
    np.testing.assert_array_equal(C.winners(jnp.asarray(w), data), best2[:, 0])
    assert C.winners(jnp.asarray(w), data[3:4]).tolist() == [best2[3, 0]]


def test_topographic_error_on_an_ordered_hex_map_is_zero(x64):
    """Weights equal to the node positions: every sample's two best units are neighbours."""
    grid = C.hexagonal_grid(4, 5)
    pos = C.node_positions(grid)
    rng = np.random.default_rng(4)
    data = pos[rng.integers(0, grid.size, 50)] + rng.uniform(-0.2, 0.2, (50, 2))
    assert float(C.topographic_error(grid, jnp.asarray(pos), data)) == 0.0
    shuffled = jnp.asarray(pos[rng.permutation(grid.size)])
    assert float(C.topographic_error(grid, shuffled, data)) > 0.3


@pytest.mark.parametrize("grid", GRIDS[:2], ids=_ids)
def test_pictures_brute_force(grid, x64):
    rng = np.random.default_rng(5)
    w, data = rng.normal(size=(grid.size, 3)), rng.normal(size=(30, 3))
    labels = rng.integers(0, 3, 30)
    wj = jnp.asarray(w)
    um = np.zeros(grid.size)
    for a in range(grid.size):
        nb = [b for b in range(grid.size) if _adjacent_reference(grid, a, b)]
        um[a] = np.mean([np.linalg.norm(w[a] - w[b]) for b in nb])
    assert_close(C.u_matrix(grid, wj).ravel(), um)
    best = _winners_reference(w, data, 1)[0][:, 0]
    np.testing.assert_array_equal(
        C.hit_map(grid, wj, data).ravel(), np.bincount(best, None, grid.size)
    )
    planes = C.component_planes(grid, wj)
    assert planes.shape == (3, grid.rows, grid.cols)
    np.testing.assert_array_equal(planes[1, 1, 2], w[grid.cols + 2, 1])
    counts = np.zeros((grid.size, 3), int)
    for b, y in zip(best, labels):
        counts[b, y] += 1
    got = C.label_map(grid, wj, data, jnp.asarray(labels), num_classes=3)
    np.testing.assert_array_equal(got.reshape(grid.size, 3), counts)
    assert float(C.label_purity(got)) == counts.max(1).sum() / 30  # a ratio of small ints


def test_init_functions(key, x64):
    grid = C.rectangular_grid(3, 5)
    rng = np.random.default_rng(6)
    data = rng.normal(size=(200, 3)) * np.array([3.0, 1.0, 0.1]) + 2.0
    w = np.asarray(C.random_init(grid, data, key=key))
    assert w.shape == (15, 3) and all((data == row).all(1).any() for row in w)
    w = np.asarray(C.pca_init(grid, data)).reshape(3, 5, 3)
    _, vecs = np.linalg.eigh(np.cov(data, rowvar=False))
    e1, e2 = vecs[:, -1], vecs[:, -2]
    for (r, a), (c, b) in itertools.product(
        enumerate(np.linspace(-1, 1, 3)), enumerate(np.linspace(-1, 1, 5))
    ):
        offset = w[r, c] - data.mean(0)  # a e1 + b e2 up to each eigenvector's sign
        assert_close(np.abs([offset @ e1, offset @ e2]), np.abs([a, b]))


def test_sweep_is_one_program_equal_to_single_runs(key, compilations):
    grid = C.hexagonal_grid(3, 3)
    data = jax.random.normal(jax.random.key(7), (30, 2))
    keys = jax.random.split(key, 2)
    sigma, rates = jnp.array([0.7, 1.5]), jnp.array([0.1, 0.5, 0.9])
    with compilations() as first:
        sweep = C.sweep_som(grid, data, sigma=sigma, learning_rate=rates, keys=keys, num_steps=40)
    assert first and sweep.quantization_error.shape == (2, 3, 2)
    i, j, k = 1, 2, 1
    learner = C.som(
        grid,
        sigma=C.asymptotic_decay(1.5, 40),
        learning_rate=C.asymptotic_decay(0.9, 40),
    )
    init_key, order_key = jax.random.split(keys[k])
    weights = C.random_init(grid, data, key=init_key)
    state = C.train_som(learner, weights, data, key=order_key)
    assert_close(sweep.weights[i, j, k], state.weights)
    te, qe = np.asarray(sweep.topographic_error), np.asarray(sweep.quantization_error)
    b = sweep.best
    assert te[b] == te.min() and qe[b] == qe[te == te.min()].min()
    sigma, rates = sigma + 0.1, rates / 2  # new values, same structure: no new compile
    with compilations() as compiled:
        C.sweep_som(grid, data, sigma=sigma, learning_rate=rates, keys=keys, num_steps=40)
    assert compiled == []


def test_batch_sweep_with_pca(key):
    data = jax.random.normal(key, (25, 3))
    sweep = C.sweep_som(C.rectangular_grid(3, 3), data, sigma=jnp.array([1.0]),
                        learning_rate=jnp.array([1.0]), keys=jax.random.split(key, 2),
                        num_steps=5, pca=True, batch=True)  # fmt: skip
    # PCA init and the batch rule use no randomness: both seeds give the same map
    np.testing.assert_array_equal(sweep.weights[0, 0, 0], sweep.weights[0, 0, 1])


def test_training_reduces_quantization_error(key):
    data = jax.random.uniform(key, (300, 2))
    grid = C.rectangular_grid(6, 6)
    learner = C.som(
        grid,
        sigma=C.asymptotic_decay(2.0, 600),
        learning_rate=C.asymptotic_decay(0.5, 600),
    )
    weights = 0.5 + 0.01 * jax.random.normal(key, (36, 2))  # a clump mid-square
    before = float(C.quantization_error(weights, data))
    state = C.train_som(learner, weights, data, key=key)
    assert float(C.quantization_error(state.weights, data)) < 0.5 * before
    assert float(C.topographic_error(grid, state.weights, data)) < 0.2


def test_the_step_count_has_one_source_of_truth(x64):
    """asymptotic_decay(v, T) records T: train_som trains T steps by default, refuses another
    count, and continues from a state for what remains; a schedule without T needs num_steps
    and may be trained in chunks."""
    grid, rng = C.rectangular_grid(2, 3), np.random.default_rng(8)
    data, w0 = rng.normal(size=(6, 2)), rng.normal(size=(6, 2))
    decay = C.asymptotic_decay
    learner = C.som(grid, sigma=decay(1.0, 12), learning_rate=decay(0.5, 12))
    whole = C.train_som(learner, w0, data, random_order=False)
    assert int(whole.step) == 12
    with pytest.raises(ValueError, match=r"`num_steps` \(20\) disagrees.*T = 12 steps"):
        C.train_som(learner, w0, data, num_steps=20, random_order=False)
    with pytest.raises(ValueError, match="`sigma` and `learning_rate` decay over different"):
        C.som(grid, sigma=decay(1.0, 12), learning_rate=decay(0.5, 10))
    curve = {"decay_rate": 2.0, "decay_steps": 12}  # the same curve, no step count recorded
    plain = C.som(grid, sigma=schedules.inverse_time_decay(1.0, **curve),
                  learning_rate=schedules.inverse_time_decay(0.5, **curve))  # fmt: skip
    assert plain.num_steps is None
    with pytest.raises(ValueError, match="`num_steps` is required"):
        C.train_som(plain, w0, data, random_order=False)
    # n = 6 samples, chunks of 6 in order: two chunks replay the whole run exactly
    half = C.train_som(plain, w0, data, num_steps=6, random_order=False)
    assert_close(C.train_som(plain, half, data, num_steps=6, random_order=False).weights,
                 whole.weights)  # fmt: skip
    rest = C.train_som(learner, half, data, random_order=False)  # what remains of T: 6
    assert int(rest.step) == 12
    assert_close(rest.weights, whole.weights)


def test_winners_of_a_nan_row_is_minus_one_under_jit(x64):
    """Eagerly NaN data is refused; compiled (where nothing can raise) the NaN row has no winner
    (-1, never node 0), the other rows keep theirs, and the metrics of such data are NaN."""
    grid = C.rectangular_grid(2, 2)
    w = jnp.asarray(np.random.default_rng(9).normal(size=(4, 2)))
    x = jnp.array([[5.0, 5.0], [jnp.nan, 0.0], [-5.0, 1.0]])
    with pytest.raises(ValueError, match="`x` row 1 contains nan"):
        C.winners(w, x)
    got = np.asarray(jax.jit(C.winners)(w, x))
    ref = np.argmin(((np.asarray(x)[[0, 2], None] - np.asarray(w)) ** 2).sum(-1), axis=1)
    assert got.tolist() == [ref[0], -1, ref[1]]
    assert bool(jnp.isnan(jax.jit(C.quantization_error)(w, x)))
    assert bool(jnp.isnan(jax.jit(C.topographic_error, static_argnums=0)(grid, w, x)))
    hits = np.asarray(jax.jit(C.hit_map, static_argnums=0)(grid, w, x)).ravel()
    assert hits.tolist() == np.bincount(ref, minlength=4).tolist()  # the NaN row counts nowhere
    nan_node = jax.jit(C.winners)(w.at[3, 0].set(jnp.nan), x[:1])
    assert nan_node.tolist() == [-1]  # a NaN node: no distance can be trusted
    assert bool(jnp.isnan(C.u_matrix(grid, w.at[0, 0].set(jnp.nan))[0, 0]))


def test_every_function_that_takes_data_checks_its_width(key):
    """Width from the weights/state, rank 2 (one sample: x[None]), named in the message, eager
    and under jit (shapes are known at trace time)."""
    grid = C.rectangular_grid(2, 2)
    learner = C.som(grid, sigma=1.0, learning_rate=0.5)
    state = learner.init(jnp.ones((4, 3)))
    wrong = jnp.ones((5, 2))
    expected = r"has 2 features \(shape \(5, 2\)\) but 3 are expected \(from the"
    cases = {
        "winners": lambda: C.winners(state.weights, wrong),
        "batch_update": lambda: learner.batch_update(state, wrong),
        "train_som": lambda: C.train_som(learner, state, wrong, num_steps=2, key=key),
        "quantization_error": lambda: C.quantization_error(state.weights, wrong),
        "topographic_error": lambda: C.topographic_error(grid, state.weights, wrong),
        "hit_map": lambda: C.hit_map(grid, state.weights, wrong),
    }
    for call in cases.values():
        with pytest.raises(ValueError, match=expected):
            call()
        with pytest.raises(ValueError, match=expected):
            jax.jit(call)()
    with pytest.raises(ValueError, match=r"`x` has 2 features \(shape \(1, 2\)\).*3 are"):
        jax.jit(learner.update)(state, jnp.ones(2))
    with pytest.raises(ValueError, match=r"`x` must be one sample \(features,\); got shape"):
        learner.update(state, jnp.ones((2, 3)))
    with pytest.raises(ValueError, match=r"1-D array of shape \(3,\).*x\[None\]"):
        C.winners(state.weights, jnp.ones(3))
    with pytest.raises(ValueError, match="`x` row 0 contains nan"):
        learner.update(state, jnp.array([0.0, jnp.nan, 1.0]))


def test_sweep_som_refuses_nan_data_and_a_single_key(key):
    grid, data = C.rectangular_grid(2, 2), jnp.ones((6, 2))
    kwargs = {"sigma": jnp.array([1.0]), "learning_rate": jnp.array([0.5]), "num_steps": 3}
    with pytest.raises(ValueError, match="`data` row 4 contains nan.*every map"):
        C.sweep_som(grid, data.at[4, 0].set(jnp.nan), keys=jax.random.split(key, 2), **kwargs)
    with pytest.raises(ValueError, match="`keys` must hold one key per seed.*a single key"):
        C.sweep_som(grid, data, keys=key, **kwargs)
    with pytest.raises(ValueError, match="`keys` must hold one key per seed"):
        C.sweep_som(grid, data, keys=jax.random.PRNGKey(0), **kwargs)  # a raw (2,) key
    with pytest.raises(TypeError, match="`keys` must be"):
        C.sweep_som(grid, data, keys=[0, 1], **kwargs)
    raw = jax.random.split(jax.random.PRNGKey(0), 2)  # raw uint32 (2, 2) keys are accepted
    assert C.sweep_som(grid, data, keys=raw, **kwargs).weights.shape == (1, 1, 2, 4, 2)


def test_bad_input_names_the_argument(key):
    grid = C.rectangular_grid(2, 2)
    data = jnp.ones((5, 3))
    with pytest.raises(ValueError, match="`rows`"):
        C.rectangular_grid(0, 3)
    with pytest.raises(ValueError, match="`cols`"):
        C.hexagonal_grid(3, -1)
    with pytest.raises(ValueError, match="`sigma`"):
        C.som(grid, sigma=0.0, learning_rate=0.5)
    with pytest.raises(ValueError, match="`learning_rate`"):
        C.som(grid, sigma=1.0, learning_rate=-0.5)
    with pytest.raises(TypeError, match="`neighborhood`.*string"):
        C.som(grid, sigma=1.0, learning_rate=0.5, neighborhood="gaussian")
    with pytest.raises(TypeError, match="`grid`"):
        C.som((2, 2), sigma=1.0, learning_rate=0.5)
    learner = C.som(grid, sigma=1.0, learning_rate=0.5)
    with pytest.raises(ValueError, match="`weights`"):
        learner.init(jnp.ones((5, 3)))
    with pytest.raises(TypeError, match="`weights` must have a floating dtype"):
        learner.init(jnp.ones((4, 3), jnp.int32))
    state = learner.init(jnp.ones((4, 3)))
    with pytest.raises(ValueError, match="`data` is empty"):
        C.train_som(learner, state, jnp.ones((0, 3)), num_steps=3, batch=True)
    with pytest.raises(ValueError, match="`num_steps`"):
        C.train_som(learner, state, data, num_steps=0, batch=True)
    with pytest.raises(TypeError, match="`key`"):
        C.train_som(learner, state, data, num_steps=3, key=0)
    with pytest.raises(TypeError, match="`learner`"):
        C.train_som(tuple(learner), state, data, num_steps=3, key=key)
    with pytest.raises(ValueError, match="at least 2 features"):
        C.pca_init(grid, jnp.ones((5, 1)))
    with pytest.raises(ValueError, match="`sigma` values"):
        C.sweep_som(grid, data, sigma=jnp.array([0.0]), learning_rate=jnp.array([0.5]),
                    keys=jax.random.split(key, 1), num_steps=2)  # fmt: skip
    with pytest.raises(TypeError, match="`key`"):
        C.random_init(grid, data, key=None)
    assert math.isclose(float(C.asymptotic_decay(3.0, 10)(jnp.int32(5))), 1.5)
    bad = data.at[2, 1].set(jnp.nan)
    with pytest.raises(ValueError, match="`data` row 2 contains nan.*NaN weights"):
        C.train_som(learner, state, bad, num_steps=3, key=key)
    with pytest.raises(ValueError, match="`data` row 2 contains nan"):
        C.pca_init(grid, bad)
    with pytest.raises(ValueError, match=r"`labels` must lie in \[0, num_classes=2\)"):
        C.label_map(grid, state.weights, data, jnp.array([0, 1, 2, 0, 1]), num_classes=2)


@pytest.mark.slow
def test_som_examples_quick(tmp_path, load_example):
    pytest.importorskip("matplotlib")
    pytest.importorskip("sklearn")
    results = load_example("som_digits").main(["--quick", "--out", str(tmp_path)])
    counts = results["rect"][2]
    assert float(C.label_purity(counts)) > 0.8
    sweep = load_example("som_sweep").main(["--quick", "--out", str(tmp_path)])
    assert sweep.topographic_error.shape == (3, 3, 2)
    names = {"som_digits_umatrix.png", "som_digits_hits.png", "som_digits_planes.png"}
    assert names | {"som_digits_hex.png", "som_sweep.png"} <= {p.name for p in tmp_path.iterdir()}
