"""Conv, MaxPool, AvgPool and Flatten: values and gradients against XLA's own convolution and
windowed reductions (``lax.conv_general_dilated``, ``lax.reduce_window``) in float64, the
max-pooling tie rule against a NumPy transcription, NaN propagation, errors, and training."""

import math
import os
import re
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import fnnet
from fnnet import activations, initializers, losses, optimizers, sweep
from fnnet.gradcheck import assert_close
from fnnet.layers import AvgPool, Conv, ConvParams, Flatten, MaxPool

# --- independent references -------------------------------------------------------------------


def _pads(padding, rank):
    """The layer's padding argument in lax's form (strings pass through)."""
    if isinstance(padding, str):
        return padding.upper()
    if isinstance(padding, int):
        return [(padding, padding)] * rank
    return [(p, p) if isinstance(p, int) else tuple(p) for p in padding]


def _lax_conv(params, x, strides, padding, dilation):
    rank = params.w.ndim - 2
    spec = (0, rank + 1, *range(1, rank + 1))
    y = lax.conv_general_dilated(
        x,
        params.w,
        strides,
        _pads(padding, rank),
        rhs_dilation=dilation,
        dimension_numbers=lax.ConvDimensionNumbers(spec, (rank + 1, rank, *range(rank)), spec),
        precision=lax.Precision.HIGHEST,
    )
    return y + params.b


def _lax_pool(x, window, strides, padding, *, average):
    pads = _pads(padding, len(window))
    pads = pads if isinstance(pads, str) else [(0, 0), *pads, (0, 0)]
    dims, steps = (1, *window, 1), (1, *strides, 1)
    if average:
        return lax.reduce_window(x, 0.0, lax.add, dims, steps, pads) / math.prod(window)
    return lax.reduce_window(x, -jnp.inf, lax.max, dims, steps, pads)


def _normal(seed, shape):
    """NumPy draws (no per-shape compilation of jax.random), in the default float dtype."""
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape))


def _value_and_vjp(f, *args):
    """``(f(*args), vjp(ct))`` in one compiled program, ``ct`` a fixed normal draw."""
    y_shape = jax.eval_shape(f, *args).shape

    @jax.jit
    def run(args, ct):
        y, vjp = jax.vjp(f, *args)
        return y, vjp(ct)

    y, grads = run(args, _normal(sum(y_shape) + 1, y_shape))
    return y, grads if len(grads) > 1 else grads[0]


def _tuple(v, rank):
    return (v,) * rank if isinstance(v, int) else tuple(v)


# --- convolution: values and gradients over a grid ---------------------------------------------

CONV_CASES = [
    # kernel, strides, padding, dilation, input shape (a batch)
    (5, 2, 1, 1, (3, 40, 1)),  # MNIST-1D layer 1: 40 -> 19
    (3, 2, 1, 1, (2, 19, 4)),  # 19 -> 10
    (3, 3, "SAME", 1, (2, 11, 3)),
    (3, 1, "valid", 2, (1, 9, 2)),  # batch of one, lower-case string
    (2, 3, [(2, 1)], 3, (2, 13, 2)),  # asymmetric pair, dilation 3
    ((3, 3), 1, "SAME", 1, (2, 8, 8, 1)),
    ((3, 2), (2, 3), [(1, 0), 2], (1, 2), (1, 7, 9, 3)),  # mixed per-axis padding
    ((2, 2), 2, 0, 1, (1, 5, 7, 2)),
    ((2, 2, 2), 1, 1, 1, (1, 3, 4, 3, 2)),  # 3-d falls out of the N-d code
]


@pytest.mark.parametrize("kernel, strides, padding, dilation, shape", CONV_CASES)
def test_conv_matches_lax_in_float64(kernel, strides, padding, dilation, shape, x64):
    rank = 1 if isinstance(kernel, int) else len(kernel)
    layer = Conv(
        4,
        kernel,
        strides=strides,
        padding=padding,
        dilation=dilation,
        dtype=jnp.float64,
    )
    params = layer.init(jax.random.key(0), shape)
    params = ConvParams(_normal(1, params.w.shape), _normal(2, params.b.shape))
    x = _normal(3, shape)
    s, d = _tuple(strides, rank), _tuple(dilation, rank)

    def ours(p, x):
        return layer.apply(p, x)

    def ref(p, x):
        return _lax_conv(p, x, s, padding, d)

    y, grads = _value_and_vjp(ours, params, x)
    y_ref, grads_ref = _value_and_vjp(ref, params, x)
    assert y.shape == y_ref.shape and y.dtype == jnp.float64
    assert_close(y, y_ref)
    assert_close(grads, grads_ref)


