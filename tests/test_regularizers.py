"""Weight penalties: values against numpy, hand-written gradients against jax.grad of plain
references and finite differences, biases untouched, L1's subgradient 0 at 0, masks, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import fnnet
from fnnet import regularizers as reg
from fnnet.gradcheck import assert_close


def _params(key, dtype):
    """Two dense layers, a PReLU-like slope vector and a scalar: only the two `w` are weights."""
    # one random draw (one compile per dtype), cut into the leaves with numpy
    flat = np.asarray(jax.random.normal(key, (12 + 4 + 8 + 2 + 4 + 1,), dtype))
    parts = np.split(flat, np.cumsum([12, 4, 8, 2, 4]))
    w1, b1, w2, b2, slope, scale = (jnp.asarray(x, dtype) for x in parts)
    dense = (
        fnnet.layers.DenseParams(w1.reshape(3, 4), b1),
        fnnet.layers.DenseParams(w2.reshape(4, 2), b2),
    )
    return {"dense": dense, "slope": slope, "scale": scale.reshape(())}


def _weights(params):
    return [params["dense"][0].w, params["dense"][1].w]


# plain jnp references, written against the known layout (no masks, no custom rules)
def ref_l2(params, lam):
    return lam / 2 * sum(jnp.sum(w * w) for w in _weights(params))


def ref_l1(params, lam):
    return lam * sum(jnp.sum(jnp.abs(w)) for w in _weights(params))


def ref_elastic(params, alpha, beta):
    return alpha * sum(jnp.sum(jnp.abs(w)) for w in _weights(params)) + beta * sum(
        jnp.sum(w * w) for w in _weights(params)
    )


PENALTIES = [
    ("l2", lambda p, a, b: reg.l2_penalty(p, a), lambda p, a, b: ref_l2(p, a)),
    ("l1", lambda p, a, b: reg.l1_penalty(p, a), lambda p, a, b: ref_l1(p, a)),
    ("elastic", reg.elastic_net_penalty, ref_elastic),
]
IDS = [p[0] for p in PENALTIES]


def _np_value(name, params, a, b):
    ws = [np.asarray(w, np.float64) for w in _weights(params)]
    l1 = sum(np.abs(w).sum() for w in ws)
    l2 = sum((w**2).sum() for w in ws)
    return {"l2": a / 2 * l2, "l1": a * l1, "elastic": a * l1 + b * l2}[name]


def test_weight_mask_reads_ndim():
    params = {
        "net": fnnet.serial(fnnet.Dense(3), fnnet.Dense(1)).init(jax.random.key(0), 2),
        "prelu_slope": jnp.ones(3),
        "temperature": jnp.ones(()),
        "kernel": jnp.ones((3, 3, 2, 4)),
    }
    mask = fnnet.optimizers.weight_mask(params)
    assert mask == {
        "net": (fnnet.layers.DenseParams(True, False), fnnet.layers.DenseParams(True, False)),
        "prelu_slope": False,
        "temperature": False,
        "kernel": True,
    }


@pytest.mark.parametrize("name, penalty, reference", PENALTIES, ids=IDS)
def test_value_and_gradients_float64(x64, key, name, penalty, reference):
    params = _params(key, jnp.float64)
    a, b = 0.3, 0.05
    value = jax.jit(penalty)(params, a, b)
    assert value.dtype == jnp.float64
    assert_close(value, _np_value(name, params, a, b))
    got = jax.jit(jax.grad(penalty, argnums=(0, 1, 2)))(params, jnp.float64(a), jnp.float64(b))
    want = jax.jit(jax.grad(reference, argnums=(0, 1, 2)))(params, jnp.float64(a), jnp.float64(b))
    for g, w in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want), strict=True):
        assert g.dtype == w.dtype
        assert_close(g, w)
    # the non-weights get an exact zero gradient
    dparams = got[0]
    for bias in (dparams["dense"][0].b, dparams["dense"][1].b, dparams["slope"], dparams["scale"]):
        assert np.all(np.asarray(bias) == 0.0)


@pytest.mark.parametrize("name, penalty, reference", PENALTIES, ids=IDS)
def test_value_and_gradients_float32(key, name, penalty, reference):
    params = _params(key, jnp.float32)
    value = jax.jit(penalty)(params, 0.3, 0.05)
    assert value.dtype == jnp.float32
    assert_close(value, _np_value(name, params, 0.3, 0.05))
    got = jax.jit(jax.grad(penalty))(params, 0.3, 0.05)
    want = jax.jit(jax.grad(reference))(params, 0.3, 0.05)
    for g, w in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want), strict=True):
        assert g.dtype == jnp.float32
        assert_close(g, w)


@pytest.mark.parametrize("name, penalty, reference", PENALTIES, ids=IDS)
def test_finite_differences(x64, key, name, penalty, reference):
    params = _params(key, jnp.float64)
    # keep the L1 kink (W = 0) further than the finite-difference step from every weight
    params = jax.tree_util.tree_map(lambda x: x + 0.1 * jnp.sign(x), params)
    check_grads(lambda p, a, b: penalty(p, a, b), (params, 0.3, 0.05), order=1, modes=["rev"])


@pytest.mark.parametrize("name, penalty, reference", PENALTIES, ids=IDS)
def test_autodiff_switch_agrees(key, name, penalty, reference):
    params = _params(key, jnp.float32)
    hand = jax.jit(jax.grad(penalty))(params, 0.3, 0.05)
    auto = jax.jit(fnnet.with_autodiff(jax.grad(penalty)))(params, 0.3, 0.05)
    for g, w in zip(jax.tree_util.tree_leaves(hand), jax.tree_util.tree_leaves(auto)):
        assert_close(g, w)


def test_l1_subgradient_is_zero_at_zero():
    params = {"w": jnp.asarray([[0.0, 2.0], [-3.0, 0.0]]), "b": jnp.zeros(2)}
    np.testing.assert_allclose(
        jax.grad(reg.l1_penalty)(params, 0.5)["w"], [[0.0, 0.5], [-0.5, 0.0]]
    )
    np.testing.assert_allclose(
        jax.grad(reg.elastic_net_penalty)(params, 0.5, 0.25)["w"],
        [[0.0, 0.5 + 1.0], [-0.5 - 1.5, 0.0]],
    )


def test_vmap_over_strength_equals_loop(key):
    params = _params(key, jnp.float32)
    lams = jnp.asarray([0.0, 0.1, 1.0], jnp.float32)
    sweep = jax.jit(jax.vmap(jax.grad(reg.elastic_net_penalty), in_axes=(None, 0, 0)))
    swept = sweep(params, lams, lams * 2)
    reference = jax.jit(jax.grad(ref_elastic))
    for i, lam in enumerate(lams):
        want = reference(params, lam, lam * 2)
        for g, w in zip(jax.tree_util.tree_leaves(swept), jax.tree_util.tree_leaves(want)):
            assert_close(g[i], w)


def test_mask_override(key):
    params = _params(key, jnp.float32)
    only_slope = jax.tree_util.tree_map(lambda _: False, params)
    only_slope["slope"] = True
    value = reg.l2_penalty(params, 2.0, mask=only_slope)
    assert_close(value, np.sum(np.asarray(params["slope"]) ** 2))
    everything = lambda p: jax.tree_util.tree_map(lambda _: True, p)  # noqa: E731
    grads = jax.grad(reg.l2_penalty)(params, 2.0, mask=everything)
    for g, p in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(params)):
        assert_close(g, 2.0 * np.asarray(p))


def test_no_weights_gives_zero():
    params = {"b": jnp.ones(3)}
    assert float(reg.l1_penalty(params, 1.0)) == 0.0
    assert np.all(np.asarray(jax.grad(reg.l1_penalty)(params, 1.0)["b"]) == 0.0)


def test_mixed_dtypes(x64):
    params = {"w32": jnp.ones((2, 2), jnp.float32), "w64": jnp.ones((2, 2), jnp.float64)}
    assert reg.l2_penalty(params, 0.5).dtype == jnp.float64
    grads = jax.grad(reg.l2_penalty)(params, 0.5)
    assert grads["w32"].dtype == jnp.float32 and grads["w64"].dtype == jnp.float64


def test_two_rules_and_the_elastic_net_composes_them(x64, key):
    rules = fnnet.rules.all_rules()
    assert {n for n in rules if n.startswith("fnnet.regularizers.")} == {
        "fnnet.regularizers.masked_l2",
        "fnnet.regularizers.masked_l1",
    }
    params = _params(key, jnp.float64)
    alpha, beta = 0.3, 0.7
    got = jax.grad(reg.elastic_net_penalty, argnums=(0, 1, 2))(params, alpha, beta)
    want = jax.grad(ref_elastic, argnums=(0, 1, 2))(params, alpha, beta)
    for g, w in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        assert_close(g, w)


def test_errors_are_clear(key):
    params = _params(key, jnp.float32)
    with pytest.raises(
        TypeError, match=r"`mask` must have the tree structure of `params`: .*mask tree"
    ):
        reg.l2_penalty(params, 0.1, mask={"dense": True})
    bad = jax.tree_util.tree_map(lambda _: jnp.asarray(True), params)
    with pytest.raises(TypeError, match="`mask` leaves must be Python bools"):
        reg.l1_penalty(params, 0.1, mask=bad)
    with pytest.raises(ValueError, match=r"`strength` must be a scalar .*got shape \(2,\)"):
        reg.l2_penalty(params, jnp.ones(2))
    with pytest.raises(TypeError, match="`l2_strength` must be a real number"):
        reg.elastic_net_penalty(params, 0.1, "0.1")
