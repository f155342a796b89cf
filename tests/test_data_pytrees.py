"""Data that is not one array, through ``fit``: inputs and targets as pytrees batched on their
rows, a ``Dataset`` in place of the pair, and the checks made before training (rows per leaf,
per-row shapes of validation, class labels against the output width)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnnet
from fnnet import losses, optimizers

KEY = jax.random.key(3)
N, T, F = 48, 6, 2
_k1, _k2, _k3 = jax.random.split(jax.random.key(1), 3)
SEQ = jax.random.normal(_k1, (N, T, F))
LENGTHS = jax.random.randint(_k2, (N,), 1, T + 1)
VALID = (jnp.arange(T) < LENGTHS[:, None]).astype(jnp.float32)
LABELS = (jnp.sum(SEQ[..., 0] * VALID, axis=1) > 0).astype(jnp.int32)
NET = fnnet.Dense(2)
PARAMS = NET.init(jax.random.key(4), (F,))


def _masked_mean(seq, mask):
    return jnp.sum(seq * mask[..., None], axis=1) / jnp.sum(mask, axis=1, keepdims=True)


def apply_lengths(params, inputs, *, key=None, training=False):
    """A model fed ``(sequences, lengths)``: the mean over each row's valid steps, then Dense."""
    seq, lengths = inputs
    mask = (jnp.arange(seq.shape[1]) < lengths[:, None]).astype(seq.dtype)
    return NET.apply(params, _masked_mean(seq, mask), key=key, training=training)


def apply_channel(params, x, *, key=None, training=False):
    """The reference: the same model with the lengths hidden as a mask channel of one array."""
    return NET.apply(params, _masked_mean(x[..., :F], x[..., F]), key=key, training=training)


def _fit(apply, data, **kw):
    args = dict(key=KEY, epochs=2, batch_size=8, verbose=False)
    return fnnet.fit(
        apply, PARAMS, losses.softmax_cross_entropy, optimizers.adam(1e-2), data, **args | kw
    )