def test_mnist1d_shape_arithmetic():
    """40 -> 19 -> 10 -> 5 with (k 5, s 2, p 1), (k 3, s 2, p 1) twice: the authors' ConvBase."""
    convs = [Conv(25, 5, strides=2, padding=1)] + [Conv(25, 3, strides=2, padding=1)] * 2
    net = fnnet.serial(*convs, Flatten(num_axes=2), fnnet.Dense(10))
    params = net.init(jax.random.key(0), (2, 40, 1))
    sizes = [p.w.size + p.b.size for p in params if p]
    assert sizes == [150, 1900, 1900, 1260] and sum(sizes) == 5210
    x, shapes = jax.ShapeDtypeStruct((2, 40, 1), jnp.float32), []
    for layer, p in zip(convs, params):
        x = jax.eval_shape(layer.apply, p, x)
        shapes.append(x.shape)
    assert shapes == [(2, 19, 25), (2, 10, 25), (2, 5, 25)]
    assert jax.jit(net.apply)(params, jnp.ones((3, 40, 1))).shape == (3, 10)


def test_float32_stays_float32_and_autodiff_switch_agrees():
    layer = Conv(3, (2, 2), strides=(1, 2), padding="SAME", activation=activations.tanh)
    params = layer.init(jax.random.key(1), (2, 4, 5, 2))
    x = jax.random.normal(jax.random.key(2), (2, 4, 5, 2))

    def loss(p, x):
        return jnp.sum(layer.apply(p, x) ** 2)

    assert jax.eval_shape(layer.apply, params, x).dtype == jnp.float32
    hand = jax.jit(jax.grad(loss, (0, 1)))(params, x)
    auto = jax.jit(jax.grad(fnnet.with_autodiff(loss), (0, 1)))(params, x)
    assert all(g.dtype == jnp.float32 for g in jax.tree_util.tree_leaves(hand))
    assert_close(hand, auto)  # gradcheck's table (the float32 row)


def test_nan_propagates_to_the_windows_that_see_it():
    layer = Conv(2, 3, strides=2, padding=1)
    params = layer.init(jax.random.key(0), (1, 9, 1))
    x = jnp.arange(9.0)[None, :, None].at[0, 4, 0].set(jnp.nan)
    y = np.asarray(jax.jit(layer.apply)(params, x))[0]  # window t sees input rows 2t-1..2t+1
    assert np.isnan(y[2]).all() and np.isfinite(y[[0, 1, 3, 4]]).all()
    gw = jax.jit(jax.grad(lambda p: jnp.sum(layer.apply(p, x))))(params)
    assert np.isnan(gw.w).any()
    pooled = np.asarray(jax.jit(MaxPool(2).apply)((), x))[0]
    assert np.isnan(pooled[2, 0]) and np.isfinite(pooled[[0, 1, 3], 0]).all()


# --- pooling -----------------------------------------------------------------------------------

POOL_CASES = [
    # window, strides, padding, input shape
    (2, None, "VALID", (3, 9, 2)),
    (3, 1, "SAME", (2, 7, 1)),
    (3, 2, [(1, 2)], (1, 8, 3)),
    ((2, 2), None, "VALID", (2, 5, 4, 3)),
    ((3, 3), 2, 1, (1, 6, 7, 2)),  # int padding
    ((2, 3), (1, 2), "same", (1, 4, 6, 1)),
]


@pytest.mark.parametrize("average", [False, True], ids=["max", "avg"])
@pytest.mark.parametrize("window, strides, padding, shape", POOL_CASES)
def test_pool_matches_reduce_window_in_float64(window, strides, padding, shape, average, x64):
    rank = 1 if isinstance(window, int) else len(window)
    layer = (AvgPool if average else MaxPool)(window, strides=strides, padding=padding)
    x = jnp.asarray(np.random.default_rng(3).permutation(math.prod(shape)).reshape(shape) / 7.0)
    w, s = _tuple(window, rank), _tuple(window if strides is None else strides, rank)

    def ours(x):
        return layer.apply((), x)

    def ref(x):
        return _lax_pool(x, w, s, padding, average=average)

    y, got = _value_and_vjp(ours, x)
    y_ref, want = _value_and_vjp(ref, x)
    assert_close(y, y_ref)
    assert_close(got, want)


