"""Losses against independent references: numpy transcriptions of the textbook formulas
(float64), plain jnp / jax.nn forwards differentiated by ``jax.grad``, and finite differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import fnnet
from fnnet.gradcheck import assert_close
from fnnet.losses import sigmoid_binary_cross_entropy, softmax_cross_entropy, squared_error

# Tolerances (STYLE.md §8.9): hand rule vs jax.grad of the reference, same math, different code.


# --- independent references -----------------------------------------------------------------


def ref_squared_error(a, y):
    return jnp.mean(0.5 * jnp.sum((y - a) ** 2, axis=-1))


def ref_softmax_xent(z, y):
    return jnp.mean(-jnp.sum(y * jax.nn.log_softmax(z, axis=-1), axis=-1))


def ref_softmax_xent_int(z, labels):
    log_p = jax.nn.log_softmax(z, axis=-1)
    return jnp.mean(-jnp.take_along_axis(log_p, labels[..., None], axis=-1)[..., 0])


def ref_sigmoid_bce(z, y):
    per = -(y * jax.nn.log_sigmoid(z) + (1.0 - y) * jax.nn.log_sigmoid(-z))
    return jnp.mean(jnp.sum(per, axis=-1))


def np_squared_error(a, y):
    return np.mean(0.5 * np.sum((y - a) ** 2, axis=-1))


def np_softmax_xent(z, y):  # textbook: −Σ y log(e^z / Σ e^z), fine for moderate logits
    p = np.exp(z) / np.sum(np.exp(z), axis=-1, keepdims=True)
    return np.mean(-np.sum(y * np.log(p), axis=-1))


def np_sigmoid_bce(z, y):  # textbook: −[y log σ + (1 − y) log(1 − σ)]
    s = 1.0 / (1.0 + np.exp(-z))
    return np.mean(np.sum(-(y * np.log(s) + (1.0 - y) * np.log(1.0 - s)), axis=-1))


def _one_hot_np(labels, k):
    return (np.asarray(labels)[..., None] == np.arange(k)).astype(np.float64)


# name: (loss, jnp reference, numpy reference, kind of second argument)
CASES = {
    "squared_error": (squared_error, ref_squared_error, np_squared_error, "real"),
    "softmax_xent_probs": (softmax_cross_entropy, ref_softmax_xent, np_softmax_xent, "probs"),
    "softmax_xent_int": (
        softmax_cross_entropy,
        ref_softmax_xent_int,
        lambda z, labels: np_softmax_xent(z, _one_hot_np(labels, z.shape[-1])),
        "int",
    ),
    "sigmoid_bce": (sigmoid_binary_cross_entropy, ref_sigmoid_bce, np_sigmoid_bce, "unit"),
}
SHAPES = [(4,), (1, 3), (7, 5)]  # unbatched (k,), a batch of one, a batch


@jax.jit
def _draw(key):
    """One fixed-size draw per key (a single compile); tests slice and cast it in numpy."""
    k1, k2 = jax.random.split(key)
    return jax.random.normal(k1, (2, 64), jnp.float32), jax.random.uniform(k2, (64,), jnp.float32)


def make_args(key, kind, shape, dtype):
    """``(first, second)``: logits/predictions and targets (or int32 labels) of ``shape``."""
    normal, uniform = (np.asarray(a, np.float64) for a in _draw(key))
    n = int(np.prod(shape))
    first = 2.0 * normal[0, :n].reshape(shape)
    if kind == "real":
        second = normal[1, :n].reshape(shape)
    elif kind == "probs":
        e = np.exp(normal[1, :n].reshape(shape))
        second = e / e.sum(axis=-1, keepdims=True)
    elif kind == "unit":
        second = uniform[:n].reshape(shape)
    else:
        labels = np.floor(uniform[: n // shape[-1]] * shape[-1]).reshape(shape[:-1])
        return jnp.asarray(first.astype(dtype)), jnp.asarray(labels.astype(np.int32))
    return jnp.asarray(first.astype(dtype)), jnp.asarray(second.astype(dtype))


def argnums(kind):
    return (0,) if kind == "int" else (0, 1)


def vjp_all(f, args, kind, cotangent):
    """Cotangents of every differentiable argument for output cotangent ``cotangent``."""
    nums = argnums(kind)

    def g(*diff):
        full = list(args)
        for i, d in zip(nums, diff):
            full[i] = d
        return f(*full)

    out, pullback = jax.vjp(g, *(args[i] for i in nums))
    return out, pullback(jnp.asarray(cotangent, out.dtype))


# --- forward ----------------------------------------------------------------------------------
# Each test compiles its whole computation once with jax.jit (eager op-by-op dispatch would
# compile every primitive separately). The vmap test compares with an eager call.


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", CASES)
def test_forward_matches_numpy_float64(x64, key, name, shape):
    loss, _, np_ref, kind = CASES[name]
    first, second = make_args(key, kind, shape, np.float64)
    out = jax.jit(loss)(first, second)
    assert out.shape == () and out.dtype == jnp.float64
    assert_close(out, np_ref(np.asarray(first), np.asarray(second)))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", CASES)
def test_forward_matches_jnp_float32(key, name, shape):
    loss, ref, _, kind = CASES[name]
    first, second = make_args(key, kind, shape, np.float32)
    out, want = jax.jit(lambda a, b: (loss(a, b), ref(a, b)))(first, second)
    assert out.shape == () and out.dtype == jnp.float32
    assert_close(out, want)


@pytest.mark.parametrize("name", CASES)
def test_unbatched_vector_is_a_batch_of_one(key, name):
    loss, _, _, kind = CASES[name]
    first, second = make_args(key, kind, (1, 6), np.float32)
    nums = argnums(kind)
    value_and_grad = jax.jit(jax.value_and_grad(loss, nums))
    batched_value, batched = value_and_grad(first, second)
    single_value, single = value_and_grad(first[0], second[0])
    assert_close(single_value, batched_value)
    for b, s in zip(batched, single):
        assert s.shape == b.shape[1:]
        assert_close(s, b[0])


# --- backward: hand rule vs jax.grad of the reference ---------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", CASES)
def test_grad_matches_reference_float64(x64, key, name, shape):
    loss, ref, _, kind = CASES[name]
    args = make_args(key, kind, shape, np.float64)

    @jax.jit
    def both(*args):  # non-unit cotangent: the rule must scale by it
        return vjp_all(loss, args, kind, 1.7), vjp_all(ref, args, kind, 1.7)

    (out, got), (ref_out, want) = both(*args)
    assert_close(out, ref_out)
    assert len(got) == len(want) == len(argnums(kind))
    for g, w in zip(got, want):
        assert g.dtype == jnp.float64
        assert_close(g, w)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", CASES)
def test_grad_matches_reference_float32(key, name, shape):
    loss, ref, _, kind = CASES[name]
    args = make_args(key, kind, shape, np.float32)
    nums = argnums(kind)
    got, want = jax.jit(lambda *a: (jax.grad(loss, nums)(*a), jax.grad(ref, nums)(*a)))(*args)
    for g, w in zip(got, want):
        assert g.dtype == jnp.float32
        assert_close(g, w)


@pytest.mark.parametrize("name", CASES)
def test_grad_matches_finite_differences_float64(x64, key, name):
    loss, _, _, kind = CASES[name]
    first, second = make_args(key, kind, (3, 4), np.float64)
    if kind == "int":
        check_grads(jax.jit(lambda z: loss(z, second)), (first,), order=1, modes=["rev"])
    else:
        check_grads(jax.jit(loss), (first, second), order=1, modes=["rev"])


def test_softmax_xent_unnormalised_targets_match_reference(x64, key):
    # Rows not summing to 1 (e.g. weighted targets): δ = p·Σy − y, not p − y.
    z, u = make_args(key, "unit", (5, 4), np.float64)
    y = 3.0 * u
    grads = lambda f: jax.grad(f, (0, 1))(z, y)  # noqa: E731
    got, want = jax.jit(lambda: (grads(softmax_cross_entropy), grads(ref_softmax_xent)))()
    for g, w in zip(got, want):
        assert_close(g, w)


def test_matched_output_delta_is_prediction_minus_target(x64, key):
    z, y = make_args(key, "unit", (6, 3), np.float64)
    _, labels = make_args(key, "int", (6, 3), np.float64)

    @jax.jit
    def deltas(z, y, labels):
        return (
            jax.grad(squared_error)(z, y),
            jax.grad(sigmoid_binary_cross_entropy)(z, y),
            jax.grad(softmax_cross_entropy)(z, labels),
        )

    d_se, d_bce, d_ce = deltas(z, y, labels)
    zn, yn = np.asarray(z), np.asarray(y)
    p = np.exp(zn) / np.exp(zn).sum(axis=-1, keepdims=True)
    assert_close(d_se, (zn - yn) / 6)
    assert_close(d_bce, (1 / (1 + np.exp(-zn)) - yn) / 6)
    assert_close(d_ce, (p - _one_hot_np(labels, 3)) / 6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_integer_and_one_hot_labels_agree(x64, key, dtype):
    z, labels = make_args(key, "int", (8, 5), dtype)
    one_hot = jnp.asarray(_one_hot_np(labels, 5).astype(dtype))
    value_and_grad = jax.jit(jax.value_and_grad(softmax_cross_entropy))
    for a, b in zip(value_and_grad(z, labels), value_and_grad(z, one_hot)):
        assert a.dtype == b.dtype == dtype
        assert_close(a, b)


@pytest.mark.parametrize("name", CASES)
def test_bfloat16_dtype_preserved(key, name):
    loss, _, _, kind = CASES[name]
    first, second = make_args(key, kind, (3, 4), jnp.bfloat16)
    value, grads = jax.jit(jax.value_and_grad(loss, argnums(kind)))(first, second)
    assert value.dtype == jnp.bfloat16
    assert all(g.dtype == jnp.bfloat16 for g in grads)


# --- transformations --------------------------------------------------------------------------


@pytest.mark.parametrize("name", CASES)
def test_jit_and_vmap_over_stacked_batches(key, name):
    loss, _, _, kind = CASES[name]
    stacked = [make_args(k, kind, (5, 4), np.float32) for k in jax.random.split(key, 3)]
    firsts = jnp.stack([a for a, _ in stacked])
    seconds = jnp.stack([b for _, b in stacked])
    value_and_grad = jax.value_and_grad(loss, argnums(kind))

    @jax.jit
    def loop_and_vmap(firsts, seconds):
        looped = [value_and_grad(firsts[i], seconds[i]) for i in range(3)]
        stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *looped)
        return stacked, jax.vmap(value_and_grad)(firsts, seconds)

    looped, vmapped = loop_and_vmap(firsts, seconds)
    eager_value, eager_grads = value_and_grad(*stacked[1])  # jit == eager for one batch
    assert_close(vmapped[0][1], eager_value)
    for g_vmap, g_eager in zip(vmapped[1], eager_grads):
        assert_close(g_vmap[1], g_eager)
    for a, b in zip(jax.tree.leaves(looped), jax.tree.leaves(vmapped)):
        assert a.shape == b.shape
        assert_close(b, a)


@pytest.mark.parametrize("name", CASES)
def test_autodiff_switch_gives_hessian_matching_reference(x64, key, name):
    loss, ref, _, kind = CASES[name]
    first, second = make_args(key, kind, (3, 4), np.float64)

    def hessians(f):  # a batch and a single unbatched example
        return (
            jax.hessian(lambda z: f(z, second))(first),
            jax.hessian(lambda z: f(z, second[0]))(first[0]),
        )

    with fnnet.autodiff():  # traced inside the context: plain autodiff of the forward bodies
        got = jax.jit(lambda: hessians(loss))()
    want = jax.jit(lambda: hessians(ref))()
    assert got[0].shape == (3, 4, 3, 4) and got[1].shape == (4, 4)
    for g, w in zip(got, want):
        assert_close(g, w)


# --- stability and edge cases ---------------------------------------------------------------


def test_extreme_logits_give_finite_exact_values():
    z = jnp.array([[1e4, -1e4, 0.0], [3.0, 1e3, -1e3], [-1e4, 1e4, 1e4]], jnp.float32)
    labels = jnp.array([1, 2, 0], jnp.int32)
    zn = np.asarray(z, np.float64)
    log_p = zn - np.logaddexp.reduce(zn, axis=-1, keepdims=True)  # stable numpy reference
    y = _one_hot_np(labels, 3)
    t = jnp.asarray(y, jnp.float32)  # 0/1 targets: saturated sigmoids, both wrong and right

    @jax.jit
    def run(z, labels, t):
        ce = jax.value_and_grad(softmax_cross_entropy)(z, labels)
        bce = jax.value_and_grad(sigmoid_binary_cross_entropy, (0, 1))(z, t)
        autodiff = fnnet.with_autodiff(
            lambda: (
                jax.grad(softmax_cross_entropy)(z, labels),
                jax.grad(sigmoid_binary_cross_entropy)(z, t),
            )
        )()
        return ce, bce, autodiff

    (ce, dz_ce), (bce, (dz_bce, dt_bce)), autodiff = run(z, labels, t)
    assert_close(ce, -np.mean(np.sum(y * log_p, axis=-1)))
    assert_close(dz_ce, (np.exp(log_p) - y) / 3)
    bce_ref = np.logaddexp(0.0, zn) - zn * y
    assert_close(bce, np.mean(np.sum(bce_ref, axis=-1)))
    assert_close(dz_bce, (0.5 * (1 + np.tanh(zn / 2)) - y) / 3)
    assert_close(dt_bce, -zn / 3)
    assert all(np.all(np.isfinite(g)) for g in autodiff)


def test_out_of_range_integer_labels_give_nan_rows(key):
    z, _ = make_args(key, "int", (4, 3), np.float32)
    labels = jnp.array([0, 3, -1, 2], jnp.int32)
    valid = np.array([0, 3])
    grad = jax.grad(softmax_cross_entropy)

    @jax.jit
    def run(z, labels):
        loss = softmax_cross_entropy(z, labels)
        want = jax.grad(ref_softmax_xent_int)(z[valid], labels[valid]) * 2 / 4  # batch 2 vs 4
        return loss, grad(z, labels), fnnet.with_autodiff(grad)(z, labels), want

    loss, dz, dz_autodiff, want = run(z, labels)
    assert np.isnan(loss)
    for d in (dz, dz_autodiff):
        assert np.all(np.isnan(d[1:3]))
        assert_close(d[valid], want)


# --- bad input --------------------------------------------------------------------------------

f32 = np.float32
BAD_INPUTS = [
    # (loss, first, second, error, fragments the message must contain)
    (
        softmax_cross_entropy,
        np.zeros((4, 3), f32),
        np.zeros(5, np.int32),
        ValueError,
        ["`labels`", "(5,)", "(4, 3)"],
    ),
    (
        softmax_cross_entropy,
        np.zeros((4, 3), f32),
        np.zeros((5, 3), f32),
        ValueError,
        ["`labels`", "batch", "(5, 3)", "(4, 3)"],
    ),
    (
        softmax_cross_entropy,
        np.zeros((4, 3), f32),
        np.zeros((4, 2), f32),
        ValueError,
        ["`labels`", "classes", "(4, 2)", "(4, 3)"],
    ),
    (
        softmax_cross_entropy,
        np.zeros((4, 3), f32),
        np.zeros(4, f32),
        ValueError,
        ["`labels`", "float32", "integer", "(4,)", "(4, 3)"],
    ),
    (
        softmax_cross_entropy,
        np.zeros((4, 3), np.int32),
        np.zeros(4, np.int32),
        TypeError,
        ["`logits`", "floating", "int32", "(4, 3)"],
    ),
    (
        softmax_cross_entropy,
        np.zeros((4, 3), f32),
        np.zeros((4, 3), np.float16),
        TypeError,
        ["`labels`", "float16", "float32"],
    ),
    (
        softmax_cross_entropy,
        np.zeros((4, 3), f32),
        np.zeros(4, bool),
        TypeError,
        ["`labels`", "bool", "(4,)"],
    ),
    (
        softmax_cross_entropy,
        np.zeros((2, 4, 3), f32),
        np.zeros((2, 4), np.int32),
        ValueError,
        ["`logits`", "(batch, k)", "(2, 4, 3)"],
    ),
    (
        softmax_cross_entropy,
        [[0.0, 1.0]],
        np.zeros(1, np.int32),
        TypeError,
        ["`logits`", "array", "list"],
    ),
    (
        squared_error,
        np.zeros((4, 3), f32),
        np.zeros((4, 2), f32),
        ValueError,
        ["`target`", "`prediction`", "(4, 2)", "(4, 3)"],
    ),
    (
        squared_error,
        np.zeros((4, 3), f32),
        np.zeros((4, 3), np.float16),
        TypeError,
        ["`target`", "float16", "float32"],
    ),
    (
        squared_error,
        np.zeros((4, 3), np.int32),
        np.zeros((4, 3), np.int32),
        TypeError,
        ["`prediction`", "int32", "(4, 3)"],
    ),
    (
        sigmoid_binary_cross_entropy,
        np.zeros((4, 3), np.int32),
        np.zeros((4, 3), f32),
        TypeError,
        ["`logits`", "int32", "(4, 3)"],
    ),
    (
        sigmoid_binary_cross_entropy,
        np.zeros((4, 3), f32),
        np.zeros((4, 3), np.int32),
        TypeError,
        ["`targets`", "int32", "(4, 3)", "float32"],
    ),
    (
        sigmoid_binary_cross_entropy,
        np.zeros((4, 3), f32),
        np.zeros((5, 3), f32),
        ValueError,
        ["`targets`", "(5, 3)", "(4, 3)"],
    ),
]


@pytest.mark.parametrize("loss, first, second, error, fragments", BAD_INPUTS)
def test_bad_input_errors_name_argument_and_shapes(loss, first, second, error, fragments):
    with pytest.raises(error) as info:
        loss(first, second)
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))


@pytest.mark.parametrize("labels, bad, where", [([0, 3, 1], 3, "(1,)"), ([0, 1, -1], -1, "(2,)")])
def test_concrete_out_of_range_labels_are_refused(labels, bad, where):
    """A concrete label outside [0, k) is an error naming `labels`, the range and the value; the
    same labels traced inside jit keep the documented NaN row."""
    z = jnp.zeros((3, 3))
    with pytest.raises(ValueError) as info:
        softmax_cross_entropy(z, jnp.array(labels, jnp.int32))
    message = str(info.value)
    for fragment in ("`labels`", "[0, 3)", f"got {bad}", where):
        assert fragment in message, (fragment, message)
    with pytest.raises(ValueError, match=r"`labels` must be indices in \[0, 3\)"):
        jax.grad(softmax_cross_entropy)(z, np.array(labels, np.int32))  # numpy labels, under grad
    assert np.isnan(jax.jit(softmax_cross_entropy)(z, jnp.array(labels, jnp.int32)))


def test_bad_input_is_caught_at_trace_time_under_jit():
    with pytest.raises(ValueError, match="`labels`.*\\(5,\\).*\\(4, 3\\)"):
        jax.jit(jax.grad(softmax_cross_entropy))(jnp.zeros((4, 3)), jnp.zeros(5, jnp.int32))
