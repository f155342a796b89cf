"""δ diagnostics against per-layer quantities from jax.vjp / jax.grad of a plain jnp forward.

The reference never touches fnnet's rules: ``δ_l = ∂L/∂z_l`` is the cotangent of a zero
perturbation added to ``z_l`` in a plain forward, the per-example gradients are
``jax.vmap(jax.grad)`` of the loss on a batch of one, and dead/saturated counts come from numpy.
"""

import functools
import math
import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnnet
from fnnet import activations, losses, networks
from fnnet.diagnostics import Regime, diagnose, format_table
from fnnet.gradcheck import assert_close
from fnnet.layers import DenseParams
from fnnet.recurrent import delta_norms

ROOT = pathlib.Path(__file__).resolve().parents[1]
PLAIN = {  # independent plain-jnp forwards
    activations.identity: lambda z: z,
    activations.sigmoid: lambda z: 1.0 / (1.0 + jnp.exp(-z)),
    activations.tanh: lambda z: 2.0 / (1.0 + jnp.exp(-2.0 * z)) - 1.0,
    activations.relu: lambda z: jnp.maximum(z, 0.0),
}


def _plain_loss(loss, a, y):
    if loss is losses.squared_error:
        return jnp.mean(0.5 * jnp.sum((y - a) ** 2, axis=-1))
    if loss is losses.softmax_cross_entropy:
        return -jnp.mean(
            jnp.sum(jax.nn.one_hot(y, a.shape[-1], dtype=a.dtype) * jax.nn.log_softmax(a), axis=-1)
        )
    assert loss is losses.sigmoid_binary_cross_entropy
    return -jnp.mean(jnp.sum(y * jax.nn.log_sigmoid(a) + (1 - y) * jax.nn.log_sigmoid(-a), axis=-1))


def _plain_forward(acts, params, x, perturbations=None):
    a = x
    for l, (f, (w, b)) in enumerate(zip(acts, params)):
        z = a @ w + b
        if perturbations is not None:
            z = z + perturbations[l]  # zero: its cotangent is δ_l = ∂L/∂z_l
        a = PLAIN[f](z)
    return a


@functools.partial(jax.jit, static_argnums=(0, 1))
def _reference(acts, loss, params, x, y):
    zeros = tuple(jnp.zeros((x.shape[0], w.shape[1]), x.dtype) for w, _ in params)
    value, pullback = jax.vjp(
        lambda p, e: _plain_loss(loss, _plain_forward(acts, p, x, e), y), params, zeros
    )
    grads, deltas = pullback(jnp.ones_like(value))

    def example_loss(p, xi, yi):  # ℓ_i: the loss on a batch of one
        return _plain_loss(loss, _plain_forward(acts, p, xi[None]), yi[None])

    per_example = jax.vmap(jax.grad(example_loss), in_axes=(None, 0, 0))(params, x, y)
    return value, grads, deltas, per_example


@functools.partial(jax.jit, static_argnums=(0, 1))
def _diagnose_and_deltas(acts, loss, params, x, y):
    """``diagnose`` plus the δ_l arrays of the public recursion and jax.grad of ``mlp_loss``."""
    forward = networks.record_loss(acts, loss, params, x, y)
    delta, _ = networks.output_delta(forward, jnp.ones_like(forward.value))
    deltas = networks.backprop(params, forward.tape.inputs, forward.tape.pullbacks, delta)[2]
    rule_grads = jax.grad(networks.mlp_loss, argnums=2)(acts, loss, params, x, y)
    return diagnose(acts, loss, params, x, y), deltas, rule_grads


def _normals(seed, dtype, *shapes):
    """Standard normal arrays of the given shapes, cut from one draw (one compile per dtype)."""
    pool = np.asarray(jax.random.normal(jax.random.key(seed), (4096,), dtype))
    sizes = [math.prod(shape) for shape in shapes]
    return [pool[i - n : i].reshape(shape) for n, i, shape in zip(sizes, np.cumsum(sizes), shapes)]


