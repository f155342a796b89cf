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
from fnnet.diagnostics import Diagnostics, LayerStats, diagnose, format_table
from fnnet.layers import DenseParams

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


def _check_against_reference(case, dtype, rtol, atol):
    acts, loss, targets = CASES[case]
    sizes = (5, 7, 6, 4)[: len(acts)] + (4,)
    params = _params(len(case), sizes, dtype)
    x, g = _normals(1, dtype, (9, sizes[0]), (9, sizes[-1]))
    x, y = jnp.asarray(x), jnp.asarray(targets(g))
    d, deltas, rule_grads = _diagnose_and_deltas(acts, loss, params, x, y)
    value, grads, ref_deltas, per_example = jax.tree_util.tree_map(
        np.asarray, _reference(acts, loss, params, x, y)
    )
    close = functools.partial(np.testing.assert_allclose, rtol=rtol, atol=atol)

    close(d.loss, value)
    same = functools.partial(
        np.testing.assert_allclose, rtol=1e-6 if dtype == jnp.float32 else 1e-14, atol=0
    )
    for got, rule, want in zip(
        d.grads, rule_grads, grads
    ):  # gradients: jax.grad of the whole-network loss rule
        same(got.w, rule.w)  # the same rule's arithmetic: equal up to the last bits
        same(got.b, rule.b)
        close(got.w, want.w)
        close(got.b, want.b)
    for got, want in zip(deltas, ref_deltas):  # δ_l elementwise
        close(got, want)
    close(d.layers.delta_norm, [np.linalg.norm(v) for v in ref_deltas])
    close(d.layers.grad_w_norm, [np.linalg.norm(g.w) for g in grads])
    close(d.layers.grad_b_norm, [np.linalg.norm(g.b) for g in grads])
    per_layer = np.stack(
        [np.sqrt(np.sum(g.w**2, axis=(1, 2)) + np.sum(g.b**2, axis=1)) for g in per_example]
    )
    close(d.layers.per_example_grad_norm, per_layer)
    close(d.per_example_grad_norm, np.sqrt(np.sum(per_layer**2, axis=0)))
    close(per_example[0].w.mean(axis=0), grads[0].w)  # the reference itself: the mean of ∇ℓ_i is ∇L
    for leaf in jax.tree_util.tree_leaves(d):
        assert leaf.dtype == dtype


@pytest.mark.parametrize("case", sorted(set(CASES) - {"tanh|bce"}))
def test_matches_independent_reference_float64(x64, case):
    _check_against_reference(case, jnp.dtype("float64"), 1e-10, 1e-13)


@pytest.mark.parametrize("case", ["tanh|bce"])
def test_matches_independent_reference_float32(case):  # float32: loose
    _check_against_reference(case, jnp.dtype("float32"), 2e-4, 1e-6)


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
        # counts over at most 48 entries: rtol 1e-12 tells any two counts apart (mean rounding only)
        np.testing.assert_allclose(d.layers.dead_fraction[0], dead, rtol=1e-12)
        np.testing.assert_allclose(
            d.layers.saturated_fraction[1:3], [sat_sigmoid, sat_tanh], rtol=1e-12
        )
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
    for got, want in zip(
        jax.tree_util.tree_leaves(history), jax.tree_util.tree_leaves(first._replace(grads=None))
    ):
        np.testing.assert_allclose(got[0], want, rtol=1e-5, atol=1e-7, equal_nan=True)
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
    np.testing.assert_allclose([float(r[2]) for r in rows], d.layers.delta_norm, rtol=1e-3)
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
    with pytest.raises(
        TypeError, match="`activations` must be an fnnet.MLP Network or a non-empty tuple"
    ):
        diagnose("sigmoid", loss, params, x, y)
    with pytest.raises(TypeError, match=r"`activations\[1\]` must be a function"):
        diagnose((S, "identity"), loss, params, x, y)
    with pytest.raises(TypeError, match="does not record its per-layer activations"):
        diagnose(fnnet.networks.Network(net.init, net.apply, net.loss), loss, params, x, y)
    with pytest.raises(TypeError, match="`loss` must be a loss function"):
        diagnose(net, "softmax_cross_entropy", params, x, y)
    with pytest.raises(TypeError, match="`params` must be a tuple of 2 DenseParams"):
        diagnose(net, loss, params[:1], x, y)
    with pytest.raises(ValueError, match=r"`x` must be a batch \(batch, 4\); got shape \(4,\)"):
        diagnose(net, loss, params, x[0], y)
    with pytest.raises(ValueError, match=r"`saturation_margin` must lie in \(0, 0.5\)"):
        diagnose(net, loss, params, x, y, saturation_margin=0.7)
    with pytest.raises(TypeError, match="`diagnostics` must be a Diagnostics"):
        format_table(LayerStats(*[jnp.zeros(2)] * 6))
    assert Diagnostics._fields == ("loss", "grads", "layers", "per_example_grad_norm")


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
