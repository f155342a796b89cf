"""Tests for fnnet.data: shuffling, minibatches, splits, standardisation, one-hot."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fnnet import data
from fnnet.gradcheck import assert_close


def _indexed(n, features=3):
    """x whose row i is i * (1, 10, 100, ...), y = i: pairing of rows is checkable."""
    ids = np.arange(n)
    x = (ids[:, None] * 10.0 ** np.arange(features)).astype(np.float32)
    return jnp.asarray(x), jnp.asarray(ids, jnp.int32)


def _ids_of(x):
    return np.asarray(x)[..., 0].astype(np.int64)


# --- shuffle ---------------------------------------------------------------------------------


N, BATCH = 23, 5  # one size throughout keeps the number of compilations (and test time) small


def test_shuffle_is_a_shared_permutation(key):
    x, y = _indexed(N)
    xs, ys = data.shuffle(key, x, y)
    assert sorted(np.asarray(ys).tolist()) == list(range(N))
    np.testing.assert_array_equal(_ids_of(xs), np.asarray(ys))  # rows stay paired
    np.testing.assert_array_equal(np.asarray(xs), np.asarray(x)[np.asarray(ys)])
    assert not np.array_equal(np.asarray(ys), np.arange(N))


def test_shuffle_same_key_same_order_different_key_different_order(key):
    x, y = _indexed(N)
    a, _ = data.shuffle(key, x, y)
    b, _ = data.shuffle(key, x, y)
    c, _ = data.shuffle(jax.random.key(1), x, y)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_shuffle_runs_under_jit(key):
    x, y = _indexed(N)
    eager = data.shuffle(key, x, y)
    jitted = jax.jit(data.shuffle)(key, x, y)
    for e, j in zip(eager, jitted):
        np.testing.assert_array_equal(e, j)


def test_shuffle_errors(key):
    with pytest.raises(ValueError, match=r"`arrays\[1\]` has 4 rows but `arrays\[0\]` has 5"):
        data.shuffle(key, jnp.zeros(5), jnp.zeros(4))
    with pytest.raises(TypeError, match="at least one array"):
        data.shuffle(key)


# --- minibatches -----------------------------------------------------------------------------


def test_minibatches_drop_last_true_uses_distinct_full_batches(key):
    x, y = _indexed(N)
    batches = data.minibatches(key, x, y, BATCH)
    assert batches.x.shape == (4, BATCH, 3) and batches.y.shape == (4, BATCH)
    assert batches.mask.shape == (4, BATCH) and bool(batches.mask.all())
    ids = np.asarray(batches.y).ravel()
    assert len(set(ids.tolist())) == 20 and set(ids.tolist()) <= set(range(N))
    np.testing.assert_array_equal(_ids_of(batches.x), np.asarray(batches.y))


def test_minibatches_drop_last_false_covers_every_sample_once(key):
    x, y = _indexed(N)
    batches = data.minibatches(key, x, y, BATCH, drop_last=False)
    assert batches.x.shape == (5, BATCH, 3)
    mask = np.asarray(batches.mask)
    assert mask.sum() == N and not mask[-1, 3:].any() and mask[:-1].all()
    real = np.asarray(batches.y)[mask]
    np.testing.assert_array_equal(np.bincount(real, minlength=N), np.ones(N, np.int64))
    np.testing.assert_array_equal(_ids_of(batches.x), np.asarray(batches.y))


def test_minibatches_divisible_same_either_way_and_new_key_new_order(key):
    x, y = _indexed(N - 3)
    a = data.minibatches(key, x, y, BATCH)
    b = data.minibatches(key, x, y, BATCH, drop_last=False)
    c = data.minibatches(jax.random.key(1), x, y, BATCH)
    np.testing.assert_array_equal(a.y, b.y)
    assert bool(b.mask.all())
    assert sorted(np.asarray(a.y).ravel().tolist()) == list(range(N - 3))
    assert not np.array_equal(a.y, c.y)


def test_minibatches_scan_inside_jit_sums_each_sample_once(key):
    x, y = _indexed(N)

    @jax.jit
    def epoch_sum(key):
        def step(total, batch):
            return total + jnp.sum(jnp.where(batch.mask, batch.y, 0)), None

        total, _ = jax.lax.scan(
            step, jnp.zeros((), jnp.int32), data.minibatches(key, x, y, BATCH, drop_last=False)
        )
        return total

    assert int(epoch_sum(key)) == sum(range(N))


def test_iterate_batches_matches_minibatch_order(key):
    x, y = _indexed(N)
    sizes = [len(b) for _, b in data.iterate_batches(key, x, y, BATCH)]
    assert sizes == [5, 5, 5, 5, 3]
    seen = np.concatenate([np.asarray(b) for _, b in data.iterate_batches(key, x, y, BATCH)])
    stacked = data.minibatches(key, x, y, BATCH, drop_last=False)
    np.testing.assert_array_equal(seen, np.asarray(stacked.y).ravel()[:N])
    assert len(list(data.iterate_batches(key, x, y, BATCH, drop_last=True))) == 4


def test_minibatch_errors(key):
    x, y = _indexed(10)
    with pytest.raises(
        ValueError, match=r"`batch_size` \(11\) must be at most the number of rows of `x` \(10\)"
    ):
        data.minibatches(key, x, y, 11)
    with pytest.raises(ValueError, match="`batch_size` must be an int >= 1; got 0"):
        data.minibatches(key, x, y, 0)
    with pytest.raises(TypeError, match=r"`batch_size` must be an int; got 2.0 \(float\)"):
        data.minibatches(key, x, y, 2.0)
    with pytest.raises(TypeError, match="`drop_last` must be a bool; got 'no'"):
        data.minibatches(key, x, y, 2, drop_last="no")
    with pytest.raises(ValueError, match="`y` has 9 rows but `x` has 10"):
        data.minibatches(key, x, y[:9], 2)
    with pytest.raises(ValueError, match=r"`batch_size` \(11\)"):
        list(data.iterate_batches(key, x, y, 11))


# --- pytrees of arrays -----------------------------------------------------------------------


def _tree(n):
    """Inputs ``(x, lengths)`` and targets ``{"label", "weight"}``, every array tagged by row id."""
    x, ids = _indexed(n)
    return (x, ids * 2), {"label": ids, "weight": ids.astype(jnp.float32) / 4}


def _check_rows(inputs, targets, ids):
    """Every array holds the rows ``ids`` (the reference: the tags of the plain arrays)."""
    np.testing.assert_array_equal(_ids_of(inputs[0]), ids)
    np.testing.assert_array_equal(np.asarray(inputs[1]), 2 * ids)
    np.testing.assert_array_equal(np.asarray(targets["label"]), ids)
    np.testing.assert_array_equal(np.asarray(targets["weight"]), ids / 4)


def test_pytrees_are_batched_row_by_row_with_the_plain_arrays_order(key):
    inputs, targets = _tree(N)
    plain = data.minibatches(key, *_indexed(N), BATCH, drop_last=False)
    batches = data.minibatches(key, inputs, targets, BATCH, drop_last=False)
    assert batches.x[0].shape == (5, BATCH, 3) and batches.x[1].shape == (5, BATCH)
    _check_rows(batches.x, batches.y, np.asarray(plain.y))
    np.testing.assert_array_equal(batches.mask, plain.mask)
    shuffled = data.shuffle(key, inputs, targets)
    _check_rows(*shuffled, np.asarray(data.shuffle(key, _indexed(N)[1])[0]))
    for (bx, by), (_, py) in zip(
        data.iterate_batches(key, inputs, targets, BATCH),
        data.iterate_batches(key, *_indexed(N), BATCH),
        strict=True,
    ):
        _check_rows(bx, by, np.asarray(py))


def test_pytree_split_keeps_rows_together(key):
    inputs, targets = _tree(N)
    (x_tr, y_tr), (x_te, y_te) = data.train_test_split(key, inputs, targets, stratify=False)
    (_, plain_tr), (_, plain_te) = data.train_test_split(key, *_indexed(N), stratify=False)
    _check_rows(x_tr, y_tr, np.asarray(plain_tr))
    _check_rows(x_te, y_te, np.asarray(plain_te))
    labels = jnp.arange(N, dtype=jnp.int32) % 2  # stratified on one label array, x a pytree
    (x_tr, y_tr), _ = data.train_test_split(key, inputs, labels, test_fraction=0.5)
    np.testing.assert_array_equal(_ids_of(x_tr[0]) % 2, np.asarray(y_tr))
    with pytest.raises(ValueError, match="`y` must be one array of integer class labels"):
        data.train_test_split(key, inputs, targets)


def test_pytree_errors_name_the_array_by_key_path(key):
    (x, lengths), targets = _tree(N)
    with pytest.raises(ValueError, match=r"`x\[1\]` has 22 rows but `x\[0\]` has 23"):
        data.minibatches(key, (x, lengths[:-1]), targets, BATCH)
    short = dict(targets, weight=targets["weight"][:-1])
    with pytest.raises(ValueError, match=r"`y\['weight'\]` has 22 rows but `x\[0\]` has 23"):
        data.minibatches(key, (x, lengths), short, BATCH)
    with pytest.raises(ValueError, match=r"`x\[1\]` must have a leading row axis.*np.asarray"):
        data.minibatches(key, (x, 3), targets, BATCH)
    with pytest.raises(ValueError, match="`y` must hold at least one array"):
        data.minibatches(key, x, {}, BATCH)
    with pytest.raises(ValueError, match=r"`arrays\[1\]\['weight'\]` has 22 rows"):
        data.shuffle(key, x, short)


# --- train_test_split ------------------------------------------------------------------------


def _imbalanced(n_per_class=(50, 31, 19, 7)):
    y = np.concatenate([np.full(c, k) for k, c in enumerate(n_per_class)]).astype(np.int32)
    x = np.arange(len(y), dtype=np.float32)[:, None] * np.ones((1, 2), np.float32)
    return jnp.asarray(x), jnp.asarray(y)


def test_stratified_split_keeps_class_proportions(key):
    x, y = _imbalanced()
    (x_tr, y_tr), (x_te, y_te) = data.train_test_split(key, x, y, test_fraction=0.3)
    counts = np.bincount(np.asarray(y))
    test_counts = np.bincount(np.asarray(y_te), minlength=len(counts))
    assert test_counts.sum() == round(0.3 * len(y))
    assert np.all(np.abs(test_counts - 0.3 * counts) < 1.0)
    np.testing.assert_array_equal(
        np.bincount(np.asarray(y_tr), minlength=len(counts)), counts - test_counts
    )
    ids_tr, ids_te = _ids_of(x_tr), _ids_of(x_te)
    assert set(ids_tr.tolist()).isdisjoint(ids_te.tolist())
    assert sorted(ids_tr.tolist() + ids_te.tolist()) == list(range(len(y)))
    np.testing.assert_array_equal(np.asarray(y)[ids_te], np.asarray(y_te))  # pairs preserved


def test_split_is_deterministic_given_key(key):
    x, y = _imbalanced()
    for stratify in (True, False):
        first = data.train_test_split(key, x, y, stratify=stratify)
        again = data.train_test_split(key, x, y, stratify=stratify)
        other = data.train_test_split(jax.random.key(1), x, y, stratify=stratify)
        np.testing.assert_array_equal(first[1][0], again[1][0])
        np.testing.assert_array_equal(first[0][1], again[0][1])
        assert set(_ids_of(first[1][0]).tolist()) != set(_ids_of(other[1][0]).tolist())


def test_unstratified_split_sizes_and_partition(key):
    x, y = _imbalanced()
    (x_tr, _), (x_te, y_te) = data.train_test_split(
        key, x, y.astype(jnp.float32), test_fraction=0.25, stratify=False
    )
    assert len(x_te) == round(0.25 * len(y)) and len(x_tr) == len(y) - len(x_te)
    assert sorted(_ids_of(x_tr).tolist() + _ids_of(x_te).tolist()) == list(range(len(y)))
    assert y_te.dtype == jnp.float32


@pytest.mark.parametrize(
    "fraction, says",
    [(0.0, "> 0.0; got 0.0"), (1.0, "< 1.0; got 1.0"), (-0.2, "> 0.0; got -0.2"),
     (1.5, "< 1.0; got 1.5"), (float("nan"), "finite; got nan")],
)  # fmt: skip
def test_split_rejects_fraction_outside_open_interval(key, fraction, says):
    x, y = _imbalanced()
    with pytest.raises(ValueError, match=f"`test_fraction` must be {re.escape(says)}"):
        data.train_test_split(key, x, y, test_fraction=fraction)


def test_split_errors(key):
    x, y = _imbalanced()
    with pytest.raises(ValueError, match="`y` must be one array of integer class labels"):
        data.train_test_split(key, x, y.astype(jnp.float32))
    with pytest.raises(ValueError, match="`y` has 106 rows but `x` has 107"):
        data.train_test_split(key, x, y[:-1])
    with pytest.raises(ValueError, match="both parts need at least one sample"):
        data.train_test_split(key, x[:3], y[:3], test_fraction=0.1)
    with pytest.raises(TypeError, match="`test_fraction` must be a real number"):
        data.train_test_split(key, x, y, test_fraction="0.3")
    with pytest.raises(TypeError, match="`stratify` must be a bool; got 'yes'"):
        data.train_test_split(key, x, y, stratify="yes")


# --- standardize -----------------------------------------------------------------------------


def test_standardize_uses_train_statistics_only():
    train = (3.0 + 2.0 * np.sin(0.37 * np.arange(800.0))).reshape(200, 4).astype(np.float32)
    test = (-5.0 + 0.5 * np.cos(0.11 * np.arange(200.0))).reshape(50, 4).astype(np.float32)
    train[:, 2] = 7.25  # a constant feature
    train, test = jnp.asarray(train), jnp.asarray(test)
    (train_z, test_z), stats = data.standardize(train, test)
    train64, test64 = np.asarray(train, np.float64), np.asarray(test, np.float64)
    mean, std = train64.mean(0), train64.std(0)
    std[2] = 1.0
    assert_close(stats.mean, mean)
    assert_close(stats.std, std)
    assert_close(test_z, (test64 - mean) / std)
    assert_close(train_z, (train64 - mean) / std)
    assert np.all(np.asarray(train_z[:, 2]) == 0.0)  # constant feature maps to exactly 0
    assert abs(float(test_z[:, 0].mean())) > 1.0  # test is far from train: not re-centred
    assert train_z.dtype == test_z.dtype == jnp.float32
    np.testing.assert_array_equal(data.apply_standardization(stats, test), test_z)


def test_standardize_jits_and_rejects_bad_input():
    x = jnp.arange(12.0).reshape(6, 2)
    (z,), _ = jax.jit(data.standardize)(x)
    assert_close(
        z, (np.asarray(x, np.float64) - np.mean(x, 0)) / np.std(np.asarray(x, np.float64), 0)
    )
    with pytest.raises(TypeError, match="`train_x` must have a floating dtype; got int32"):
        data.standardize(jnp.arange(4).reshape(2, 2))
    with pytest.raises(ValueError, match=r"`others\[0\]` must have shape \(n, \*\(2,\)\)"):
        data.standardize(x, jnp.zeros((3, 5)))


# --- one_hot ---------------------------------------------------------------------------------


def test_one_hot_matches_identity_rows():
    labels = np.array([2, 0, 1, 2], np.int32)
    out = data.one_hot(labels, 3)
    np.testing.assert_array_equal(out, np.eye(3, dtype=np.float32)[labels])
    assert out.dtype == jnp.float32
    np.testing.assert_array_equal(jax.jit(data.one_hot, static_argnums=1)(labels, 3), out)


def test_one_hot_errors():
    with pytest.raises(ValueError, match=r"`labels` must lie in \[0, 3\).*got values in \[0, 3\]"):
        data.one_hot(jnp.array([0, 3]), 3)
    with pytest.raises(TypeError, match="`labels` must be integer class ids; got dtype float32"):
        data.one_hot(jnp.array([0.0]), 3)
    with pytest.raises(ValueError, match="`num_classes` must be an int >= 1; got 0"):
        data.one_hot(jnp.array([0]), 0)


def test_one_public_path_per_name():
    import importlib

    assert data.__all__ == sorted(data.__all__)
    for name in data.__all__:
        obj = getattr(data, name)
        home = obj.__module__
        assert home.startswith("fnnet.data._"), (name, home)
    names = {"digits", "mnist1d", "xor", "two_moons", "two_spirals", "Dataset", "Split"}
    assert names <= set(data.__all__)
    with pytest.raises(ModuleNotFoundError):  # moved to fnnet.data (see TEAM.md, "Moved names")
        importlib.import_module("fnnet.datasets")