def _params(seed, sizes, dtype, scales=None):
    """Random ``DenseParams`` per layer: ``w ~ scale · N(0, 1/fan_in)``, ``b ~ N(0, 0.3²)``."""
    pairs = list(zip(sizes[:-1], sizes[1:]))
    draws = _normals(seed, dtype, *pairs, *[(n_out,) for _, n_out in pairs])
    scales = (1.3,) * len(pairs) if scales is None else scales
    return tuple(
        DenseParams(jnp.asarray(s * w / np.sqrt(w.shape[0]), dtype), jnp.asarray(0.3 * b, dtype))
        for s, w, b in zip(scales, draws[: len(pairs)], draws[len(pairs) :])
    )


S, R, T, I = activations.sigmoid, activations.relu, activations.tanh, activations.identity
CASES = {  # name: activations, loss, targets from a standard normal (batch, classes) draw
    "sigmoid-relu|squared_error": ((S, R, I), losses.squared_error, lambda g: g),
    "tanh-relu|softmax": (
        (T, R, I),
        losses.softmax_cross_entropy,
        lambda g: np.argmax(g, axis=1).astype(np.int32),
    ),
    "relu-sigmoid|sigmoid out, unmatched": (
        (R, S, S),
        losses.squared_error,
        lambda g: 1.0 / (1.0 + np.exp(-g)),
    ),
    "tanh|bce": ((T, I), losses.sigmoid_binary_cross_entropy, lambda g: (g > 0).astype(g.dtype)),
}


def _check_against_reference(case, dtype):
    acts, loss, targets = CASES[case]
    sizes = (5, 7, 6, 4)[: len(acts)] + (4,)
    params = _params(len(case), sizes, dtype)
    x, g = _normals(1, dtype, (9, sizes[0]), (9, sizes[-1]))
    x, y = jnp.asarray(x), jnp.asarray(targets(g))
    d, deltas, rule_grads = _diagnose_and_deltas(acts, loss, params, x, y)
    value, grads, ref_deltas, per_example = jax.tree_util.tree_map(
        np.asarray, _reference(acts, loss, params, x, y)
    )
    assert_close(d.loss, value)
    assert_close(d.grads, rule_grads)  # jax.grad of the whole-network loss rule
    assert_close(d.grads, grads)
    assert_close(deltas, ref_deltas)  # δ_l elementwise
    assert_close(d.layers.delta_norm, np.array([np.linalg.norm(v) for v in ref_deltas]))
    assert_close(d.layers.grad_w_norm, np.array([np.linalg.norm(g.w) for g in grads]))
    assert_close(d.layers.grad_b_norm, np.array([np.linalg.norm(g.b) for g in grads]))
    per_layer = np.stack(
        [np.sqrt(np.sum(g.w**2, axis=(1, 2)) + np.sum(g.b**2, axis=1)) for g in per_example]
    )
    assert_close(d.layers.per_example_grad_norm, per_layer)
    assert_close(d.per_example_grad_norm, np.sqrt(np.sum(per_layer**2, axis=0)))
    # the reference itself: the mean of ∇ℓ_i is ∇L
    assert_close(per_example[0].w.mean(axis=0), grads[0].w)
    assert d.through_time == (None,) * len(acts)
    for leaf in jax.tree_util.tree_leaves(d):
        assert leaf.dtype == dtype


@pytest.mark.parametrize("case", sorted(set(CASES) - {"tanh|bce"}))
def test_matches_independent_reference_float64(x64, case):
    _check_against_reference(case, jnp.dtype("float64"))


@pytest.mark.parametrize("case", ["tanh|bce"])
def test_matches_independent_reference_float32(case):
    _check_against_reference(case, jnp.dtype("float32"))


def _numpy_counts(params, x, margin):
    """Dead ReLU units (z ≤ 0 on every example) and saturated sigmoid/tanh entries, in numpy."""
    (w1, b1), (w2, b2), (w3, b3), _ = [(np.asarray(w), np.asarray(b)) for w, b in params]
    z1 = np.asarray(x) @ w1 + b1
    a2 = 1.0 / (1.0 + np.exp(-(np.maximum(z1, 0.0) @ w2 + b2)))
    a3 = np.tanh(a2 @ w3 + b3)
    dead = np.mean(np.all(z1 <= 0, axis=0))
    return dead, np.mean((a2 < margin) | (a2 > 1 - margin)), np.mean(np.abs(a3) > 1 - margin)


