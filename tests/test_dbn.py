"""Deep belief nets: greedy stacking is rbm_fit on the layer below's hidden probabilities, the
hand-off maps (W, c) to Dense params, the classifier computes the stack's probabilities and
fine-tunes with fnnet.fit; bad input is named."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnnet
from fnnet import boltzmann, losses, optimizers
from fnnet.gradcheck import assert_close


def _data():
    key = jax.random.key(0)
    patterns = jnp.array([[1.0, 1.0, 0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 1.0, 1.0, 0.0, 1.0]])
    labels = jax.random.randint(key, (60,), 0, 2)
    flips = jax.random.uniform(jax.random.fold_in(key, 1), (60, 6)) < 0.1
    return jnp.abs(patterns[labels] - flips.astype(jnp.float32)), labels


def test_greedy_stack_is_rbm_fit_on_the_hidden_probabilities_below():
    x, _ = _data()
    key, opt = jax.random.key(1), optimizers.sgd(0.1)
    pre = boltzmann.dbn_pretrain(x, (5, 3), key=key, optimizer=opt, epochs=2, batch_size=10)
    first = boltzmann.rbm_fit(
        x, 5, key=jax.random.fold_in(key, 0), optimizer=opt, epochs=2, batch_size=10
    )
    second = boltzmann.rbm_fit(
        boltzmann.hidden_probs(first.params, x), 3, key=jax.random.fold_in(key, 1),
        optimizer=opt, epochs=2, batch_size=10,
    )  # fmt: skip
    for got, want in zip(
        jax.tree_util.tree_leaves(pre.rbms),
        jax.tree_util.tree_leaves((first.params, second.params)),
    ):
        np.testing.assert_array_equal(got, want)
    assert [e.shape for e in pre.reconstruction_errors] == [(2,), (2,)]


def test_hand_off_gives_a_network_computing_the_stack_that_fit_fine_tunes():
    x, y = _data()
    pre = boltzmann.dbn_pretrain(
        x, (5, 4), key=jax.random.key(2), optimizer=optimizers.sgd(0.1), epochs=1
    )
    dense = boltzmann.dbn_dense_params(pre.rbms)
    for p, rbm in zip(dense, pre.rbms):
        assert isinstance(p, fnnet.layers.DenseParams)
        np.testing.assert_array_equal(p.w, rbm.w)
        np.testing.assert_array_equal(p.b, rbm.c)  # the hidden bias; the visible one is dropped
    net, params = boltzmann.dbn_classifier(
        pre.rbms, 2, key=jax.random.key(3), dropout=0.2, input_dropout=0.1
    )
    top = boltzmann.hidden_probs(pre.rbms[1], boltzmann.hidden_probs(pre.rbms[0], x))
    out = params[-1]
    assert_close(net.apply(params, x), top @ out.w + out.b)
    fresh = net.init(jax.random.key(3), 6)  # the same network without pretraining
    assert jax.tree_util.tree_structure(fresh) == jax.tree_util.tree_structure(params)
    # fine-tuning is plain fnnet.fit on the handed-off parameters
    result = fnnet.fit(
        net.apply, params, losses.softmax_cross_entropy, optimizers.adam(0.05), (x, y),
        key=jax.random.key(6), epochs=20, batch_size=10, verbose=False,
    )  # fmt: skip
    assert result.history["accuracy"][-1] > 0.85


def test_bad_input_names_the_argument():
    x, _ = _data()
    key, opt = jax.random.key(0), optimizers.sgd(0.1)
    with pytest.raises(ValueError, match="`hidden` must be a non-empty"):
        boltzmann.dbn_pretrain(x, (), key=key, optimizer=opt, epochs=1)
    with pytest.raises(ValueError, match="`hidden\\[1\\]`"):
        boltzmann.dbn_pretrain(x, (4, 0), key=key, optimizer=opt, epochs=1)
    with pytest.raises(ValueError, match="`x` must lie in \\[0, 1\\]"):
        boltzmann.dbn_pretrain(16.0 * x, (4,), key=key, optimizer=opt, epochs=1)
    with pytest.raises(ValueError, match="`x` row 3 contains nan"):
        boltzmann.dbn_pretrain(x.at[3, 0].set(jnp.nan), (4,), key=key, optimizer=opt, epochs=1)
    with pytest.raises(TypeError):  # the key is keyword-only
        boltzmann.dbn_pretrain(key, x, (4,), optimizer=opt, epochs=1)
    rbms = (
        boltzmann.rbm_init(6, 4, key=key),
        boltzmann.rbm_init(5, 2, key=key),
    )
    with pytest.raises(ValueError, match="`rbms\\[1\\]` has 5 visible units"):
        boltzmann.dbn_dense_params(rbms)
    with pytest.raises(ValueError, match="`dropout` must be < 1"):
        boltzmann.dbn_classifier(rbms[:1], 2, key=key, dropout=1.0)
    with pytest.raises(ValueError, match="`input_dropout` must be >= 0"):
        boltzmann.dbn_classifier(rbms[:1], 2, key=key, input_dropout=-0.1)
    for empty in ([], ()):
        with pytest.raises(ValueError, match="`rbms` must be a non-empty sequence of RBMParams"):
            boltzmann.dbn_classifier(empty, 10, key=key)
    with pytest.raises(ValueError, match="`rbms` must be a non-empty sequence"):
        boltzmann.dbn_dense_params(rbms[0])  # one RBM, not a stack