def _numpy_max_pool_grad(x, window, stride, ct):
    """1-d max-pool δ by loops: each window's δ to its first maximum (np.argmax)."""
    dx = np.zeros_like(x)
    for b in range(x.shape[0]):
        for t in range(ct.shape[1]):
            for c in range(x.shape[2]):
                seg = x[b, t * stride : t * stride + window, c]
                dx[b, t * stride + int(np.argmax(seg)), c] += ct[b, t, c]
    return dx


def test_max_pool_tie_rule_is_first_maximum():
    x = np.asarray(np.random.default_rng(0).integers(0, 3, (4, 11, 2)), np.float32)  # many ties
    layer = MaxPool(3, strides=2)
    y = jax.eval_shape(layer.apply, (), x)
    ct = np.asarray(np.random.default_rng(1).normal(size=y.shape), np.float32)
    got = jax.jit(jax.grad(lambda x: jnp.vdot(layer.apply((), x), ct)))(jnp.asarray(x))
    assert_close(got, _numpy_max_pool_grad(x, 3, 2, ct))
    flat = jax.jit(jax.grad(lambda x: jnp.sum(MaxPool((2, 2)).apply((), x))))(
        jnp.ones((1, 4, 4, 1))
    )
    assert flat[0, ::2, ::2, 0].tolist() == [[1, 1], [1, 1]] and float(flat.sum()) == 4.0


def test_avg_pool_spreads_delta_over_the_window():
    g = jax.jit(jax.grad(lambda x: jnp.sum(AvgPool(3, strides=3, padding=1).apply((), x))))(
        jnp.ones((1, 7, 1))
    )
    assert_close(g[0, :, 0], np.full(7, 1 / 3, np.float32))  # each row in exactly one window


# --- Flatten, init ------------------------------------------------------------------------------


def test_flatten_row_major_batched_only():
    x = jnp.arange(24.0).reshape(2, 3, 4)
    assert_close(Flatten().apply((), x), np.arange(24.0).reshape(2, 12))
    assert_close(Flatten(num_axes=2).apply((), x), np.arange(24.0).reshape(2, 12))
    assert_close(Flatten(num_axes=1).apply((), x), x)
    y = jnp.arange(48.0).reshape(2, 2, 3, 4)  # keep (batch, time), merge the rest
    assert_close(Flatten(num_axes=2).apply((), y), np.arange(48.0).reshape(2, 2, 12))
    assert_close(Flatten().apply((), x[:, 0]), x[:, 0])  # (batch, features) stays
    assert Flatten().init(jax.random.key(0), (5, 3, 4)) == ()


@pytest.mark.parametrize(
    "num_axes, shape, match",
    [
        (None, (40,), r"`x` must have a batch axis and 1 more .*\(40,\).*`x\[None\]`"),
        (2, (5, 25), r"`x` must have a batch axis and 2 more to merge \(num_axes=2\).*\(5, 25\)"),
        (3, (2, 3, 4), r"num_axes=3"),
    ],
)
def test_flatten_refuses_unbatched_input_instead_of_guessing(num_axes, shape, match):
    """``(40,)`` used to become ``(40, 1)``; a shape without an axis to merge besides the batch
    axis is refused, in ``apply`` and in ``init``."""
    with pytest.raises(ValueError, match=match):
        Flatten(num_axes).apply((), jnp.ones(shape))
    with pytest.raises(ValueError, match=match.replace("`x", "`input_shape").split(".*")[0]):
        Flatten(num_axes).init(jax.random.key(0), shape)