@pytest.mark.parametrize("jax_nn", [False, True], ids=["fnnet", "jax.nn"])
def test_dead_and_saturated_fractions_match_numpy_counts(x64, jax_nn):
    acts = (jax.nn.relu, jax.nn.sigmoid, jnp.tanh, I) if jax_nn else (R, S, T, I)
    params = list(_params(3, (4, 8, 8, 8, 3), jnp.float64, scales=(1.0, 1.5, 3.0, 1.0)))
    bias = np.asarray(params[0].b).copy()
    bias[:3], bias[3:5] = -50.0, 6.0  # units 0-2 dead on any of these inputs, 3-4 alive on all
    params[0] = DenseParams(params[0].w, jnp.asarray(bias))
    params = tuple(params)
    x, y = map(jnp.asarray, _normals(4, jnp.float64, (6, 4), (6, 3)))
    run = jax.jit(lambda p, m: diagnose(acts, losses.squared_error, p, x, y, saturation_margin=m))

    counts = {}
    for margin in (0.01, 0.2):  # the margin is a traced argument: one compile for both
        d = jax.tree_util.tree_map(np.asarray, run(params, jnp.asarray(margin)))
        dead, sat_sigmoid, sat_tanh = counts[margin] = _numpy_counts(params, x, margin)
        assert (
            3 / 8 <= dead <= 6 / 8 and 0 < sat_sigmoid < 1 and 0 < sat_tanh < 1
        )  # not all or none
        assert_close(d.layers.dead_fraction[0], dead)
        assert_close(d.layers.saturated_fraction[1:3], np.array([sat_sigmoid, sat_tanh]))
        assert np.isnan(d.layers.dead_fraction[1:]).all()  # not ReLU
        assert np.isnan(d.layers.saturated_fraction[[0, 3]]).all()  # neither sigmoid nor tanh
        assert not np.any(d.grads[0].w[:, :3]) and not np.any(d.grads[0].b[:3])  # dead: no gradient
    assert counts[0.01][1:] != counts[0.2][1:]


def test_logs_every_step_of_a_compiled_training_loop():
    net = fnnet.MLP((16, 16, 3), activation=activations.relu)
    params = _params(5, (4, 16, 16, 3), jnp.float32)
    x = jnp.asarray(_normals(6, jnp.float32, (32, 4))[0])
    y = jnp.argmax(x[:, :3], axis=1)

    def step(params, _):  # gradient descent on the diagnosed gradients, logging every step
        d = diagnose(net, losses.softmax_cross_entropy, params, x, y)
        return jax.tree_util.tree_map(lambda p, g: p - 0.1 * g, params, d.grads), d._replace(
            grads=None
        )

    history = jax.jit(lambda p: jax.lax.scan(step, p, None, length=6)[1])(params)
    assert history.layers.delta_norm.shape == (6, 3)
    assert history.layers.per_example_grad_norm.shape == (6, 3, 32)
    assert history.per_example_grad_norm.shape == (6, 32)
    assert history.loss[-1] < history.loss[0]
    first = jax.jit(lambda p: diagnose(net, losses.softmax_cross_entropy, p, x, y))(params)
    assert_close(jax.tree_util.tree_map(lambda v: v[0], history), first._replace(grads=None))
    jaxpr = str(
        jax.make_jaxpr(lambda p: diagnose(net, losses.softmax_cross_entropy, p, x, y))(params)
    )
    assert "callback" not in jaxpr  # no host round trips: cheap inside a compiled loop


def test_format_table():
    acts = (R, S, I)
    params = _params(7, (3, 5, 4, 2), jnp.float32)
    x, y = jnp.asarray(_normals(7, jnp.float32, (4, 3))[0]), jnp.array([0, 1, 1, 0])
    d = jax.jit(diagnose, static_argnums=(0, 1))(acts, losses.softmax_cross_entropy, params, x, y)
    lines = format_table(d, acts).splitlines()
    assert len(lines) == 2 + 3 and lines[0].startswith("loss ")
    rows = [line.split() for line in lines[2:]]
    assert [r[:2] for r in rows] == [["1", "relu"], ["2", "sigmoid"], ["3", "identity"]]
    assert [r[2] for r in rows] == [f"{v:.3e}" for v in np.asarray(d.layers.delta_norm)]
    assert rows[0][6] == "–" and rows[1][5] == "–" and rows[2][5:7] == ["–", "–"]
    assert rows[0][5] == f"{100 * float(d.layers.dead_fraction[0]):.1f}%"
    assert format_table(d).splitlines()[2].split()[:2] == [
        "1",
        f"{float(d.layers.delta_norm[0]):.3e}",
    ]
    stacked = jax.tree_util.tree_map(lambda v: jnp.stack([v, v]), d)
    with pytest.raises(ValueError, match="`diagnostics` must be one step's"):
        format_table(stacked)
    with pytest.raises(ValueError, match="`activations` has 2 layers but `diagnostics` has 3"):
        format_table(d, acts[:2])