def test_fit_with_lengths_as_data_equals_the_mask_channel_workaround():
    channel = jnp.concatenate([SEQ, VALID[..., None]], axis=-1)
    tree = _fit(apply_lengths, ((SEQ, LENGTHS), LABELS), validation=((SEQ, LENGTHS), LABELS))
    plain = _fit(apply_channel, (channel, LABELS), validation=(channel, LABELS))
    # the same rows in the same order, the same arithmetic: bit for bit
    for a, b in zip(
        jax.tree_util.tree_leaves(tree.params), jax.tree_util.tree_leaves(plain.params)
    ):
        np.testing.assert_array_equal(a, b)
    for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_array_equal(tree.history[name], plain.history[name])
    assert tree.steps_taken == 2 * (N // 8)


def test_fit_with_pytree_targets_and_their_checks():
    weights = jnp.linspace(0.5, 1.5, N)

    def weighted(outputs, targets):
        per_row = -jnp.take_along_axis(
            jax.nn.log_softmax(outputs), targets["label"][:, None], axis=1
        )[:, 0]
        return jnp.mean(targets["weight"] * per_row)

    def run(targets, **kw):
        return fnnet.fit(
            NET.apply, PARAMS, weighted, optimizers.sgd(0.1), (SEQ[:, 0], targets),
            key=KEY, epochs=1, batch_size=N, verbose=False, **kw,
        )  # fmt: skip

    targets = {"label": LABELS, "weight": weights}
    result = run(targets)
    # the reference: one full-batch step of plain SGD on the weighted loss
    grads = jax.grad(lambda p: weighted(NET.apply(p, SEQ[:, 0]), targets))(PARAMS)
    expected = jax.tree_util.tree_map(lambda p, g: p - 0.1 * g, PARAMS, grads)
    fnnet.gradcheck.assert_close(result.params, expected)
    assert np.isnan(result.history["accuracy"]).all()  # no single label array to score
    with pytest.raises(ValueError, match=r"`data` targets\['weight'\] has 47 rows but"):
        run({"label": LABELS, "weight": weights[:-1]})
    with pytest.raises(ValueError, match=r"`validation` targets must have the structure"):
        run(targets, validation=(SEQ[:, 0], {"label": LABELS}))
    with pytest.raises(ValueError, match=r"`data targets\['weight'\]` row 3 contains nan"):
        run({"label": LABELS, "weight": weights.at[3].set(jnp.nan)})


def test_fit_pytree_input_errors_name_the_leaf():
    with pytest.raises(ValueError, match=r"`data` inputs\[1\] has 47 rows but `data` inputs\[0\]"):
        _fit(apply_lengths, ((SEQ, LENGTHS[:-1]), LABELS))
    with pytest.raises(ValueError, match=r"`validation` inputs\[0\] must have the training"):
        _fit(apply_lengths, ((SEQ, LENGTHS), LABELS), validation=((SEQ[:, :3], LENGTHS), LABELS))
    with pytest.raises(TypeError, match="`data` must be a pair .* got tuple of length 3"):
        _fit(apply_lengths, (SEQ, LENGTHS, LABELS))
    with pytest.raises(
        ValueError, match=r"`batch_size` \(64\) must be at most the number of rows of `data` \(48\)"
    ):
        _fit(apply_lengths, ((SEQ, LENGTHS), LABELS), batch_size=64)
    with pytest.raises(TypeError, match=r"`data` targets must be a numeric array; got dtype <U"):
        _fit(apply_lengths, ((SEQ, LENGTHS), np.array(["a"] * N)))


def test_a_dataset_is_accepted_where_a_pair_is():
    moons = fnnet.data.two_moons(jax.random.key(5), 60)
    (x, y), (x_test, y_test) = fnnet.data.train_test_split(KEY, moons.x, moons.y)
    train, test = (
        fnnet.data.Dataset(x, y, 2, "moons"),
        fnnet.data.Dataset(x_test, y_test, 2, "moons"),
    )
    split = fnnet.data.Split(train, test)
    net = fnnet.Dense(2)
    params = net.init(KEY, (2,))
    args = dict(key=KEY, epochs=2, batch_size=14, verbose=False)
    opt = optimizers.sgd(0.1)
    loss = losses.softmax_cross_entropy
    from_dataset = fnnet.fit(
        net.apply, params, loss, opt, split.train, validation=split.test, **args
    )
    from_pair = fnnet.fit(
        net.apply, params, loss, opt, (split.train.x, split.train.y),
        validation=(split.test.x, split.test.y), **args,
    )  # fmt: skip
    same = (from_dataset.params, from_dataset.state, from_dataset.history["val_loss"])
    for a, b in zip(
        jax.tree_util.tree_leaves(same),
        jax.tree_util.tree_leaves(
            (from_pair.params, from_pair.state, from_pair.history["val_loss"])
        ),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match=r"got a Split: pass its `.train`"):
        fnnet.fit(net.apply, params, loss, opt, split, **args)


def test_labels_outside_the_output_width_are_refused_before_training():
    seen = []
    with pytest.raises(
        ValueError,
        match=r"`data` targets must be class labels in \[0, 2\) for the 2 outputs of `apply`; "
        r"got 2 at row \d+ .*1-based: pass `y - 1`",
    ):
        _fit(apply_lengths, ((SEQ, LENGTHS), LABELS + 1), verbose=True, log=seen.append)
    assert seen == []  # no epoch ran
    with pytest.raises(ValueError, match=r"`validation` targets .* got -1 at row 5"):
        _fit(
            apply_lengths, ((SEQ, LENGTHS), LABELS),
            validation=((SEQ, LENGTHS), LABELS.at[5].set(-1)),
        )  # fmt: skip
    # a sweep refuses them too, before any member trains (the model may depend on hparams)
    trainer = fnnet.sweep.make_trainer(
        lambda hp: fnnet.Dense(2), losses.softmax_cross_entropy,
        lambda hp: optimizers.sgd(hp["lr"]), (SEQ[:, 0], LABELS + 1), epochs=1, batch_size=8,
    )  # fmt: skip
    with pytest.raises(ValueError, match=r"`data` targets .* 2 outputs of `model`; got 2 at row"):
        fnnet.sweep.run(trainer, {"lr": [0.1, 0.2]}, KEY)


def test_a_bigru_trained_by_fit_with_lengths_as_data():
    """Issue 24's script: a variable-length BiGRU inside `serial`, lengths given as data. What
    lies past each row's length must not matter: garbage there changes nothing."""
    from fnnet import layers, recurrent

    net = layers.serial(
        recurrent.Bidirectional(recurrent.GRU(3)), layers.Flatten(), layers.Dense(2)
    )
    padded = jnp.where(VALID[..., None] > 0, SEQ, 0.0)
    garbage = jnp.where(VALID[..., None] > 0, SEQ, 1e3 * jax.random.normal(_k3, SEQ.shape))
    params = net.init(jax.random.key(6), (8, T, F))
    opt, loss = optimizers.adam(3e-2), losses.softmax_cross_entropy
    args = dict(key=KEY, epochs=3, batch_size=8, verbose=False)
    clean = fnnet.fit(net.apply, params, loss, opt, ((padded, LENGTHS), LABELS), **args)
    noisy = fnnet.fit(net.apply, params, loss, opt, ((garbage, LENGTHS), LABELS), **args)
    fnnet.gradcheck.assert_close(noisy.params, clean.params)
    assert clean.history["loss"][-1] < clean.history["loss"][0]
    # the garbage is there to be ignored: read without the lengths, it changes the outputs
    with_lengths = net.apply(clean.params, (garbage, LENGTHS))
    fnnet.gradcheck.assert_close(with_lengths, net.apply(clean.params, (padded, LENGTHS)))
    assert not np.allclose(net.apply(clean.params, garbage), with_lengths)


def test_a_sweep_with_lengths_as_data_equals_fit():
    """Pytree data through `sweep.make_trainer` and `sweep.run`: a member equals `fit` with
    its keys, and the ensemble helpers take the `(x, lengths)` input."""
    from fnnet import layers, sweep

    model = layers.Layer(lambda key, shape: NET.init(key, (shape[-1],)), apply_lengths)
    data = ((SEQ, LENGTHS), LABELS)
    trainer = sweep.make_trainer(
        model, losses.softmax_cross_entropy, lambda hp: optimizers.adam(hp["lr"]), data,
        epochs=2, batch_size=8, validation=data,
    )  # fmt: skip
    result = sweep.run(trainer, sweep.grid(lr=[1e-2, 1e-1]), KEY, seeds=2)
    member = sweep.member_key(KEY, 1)
    alone = fnnet.fit(
        apply_lengths, model.init(jax.random.fold_in(member, 0), (8, T, F)),
        losses.softmax_cross_entropy, optimizers.adam(1e-1), data, validation=data,
        key=jax.random.fold_in(member, 1), epochs=2, batch_size=8, skip_nonfinite=True,
        verbose=False,
    )  # fmt: skip
    seed1 = jax.tree_util.tree_map(lambda a: a[1, 1], result.params)
    fnnet.gradcheck.assert_close(seed1, alone.params)
    fnnet.gradcheck.assert_close(
        result.metrics["history"]["val_loss"][1, 1], alone.history["val_loss"]
    )
    stacked = jax.tree_util.tree_map(lambda a: a[1], result.params)
    mean = sweep.predict_ensemble(apply_lengths, stacked, (SEQ, LENGTHS))
    members = [
        apply_lengths(jax.tree_util.tree_map(lambda a, s=s: a[s], stacked), (SEQ, LENGTHS))
        for s in range(2)
    ]
    fnnet.gradcheck.assert_close(mean, (members[0] + members[1]) / 2)