def test_fan_in_uniform_is_pytorch_default_and_initializers_see_conv_fan_in(x64):
    fan_in_uniform = initializers.fan_in_uniform
    w = fan_in_uniform()(jax.random.key(0), (5, 4, 3000), jnp.float64)  # fan_in = 4 * 5
    bound = 1 / math.sqrt(20)
    assert float(jnp.max(jnp.abs(w))) <= bound and float(jnp.max(jnp.abs(w))) > 0.99 * bound
    b = fan_in_uniform(20)(jax.random.key(1), (3000,))
    assert float(jnp.max(jnp.abs(b))) <= bound and b.dtype == jnp.float32
    with pytest.raises(ValueError, match=r"fewer than two axes.*fan_in_uniform\(fan_in\)"):
        fan_in_uniform()(jax.random.key(1), (25,))  # a bias does not know its layer's fan-in
    with pytest.raises(ValueError, match="`fan_in` must be an int >= 1"):
        fan_in_uniform(0)
    he = initializers.he_normal()(jax.random.key(2), (5, 4, 4000))  # fnnet's fan_in: 4 * 5
    # tolerance: sampling error, not rounding: the std of 80,000 draws has sd ≈ 0.32 / sqrt(2 *
    # 80,000) ≈ 8e-4, so 0.01 is about 12 sd; a wrong fan-in (4 or 4000) misses by 0.4 or 0.3
    assert abs(float(jnp.std(he)) - math.sqrt(2 / 20)) < 0.01
    params = Conv(7, (3, 2)).init(jax.random.key(3), (1, 6, 5, 4))
    assert params.w.shape == (3, 2, 4, 7) and float(jnp.max(jnp.abs(params.w))) <= 1 / math.sqrt(24)


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: Conv(0, 3), ValueError, "`features`"),
        (lambda: Conv(4, 0), ValueError, "`kernel_size`"),
        (lambda: Conv(4, ()), ValueError, "`kernel_size`"),
        (lambda: Conv(4, 3, strides=0), ValueError, "`strides`"),
        (lambda: Conv(4, (3, 3), strides=(1, -1)), ValueError, r"`strides\[1\]`"),
        (lambda: Conv(4, 3, dilation=0), ValueError, "`dilation`"),
        (
            lambda: Conv(4, (3, 3), dilation=(1, 1, 1)),
            ValueError,
            "`dilation`.*2 positive",
        ),
        (lambda: Conv(4, 3, padding="FULL"), ValueError, "`padding`.*'FULL'"),
        (lambda: Conv(4, 3, padding=-1), ValueError, "`padding`"),
        (lambda: Conv(4, 3, activation="relu"), TypeError, "`activation`"),
        (lambda: MaxPool(0), ValueError, "`window`"),
        (lambda: AvgPool(2, strides=0), ValueError, "`strides`"),
        (lambda: Flatten(num_axes=0), ValueError, "`num_axes`"),
    ],
)
def test_bad_constructor_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_bad_inputs_name_the_argument_and_shapes():
    layer = Conv(4, 5, strides=2, padding=1)
    params = layer.init(jax.random.key(0), (8, 40, 1))
    with pytest.raises(
        ValueError,
        match=r"`x` must have rank 3, \(batch, length, channels\); got shape \(2, 3, 40, 1\)\.$",
    ):
        layer.apply(params, jnp.ones((2, 3, 40, 1)))
    with pytest.raises(ValueError, match=r"`x` has 3 channels .* expects 1.*\(8, 40, 3\)"):
        layer.apply(params, jnp.ones((8, 40, 3)))
    with pytest.raises(ValueError, match=r"too small.*\(2,\).*\(4,\).*spans \(5,\)"):
        layer.apply(params, jnp.ones((8, 2, 1)))
    with pytest.raises(ValueError, match="`input_shape` must have rank 3"):
        layer.init(jax.random.key(0), (1, 2, 40, 1))
    with pytest.raises(TypeError, match="`x` must have a floating dtype"):
        layer.apply(params, jnp.ones((8, 40, 1), jnp.int32))
    with pytest.raises(ValueError, match="too small"):
        MaxPool((3, 3)).apply((), jnp.ones((2, 2, 5, 1)))


# Issue 20's silent wrong answers of the unbatched rank: each is now refused with both fixes.
UNBATCHED_CASES = [
    # layer, input of the unbatched rank, the axes its message names
    (lambda: MaxPool(2), (8, 40), "length, channels"),  # pooled across the batch
    (lambda: AvgPool(2), (8, 40), "length, channels"),
    (lambda: Conv(4, (3, 3)), (8, 40, 1), "height, width, channels"),  # batch read as height
    (lambda: Conv(4, 5), (40, 1), "length, channels"),  # one example
]