def test_errors():
    net = fnnet.MLP((3, 2))
    params = _params(8, (4, 3, 2), jnp.float32)
    x, y = jnp.ones((5, 4)), jnp.zeros(5, jnp.int32)
    loss = losses.softmax_cross_entropy
    with pytest.raises(TypeError, match="`network` must be an fnnet.MLP, an fnnet.serial network"):
        diagnose("sigmoid", loss, params, x, y)
    with pytest.raises(TypeError, match=r"`network\[1\]` must be a function"):
        diagnose((S, "identity"), loss, params, x, y)
    with pytest.raises(TypeError, match="does not record its per-layer activations"):
        diagnose(fnnet.networks.Network(net.init, net.apply, net.loss), loss, params, x, y)
    with pytest.raises(TypeError, match=r"single layer(.|\n)*fnnet.serial\(layer\)"):
        diagnose(fnnet.Dense(2), loss, params[0], x, y)
    with pytest.raises(TypeError, match="`loss` must be a loss function"):
        diagnose(net, "softmax_cross_entropy", params, x, y)
    with pytest.raises(TypeError, match="`params` must be a tuple of 2 DenseParams"):
        diagnose(net, loss, params[:1], x, y)
    with pytest.raises(ValueError, match=r"`x` must be a batch \(batch, 4\); got shape \(4,\)"):
        diagnose(net, loss, params, x[0], y)
    with pytest.raises(ValueError, match=r"`saturation_margin` must lie in \(0, 0.5\)"):
        diagnose(net, loss, params, x, y, saturation_margin=0.7)
    with pytest.raises(ValueError, match='`align` must be "start" or "end"'):
        diagnose(net, loss, params, x, y, align="left")
    with pytest.raises(TypeError, match="`activations` is for serial networks"):
        diagnose(net, loss, params, x, y, activations=(S, I))
    with pytest.raises(TypeError, match=r"`regimes` must be a mapping"):
        diagnose(net, loss, params, x, y, regimes=[(S, Regime())])
    with pytest.raises(TypeError, match=r"`regimes\[sigmoid\]` must be a Regime"):
        diagnose(net, loss, params, x, y, regimes={S: lambda a: a > 0})
    with pytest.raises(TypeError, match=r"`regimes\[sigmoid\]` must be a Regime"):
        diagnose(net, loss, params, x, y, regimes={S: Regime(dead="a <= 0")})
    cnn = fnnet.serial(fnnet.Dense(3, R), fnnet.Dense(2))
    with pytest.raises(ValueError, match=r"one activation \(or None\) per layer of the network, 2"):
        diagnose(cnn, loss, params, x, y, activations=(R,))
    with pytest.raises(TypeError, match=r"`activations\[0\]` must be a function"):
        diagnose(cnn, loss, params, x, y, activations=("relu", None))
    with pytest.raises(TypeError, match="`params` must be a tuple of 2 layer params"):
        diagnose(cnn, loss, params[:1], x, y)
    d = diagnose(net, loss, params, x, y)
    with pytest.raises(TypeError, match="`diagnostics` must be a Diagnostics"):
        format_table(d.layers)
    assert type(d)._fields == (
        "loss",
        "grads",
        "layers",
        "per_example_grad_norm",
        "through_time",
    )


def softsign(z):  # a custom activation: |a| → 1 as |z| → ∞, never dead
    return z / (1.0 + jnp.abs(z))


def relu6(z):  # dead on both sides: no gradient for z ≤ 0 or z ≥ 6
    return jnp.clip(z, 0.0, 6.0)


def test_declared_regimes_for_custom_activations(x64):
    """A custom activation gets NaN until its regime is declared, then numpy's counts."""
    acts = (relu6, softsign, I)
    params = list(_params(9, (4, 8, 8, 3), jnp.float64, scales=(6.0, 4.0, 1.0)))
    bias = np.asarray(params[0].b).copy()
    bias[:2], bias[2:4] = -50.0, 50.0  # relu6 units 0-1 off below, 2-3 off above (dead both)
    params[0] = DenseParams(params[0].w, jnp.asarray(bias))
    params = tuple(params)
    x, y = map(jnp.asarray, _normals(10, jnp.float64, (12, 4), (12, 3)))
    regimes = {
        relu6: Regime(dead=lambda a: (a <= 0) | (a >= 6)),
        softsign: Regime(saturated=lambda a, m: jnp.abs(a) > 1 - m),
    }

    def run(regimes):  # one compiled function per regimes, the margin a traced argument
        return jax.jit(
            lambda p, m: diagnose(
                acts, losses.squared_error, p, x, y, saturation_margin=m, regimes=regimes
            )
        )

    undeclared, declared = run(None)(params, 0.1), run(regimes)
    assert np.isnan(undeclared.layers.dead_fraction).all()
    assert np.isnan(undeclared.layers.saturated_fraction).all()

    (w1, b1), (w2, b2), _ = [(np.asarray(w), np.asarray(b)) for w, b in params]
    z1 = np.asarray(x) @ w1 + b1
    a2 = (lambda z: z / (1 + np.abs(z)))(np.clip(z1, 0, 6) @ w2 + b2)
    dead = np.mean(np.all((z1 <= 0) | (z1 >= 6), axis=0))
    for margin in (0.1, 0.3):
        saturated = np.mean(np.abs(a2) > 1 - margin)
        assert 4 / 8 <= dead < 1 and 0 < saturated < 1  # not all or none
        d = declared(params, jnp.asarray(margin))
        assert_close(d.layers.dead_fraction, np.array([dead, np.nan, np.nan]))
        assert_close(d.layers.saturated_fraction, np.array([np.nan, saturated, np.nan]))
        assert_close(d.grads, undeclared.grads)  # the regimes change the statistics only
    assert not np.any(d.grads[0].w[:, :4])  # dead on both sides: no gradient reaches them


def test_a_declared_regime_replaces_a_built_in_one(x64):
    acts = (R, I)
    params = _params(11, (3, 6, 2), jnp.float64)
    x, y = map(jnp.asarray, _normals(12, jnp.float64, (7, 3), (7, 2)))
    strict = {R: Regime(dead=lambda a: a <= 0.5, saturated=lambda a, m: a > 1 / m)}
    d = jax.jit(
        lambda p: diagnose(
            acts, losses.squared_error, p, x, y, regimes=strict, saturation_margin=0.4
        )
    )(params)
    a1 = np.maximum(np.asarray(x) @ np.asarray(params[0].w) + np.asarray(params[0].b), 0)
    assert_close(d.layers.dead_fraction[0], np.mean(np.all(a1 <= 0.5, axis=0)))
    assert_close(d.layers.saturated_fraction[0], np.mean(a1 > 2.5))


# -- serial networks: δ at each layer's output, from one jax.vjp with zero probes ------------------


def _cnn(dtype):
    L = fnnet.layers
    return (
        L.Conv(4, 3, padding=1, activation=R, dtype=dtype),  # (B, 12, 2) -> (B, 12, 4)
        L.MaxPool(2),  # -> (B, 6, 4)
        L.Conv(3, 3, activation=T, dtype=dtype),  # -> (B, 4, 3)
        L.Flatten(),  # -> (B, 12)
        L.Dropout(0.25),
        L.Residual(fnnet.Dense(12, S, dtype=dtype)),  # x + σ(x W + b)
        L.Maxout(5, pieces=2, dtype=dtype),  # -> (B, 5)
        fnnet.Dense(3, dtype=dtype),  # logits
    )


CNN_ACTIVATIONS = (R, None, T, None, None, None, None, I)


def _plain_cnn(params, x, masks, probes):
    """The CNN in plain jnp/lax, with ``probes[l]`` added to layer ``l``'s output."""
    conv = functools.partial(
        jax.lax.conv_general_dilated, window_strides=(1,), dimension_numbers=("NWC", "WIO", "NWC")
    )
    out = []

    def emit(a):
        out.append(a + probes[len(out)])
        return out[-1]

    c1, _, c2, _, _, (rw, rb), (mw, mb), (dw, db) = params
    a = emit(jnp.maximum(conv(x, c1.w, padding=((1, 1),)) + c1.b, 0.0))
    a = emit(jax.lax.reduce_window(a, -jnp.inf, jax.lax.max, (1, 2, 1), (1, 2, 1), "VALID"))
    a = emit(PLAIN[T](conv(a, c2.w, padding="VALID") + c2.b))
    a = emit(a.reshape(a.shape[0], -1))
    a = emit(a * masks)
    a = emit(a + PLAIN[S](a @ rw + rb))
    a = emit(jnp.max((a @ mw + mb).reshape(a.shape[0], 5, 2), axis=-1))
    return emit(a @ dw + db), out