@pytest.mark.parametrize("make, shape, axes", UNBATCHED_CASES)
def test_the_unbatched_rank_is_refused_with_the_fix(make, shape, axes):
    layer = make()
    rank = len(shape) + 1
    fixes = r".*batched input only.*`x\[None\]`.*jax\.vmap.*`x\[\.\.\., None\]`"
    with pytest.raises(ValueError, match=rf"`x` must have rank {rank}, \(batch, {axes}\)" + fixes):
        layer.apply(layer.init(jax.random.key(0), (2, *shape)), jnp.ones(shape))
    with pytest.raises(ValueError, match=rf"`input_shape` must have rank {rank}.*\(1, {shape[0]}"):
        layer.init(jax.random.key(0), shape)  # init checks the shape as apply checks x


def test_a_missing_channel_axis_is_named_at_the_layer_not_in_the_loss():
    """A batch of 1-channel series without its channel axis, as the MNIST-1D loaders give it."""
    net = fnnet.serial(Conv(4, 5), Flatten(), fnnet.Dense(10))
    with pytest.raises(ValueError, match=r"without a channels axis, add that axis, \(64, 40, 1\)"):
        net.init(jax.random.key(0), (64, 40))
    params = net.init(jax.random.key(0), (64, 40, 1))
    data = (jnp.ones((64, 40)), jnp.zeros(64, jnp.int32))
    with pytest.raises(ValueError, match=r"`x\[\.\.\., None\]`"):
        fnnet.fit(
            net.apply, params, losses.softmax_cross_entropy, optimizers.sgd(0.1), data,
            key=jax.random.key(1), epochs=1, batch_size=32, verbose=False,
        )  # fmt: skip


@pytest.mark.parametrize(
    "shape, moved", [((8, 1, 40), (8, 40, 1)), ((8, 3, 32, 32), (8, 32, 32, 3))]
)
def test_a_channels_first_shape_is_named_as_a_possible_layout_mistake(shape, moved):
    layer = Conv(4, 5 if len(shape) == 3 else (5, 5))
    layout = re.escape(
        f"channels-first (batch, channels, ...), as in PyTorch, move the channels last: {moved}"
    )
    with pytest.raises(ValueError, match=r"`input_shape` is too small for the window.*" + layout):
        layer.init(jax.random.key(0), shape)
    params = layer.init(jax.random.key(0), moved)
    with pytest.raises(ValueError, match=r"`x` has \d+ channels .*" + layout):
        layer.apply(params, jnp.ones(shape))
    with pytest.raises(
        ValueError, match=r"`x` has 5 channels.*\(8, 40, 5\), layout \(batch, length, channels\)\.$"
    ):
        Conv(4, 3).apply(Conv(4, 3).init(jax.random.key(0), (8, 40, 1)), jnp.ones((8, 40, 5)))


@pytest.mark.parametrize(
    "make, shape",
    [
        (lambda: Conv(4, 3), (2, 9, 1)),
        (lambda: MaxPool(2), (2, 9, 1)),
        (lambda: AvgPool((2, 2)), (2, 4, 4, 1)),
        (lambda: Flatten(), (2, 9, 1)),
    ],
)
def test_init_follows_the_layer_init_contract(make, shape):
    """``check_key`` and the shape check, as ``Dense.init``: an int seed and a shape that is not
    one are refused naming the argument (``Conv.init(key, None)`` was a ``TypeError``)."""
    layer = make()
    with pytest.raises(TypeError, match=r"`key` must be a JAX random key; got the int 0"):
        layer.init(0, shape)
    for bad in (None, "9", (2, -1, 1)):
        with pytest.raises(ValueError, match="`input_shape` must be a feature count"):
            layer.init(jax.random.key(0), bad)
    params = layer.init(jax.random.key(0), shape)
    assert jax.eval_shape(layer.apply, params, jnp.ones(shape)).shape[0] == shape[0]


# --- in a network, with fit -------------------------------------------------------------------


def test_cnn_trains_with_fit():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 64)
    x = rng.normal(size=(64, 12, 1)) * 0.3
    x[np.arange(64), 3 + 5 * y, 0] += 2.0  # class = where the bump is: a job for a conv
    relu = activations.relu
    net = fnnet.serial(
        Conv(4, 3, padding="SAME", activation=relu),
        MaxPool(2),
        Conv(4, 3, strides=2, padding=1, activation=relu),
        Flatten(),
        fnnet.Dense(2),
    )
    params = net.init(jax.random.key(0), (64, 12, 1))
    data = (jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.int32))
    result = fnnet.fit(
        net.apply, params, losses.softmax_cross_entropy, optimizers.adam(1e-2), data,
        key=jax.random.key(1), epochs=15, batch_size=16, verbose=False,
    )  # fmt: skip
    history = result.history["loss"]
    assert np.all(np.isfinite(history)) and history[-1] < 0.5 * history[0]