def test_serial_cnn_matches_an_independent_reference(x64):
    """Conv, pooling, flatten, dropout (training), residual, maxout and dense in one network:
    loss, grads, ‖δ_l‖ at every layer's output, parameter norms, dead channels and saturated
    entries against jax.grad of a plain lax forward with zero perturbations of each output."""
    dt = jnp.float64
    layers = _cnn(dt)
    net = fnnet.serial(*layers)
    x = jax.random.normal(jax.random.key(1), (6, 12, 2), dt)
    y = jax.random.randint(jax.random.key(2), (6,), 0, 3)
    shapes = [(6, 12, 4), (6, 6, 4), (6, 4, 3), (6, 12), (6, 12), (6, 12), (6, 5), (6, 3)]

    @jax.jit
    def run(key):  # everything in one compiled program
        params = list(net.init(jax.random.key(0), x.shape))
        # channel 0 of the first convolution dead at every position; the tanh one saturating
        params[0] = params[0]._replace(b=params[0].b.at[0].set(-50.0))
        params[2] = params[2]._replace(w=6.0 * params[2].w)
        params = tuple(params)
        d = diagnose(
            net,
            losses.softmax_cross_entropy,
            params,
            x,
            y,
            activations=CNN_ACTIVATIONS,
            key=key,
            training=True,
            saturation_margin=0.2,
        )
        # the dropout mask: layer 4 draws with fold_in(key, 4), as serial.apply gives it
        masks = layers[4].apply(
            (), jnp.ones((6, 12), dt), key=jax.random.fold_in(key, 4), training=True
        )

        def plain_loss(p, probes):
            logits, outputs = _plain_cnn(p, x, masks, probes)
            return _plain_loss(losses.softmax_cross_entropy, logits, y), outputs

        zeros = [jnp.zeros(s, dt) for s in shapes]
        reference = jax.value_and_grad(plain_loss, (0, 1), has_aux=True)(params, zeros)
        applied = jax.grad(
            lambda p: losses.softmax_cross_entropy(net.apply(p, x, key=key, training=True), y)
        )(params)
        return d, reference, applied

    d, ((value, outputs), (grads, deltas)), applied = run(jax.random.key(3))
    assert_close(d.loss, value)
    assert_close(d.grads, grads)
    assert_close(d.grads, applied)  # the same forward as the network's own apply
    assert_close(d.layers.delta_norm, np.array([np.linalg.norm(v) for v in deltas]))

    def norm(tree, keep):
        leaves = [np.asarray(v) for v in jax.tree_util.tree_leaves(tree) if keep(np.ndim(v))]
        return np.sqrt(sum(np.sum(v**2) for v in leaves)) if leaves else np.nan

    assert_close(d.layers.grad_w_norm, np.array([norm(g, lambda n: n >= 2) for g in grads]))
    assert_close(d.layers.grad_b_norm, np.array([norm(g, lambda n: n <= 1) for g in grads]))
    a1, a3 = np.asarray(outputs[0]), np.asarray(outputs[2])
    dead = np.mean(np.all(a1 <= 0, axis=(0, 1)))  # a channel dead at every example and position
    saturated = np.mean(np.abs(a3) > 0.8)
    assert 1 / 4 <= dead < 1 and 0 < saturated < 1
    nan = np.nan
    assert_close(d.layers.dead_fraction, np.array([dead] + [nan] * 7))
    assert_close(d.layers.saturated_fraction, np.array([nan, nan, saturated] + [nan] * 5))
    assert np.isnan(
        d.layers.per_example_grad_norm
    ).all() and d.layers.per_example_grad_norm.shape == (8, 6)
    assert np.isnan(d.per_example_grad_norm).all() and d.through_time == (None,) * 8
    for leaf in jax.tree_util.tree_leaves(d):
        assert leaf.dtype == dt
    table = format_table(d, CNN_ACTIVATIONS).splitlines()
    assert table[0] == f"loss {float(d.loss):.6g}"  # no per-example norms for a serial network
    assert [row.split()[1] for row in table[2:]] == ["relu", "–", "tanh"] + ["–"] * 4 + ["identity"]


def _delta_column(lines, header, layer):
    start = lines.index(header)
    row = next(line.split() for line in lines[start + 3 :] if line.split()[0] == str(layer))
    return float(row[2])


@pytest.mark.slow
def test_vanishing_gradients_example_quick(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    # XLA's backend optimisations off: compiling the three 10-layer networks dominates a quick
    # run, and the printed numbers do not depend on it.
    env = dict(
        os.environ,
        PYTHONIOENCODING="utf-8",
        MPLBACKEND="Agg",
        XLA_FLAGS="--xla_backend_optimization_level=0",
    )
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "vanishing_gradients.py"),
            "--quick",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    png = tmp_path / "vanishing_gradients.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
    lines = done.stdout.splitlines()
    ratio = {
        name: _delta_column(lines, header, 1) / _delta_column(lines, header, 10)
        for name in ("sigmoid", "tanh", "relu")
        for header in [f"== {name} (10 layers, width 32), step 0 (initialisation) =="]
    }
    assert ratio["sigmoid"] < 1e-4  # σ' ≤ ¼ per layer: δ vanishes towards the input
    assert (
        ratio["relu"] > 0.1 and ratio["tanh"] > 0.1
    )  # He-initialised ReLU (and tanh) keep its scale


def _plain_elman(params, x, lengths, state_probes):
    """``h_t = tanh(x_t W_ih + b_ih + h_{t−1} W_hh + b_hh)`` by ``lax.scan``, padded steps
    keeping the state and outputting 0; ``state_probes[:, t]`` is added to ``h_t`` where it is
    carried, so its cotangent is the total ``∂L/∂h_t`` through time."""
    w_ih, w_hh, b_ih, b_hh = params

    def step(h, inputs):
        x_t, probe_t, valid_t = inputs
        h_new = PLAIN[T](x_t @ w_ih + b_ih + h @ w_hh + b_hh) + probe_t
        h_new = jnp.where(valid_t[:, None], h_new, h)
        return h_new, jnp.where(valid_t[:, None], h_new, 0.0)

    valid = jnp.arange(x.shape[1], dtype=lengths.dtype)[None, :] < lengths[:, None]
    h0 = jnp.zeros((x.shape[0], w_hh.shape[0]), x.dtype)
    scanned = (jnp.swapaxes(x, 0, 1), jnp.swapaxes(state_probes, 0, 1), valid.T)
    return jnp.swapaxes(jax.lax.scan(step, h0, scanned)[1], 0, 1)


def _through_time_reference(dh, lengths, align):
    """Batch mean of ‖∂L/∂h_t‖ over the rows that have step t (or t steps before their end)."""
    norms, time = np.linalg.norm(dh, axis=-1), dh.shape[1]
    rows = []
    for t in range(time):
        steps = [(i, t if align == "start" else n - time + t) for i, n in enumerate(lengths)]
        rows.append(np.mean([norms[i, s] for i, s in steps if 0 <= s < lengths[i]]))
    return np.array(rows)