def test_rules_vmap_over_members_as_sweeps_do():
    """A sweep vmaps the train step over stacked parameters: the rules batch like any op."""
    net = fnnet.serial(Conv(3, 3, strides=2, padding=1), MaxPool(2), AvgPool(2), Flatten())
    x = jnp.asarray(np.random.default_rng(0).normal(size=(4, 17, 2)), jnp.float32)
    members = [net.init(jax.random.key(i), x.shape) for i in range(2)]
    stacked = jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *members)

    def loss(params):
        return jnp.sum(net.apply(params, x) ** 2)

    grads = jax.jit(jax.vmap(jax.grad(loss)))(stacked)
    for i, params in enumerate(members):
        want = jax.jit(jax.grad(loss))(params)
        for a, b in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(want)):
            assert_close(a[i], b)


def _docs_cnn():
    """docs/conv.md's network, as written there: it ends in ``Flatten`` then ``Dense``."""
    relu = activations.relu
    return fnnet.serial(
        Conv(32, 5, padding="SAME", activation=relu),
        MaxPool(2),
        Conv(64, 3, padding="SAME", activation=relu),
        MaxPool(2),
        Conv(64, 3, padding="SAME", activation=relu),
        MaxPool(2),
        Flatten(),
        fnnet.Dense(10),
    )


def test_docs_cnn_under_make_trainer_initialises_with_a_batch_and_equals_fit():
    """``sweep.make_trainer`` initialised with one example's shape, ``(40, 1)``, so the docs' CNN
    failed in its Dense (``x has 320 features but the layer expects 16``); it now uses one
    training batch's shape, and a member equals ``fit`` with the same keys."""
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(40, 40, 1)), jnp.float32)
    y = jnp.asarray(rng.integers(0, 10, 40), jnp.int32)
    net, loss = _docs_cnn(), losses.softmax_cross_entropy
    adam = lambda hp: optimizers.adam(hp["learning_rate"])  # noqa: E731
    trainer = sweep.make_trainer(net, loss, adam, (x, y), epochs=2, batch_size=20)
    key, hp = jax.random.key(3), {"learning_rate": jnp.float32(1e-3)}
    metrics, params = jax.jit(trainer.run)(hp, key, trainer.data)
    start = net.init(jax.random.fold_in(key, 0), (20, 40, 1))
    solo = fnnet.fit(
        net.apply, start, loss, adam(hp), (x, y), key=jax.random.fold_in(key, 1), epochs=2,
        batch_size=20, skip_nonfinite=True, verbose=False,
    )  # fmt: skip
    assert_close(params, solo.params)
    assert np.isfinite(float(metrics["loss"]))


# The docs' CNN and BiGRU trained by fit on two emulated devices equal the one-device run.
_MESH_CHECK = textwrap.dedent(
    """
    import jax, jax.numpy as jnp, numpy as np, fnnet
    from fnnet import layers, losses, optimizers, parallel, recurrent
    from fnnet.gradcheck import assert_close
    from test_conv import _docs_cnn

    assert jax.device_count() == 2
    rng = np.random.default_rng(0)
    bigru = layers.serial(
        recurrent.Bidirectional(recurrent.GRU(6)), layers.Flatten(), layers.Dense(10)
    )  # docs/recurrent.md's network
    for net in (_docs_cnn(), bigru):
        x = jnp.asarray(rng.normal(size=(32, 40, 1)), jnp.float32)
        y = jnp.asarray(rng.integers(0, 10, 32), jnp.int32)
        args = (net.apply, net.init(jax.random.key(0), x.shape), losses.softmax_cross_entropy,
                optimizers.adam(1e-3), (x, y))
        kwargs = dict(key=jax.random.key(1), epochs=1, batch_size=16, verbose=False)
        sharded = fnnet.fit(*args, **kwargs, mesh=parallel.device_mesh("data"))
        assert_close(sharded.params, fnnet.fit(*args, **kwargs).params)
    print("ok")
    """
)


def test_docs_cnn_and_bigru_fit_on_a_two_device_mesh_equal_one_device():
    flags = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS=flags.strip())
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(__file__), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", _MESH_CHECK], capture_output=True, text=True, env=env, timeout=600
    )
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-4000:]