@pytest.mark.parametrize("padded", [False, True], ids=["full", "lengths"])
def test_serial_recurrent_network_and_delta_through_time(x64, padded):
    """A recurrent layer inside serial: δ at its output, and δ through time (∂L/∂h_t of a plain
    scan with perturbed states), batch means over the valid rows, aligned at start and end."""
    dt = jnp.float64
    net = fnnet.serial(
        fnnet.recurrent.Elman(4, dtype=dt), fnnet.layers.Flatten(), fnnet.Dense(2, dtype=dt)
    )
    x = jax.random.normal(jax.random.key(4), (5, 6, 3), dt)
    y = jax.random.normal(jax.random.key(5), (5, 2), dt)
    lengths = jnp.array([6, 2, 4, 1, 5] if padded else [6] * 5, jnp.int32)
    acts = (T, None, I)

    @jax.jit
    def run(lengths):
        params = net.init(jax.random.key(6), x.shape)
        params = (params[0]._replace(w_hh=3.0 * params[0].w_hh),) + params[1:]  # some saturated
        inputs = (x, lengths) if padded else x
        got = {
            align: diagnose(
                net, losses.squared_error, params, inputs, y, activations=acts, align=align
            )
            for align in ("start", "end")
        }

        def plain_loss(p, state_probes, output_probes):
            h = _plain_elman(p[0], x, lengths, state_probes) + output_probes[0]
            flat = h.reshape(5, -1) + output_probes[1]
            out = flat @ p[2].w + p[2].b + output_probes[2]
            return _plain_loss(losses.squared_error, out, y), h

        probes = [jnp.zeros(s, dt) for s in ((5, 6, 4), (5, 24), (5, 2))]
        reference = jax.value_and_grad(plain_loss, (0, 1, 2), has_aux=True)(
            params, jnp.zeros((5, 6, 4), dt), probes
        )
        return got, reference

    got, ((value, h), (grads, dh, deltas)) = run(lengths)
    for align, d in got.items():
        assert_close(d.loss, value)
        assert_close(d.grads, grads)
        assert_close(d.layers.delta_norm, np.array([np.linalg.norm(v) for v in deltas]))
        assert d.through_time[1:] == (None, None)
        want = _through_time_reference(np.asarray(dh), np.asarray(lengths), align)
        assert_close(d.through_time[0], want)
        valid = (np.arange(6)[None, :] < np.asarray(lengths)[:, None])[..., None]
        saturated = np.sum((np.abs(np.asarray(h)) > 0.99) & valid) / (4 * valid.sum())
        assert 0 < saturated < 1
        assert_close(d.layers.saturated_fraction, np.array([saturated, np.nan, np.nan]))
    if padded:  # the padded rows would pull the late steps' mean down; end alignment differs
        assert not np.allclose(got["start"].through_time[0], got["end"].through_time[0])
    lines = format_table(got["start"], acts).splitlines()
    assert lines[-1].startswith("layer 1 through time (6 steps): batch-mean ‖δh_t‖ ")


def test_delta_norms_respect_lengths_and_align_at_either_end(x64):
    """recurrent.delta_norms against a NumPy loop over rows: padded steps stay out of the mean
    (even when NaN), a step no row has is NaN, NaN in a valid step stays NaN; jit with traced
    lengths gives the same numbers."""
    dh = np.asarray(_normals(13, jnp.float64, (4, 7, 3))[0]).copy()
    lengths = np.array([7, 3, 5, 2], np.int32)
    for i, n in enumerate(lengths):
        dh[i, n:] = np.nan  # padding: whatever it holds must not reach the mean
    norms = jax.jit(lambda d, n: {a: delta_norms(d, n, align=a) for a in ("start", "end")})
    got = norms(dh, lengths)
    for align in ("start", "end"):
        assert_close(got[align], _through_time_reference(dh, lengths, align))
        assert_close(delta_norms(dh, lengths, align=align), got[align])
    full = np.nan_to_num(dh)
    assert_close(delta_norms(full), np.linalg.norm(full, axis=-1).mean(axis=0))  # no lengths
    assert_close(delta_norms(full, align="end"), delta_norms(full))
    short = delta_norms(dh[1:], lengths[1:])  # no row has steps 5 and 6
    assert np.isnan(short[5:]).all() and np.isfinite(short[:5]).all()
    bad = np.nan_to_num(dh)
    bad[1, 2, 0] = np.nan  # a NaN inside row 1's valid steps: NaN in, NaN out
    assert np.isnan(delta_norms(bad, lengths)[2]) and np.isfinite(delta_norms(bad, lengths)[3])
    assert_close(
        delta_norms(dh[2], 5),  # one unbatched sequence
        np.where(np.arange(7) < 5, np.linalg.norm(full[2], axis=-1), np.nan),
    )
    with pytest.raises(ValueError, match='`align` must be "start" or "end"'):
        delta_norms(dh, lengths, align="right")
    with pytest.raises(ValueError, match=r"`deltas` must have rank 2 or 3"):
        delta_norms(dh[0, 0])
    with pytest.raises(ValueError, match=r"`lengths` must lie in \[1, 7\]"):
        delta_norms(dh, np.array([8, 1, 1, 1]))
    with pytest.raises(ValueError, match=r"`lengths` must have shape \(4,\)"):
        delta_norms(dh, lengths[:2])
