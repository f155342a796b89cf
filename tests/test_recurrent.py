"""fnnet.recurrent: values, BPTT gradients, masking, truncation, bidirectional reversal, errors.

References are written here, step by step: a loop over time of the cell's published equations
(the same code runs in NumPy for values and in ``jax.numpy`` for ``jax.grad``), masked with
``where`` and truncated with ``lax.stop_gradient``; nothing from fnnet.recurrent is reused.
"""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnnet
from fnnet import activations, layers, recurrent

KINDS = ("elman", "lstm", "lstm_peep", "gru")
B, T, F, H = 3, 5, 2, 3
# The programs here run once: compile them quickly (as fnnet.gradcheck does).
_jit = functools.partial(jax.jit, compiler_options={"xla_backend_optimization_level": 0})
LENGTHS = (5, 2, 1)  # full, partial and single-step rows


def _layer(kind, dtype=jnp.float64, **kw):
    if kind == "elman":
        return recurrent.Elman(H, dtype=dtype, **kw)
    if kind == "gru":
        return recurrent.GRU(H, dtype=dtype, **kw)
    return recurrent.LSTM(H, peepholes=kind == "lstm_peep", dtype=dtype, **kw)


def _setup(kind, dtype=jnp.float64, seed=0, **kw):
    """(layer, params, x, h0 in the layer's format, lengths) with random peepholes."""
    layer = _layer(kind, dtype, **kw)
    k = jax.random.split(jax.random.key(seed), 4)
    params = layer.init(k[0], (T, F))
    if kind == "lstm_peep":
        params = params._replace(peepholes=0.5 * jax.random.normal(k[1], (3, H), dtype))
    x = jax.random.normal(k[2], (B, T, F), dtype)
    h = 0.5 * jax.random.normal(k[3], (2, B, H), dtype)
    h0 = h[0] if kind in ("elman", "gru") else (h[0], h[1])
    return layer, params, x, h0, jnp.array(LENGTHS, jnp.int32)


# --- the reference: the published step equations, in a loop ------------------------------------


def _step(kind, xp, p, x_t, state):
    def sig(z):
        return 1.0 / (1.0 + xp.exp(-z))

    if kind == "elman":
        return (xp.tanh(x_t @ p.w_ih + p.b_ih + state[0] @ p.w_hh + p.b_hh),)
    if kind == "gru":
        (h,) = state
        gi, gh = x_t @ p.w_ih + p.b_ih, h @ p.w_hh + p.b_hh
        r = sig(gi[:, :H] + gh[:, :H])
        z = sig(gi[:, H : 2 * H] + gh[:, H : 2 * H])
        n = xp.tanh(gi[:, 2 * H :] + r * gh[:, 2 * H :])
        return ((1 - z) * n + z * h,)
    h, c = state
    a = x_t @ p.w_ih + p.b_ih + h @ p.w_hh + p.b_hh
    pi, pf, po = (0.0, 0.0, 0.0) if p.peepholes is None else tuple(p.peepholes)
    i, f = sig(a[:, :H] + pi * c), sig(a[:, H : 2 * H] + pf * c)
    c = f * c + i * xp.tanh(a[:, 2 * H : 3 * H])
    return sig(a[:, 3 * H :] + po * c) * xp.tanh(c), c


def _reference(kind, xp, p, x, h0, lengths, *, truncate=None, perturb=None):
    """Outputs (B, T, H) and final state; ``perturb`` (T, B, H) is added to h_t (for δh_t)."""
    state = (h0,) if kind in ("elman", "gru") else tuple(h0)
    outputs = []
    for t in range(x.shape[1]):
        valid = (xp.arange(x.shape[0]) >= 0) & (t < lengths)
        if truncate and t % truncate == 0 and t > 0:  # cut at valid steps only
            state = tuple(xp.where(valid[:, None], jax.lax.stop_gradient(s), s) for s in state)
        new = _step(kind, xp, p, x[:, t], state)
        state = tuple(xp.where(valid[:, None], n, s) for n, s in zip(new, state))
        if perturb is not None:
            state = (state[0] + perturb[t],) + state[1:]
        outputs.append(xp.where(valid[:, None], state[0], 0.0))
    final = state[0] if kind in ("elman", "gru") else state
    return xp.stack(outputs, axis=1), final


def _loss(outputs, final, weights):
    final = sum(jnp.sum(jnp.cos(s)) for s in jax.tree_util.tree_leaves(final))
    return jnp.sum(jnp.sin(outputs) * weights) + final


def _close(a, b, **kw):
    for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), **kw)


# --- values and gradients -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_forward_matches_numpy_transcription(kind, x64):
    layer, params, x, h0, lengths = _setup(kind)

    @_jit
    def forward(params, x, h0, lengths):
        row = jax.tree_util.tree_map(lambda a: a[1], h0)
        return (
            layer.run(params, x, h0=h0, lengths=lengths),
            layer.run(params, x[1], h0=row, lengths=lengths[1]),  # unbatched, scalar length
            layer.apply(params, x, lengths=lengths),
            layer.run(params, x, lengths=lengths)[0],  # h0 = 0
        )

    (outputs, final), (out1, final1), applied, from_zero = forward(params, x, h0, lengths)
    p_np = jax.tree_util.tree_map(np.asarray, params)
    h0_np = jax.tree_util.tree_map(np.asarray, h0)
    want_out, want_final = _reference(kind, np, p_np, np.asarray(x), h0_np, np.asarray(lengths))
    _close(outputs, want_out, rtol=1e-12, atol=1e-14)
    _close(final, want_final, rtol=1e-12, atol=1e-14)
    assert outputs.dtype == jnp.float64
    _close(out1, outputs[1], rtol=1e-13, atol=1e-15)
    _close(final1, jax.tree_util.tree_map(lambda a: a[1], final), rtol=1e-13, atol=1e-15)
    _close(applied, from_zero, rtol=0)


@pytest.mark.parametrize("kind", KINDS)
def test_bptt_matches_autodiff_of_reference_full_and_truncated(kind, x64):
    full, params, x, h0, lengths = _setup(kind)
    truncated = _layer(kind, truncate=2)
    weights = jnp.linspace(-1.0, 1.0, B * T * H).reshape(B, T, H)

    def hand(p, x, h0):  # full BPTT and truncate=2, one compiled program
        return [
            jax.grad(lambda *a, m=m: _loss(*m.run(*a[:2], h0=a[2], lengths=lengths), weights),
                     argnums=(0, 1, 2))(p, x, h0)
            for m in (full, truncated)
        ]  # fmt: skip

    def reference(p, x, h0):
        return [
            jax.grad(lambda *a, k=k: _loss(*_reference(kind, jnp, *a, lengths, truncate=k), weights),
                     argnums=(0, 1, 2))(p, x, h0)
            for k in (None, 2)
        ]  # fmt: skip

    got = _jit(hand)(params, x, h0)
    _close(got, _jit(reference)(params, x, h0), rtol=1e-10, atol=1e-12)
    # the autodiff switch differentiates the forward body: same numbers, truncation included
    _close(got, _jit(fnnet.with_autodiff(hand))(params, x, h0), rtol=1e-10, atol=1e-12)
    # truncation really changes the gradient (of the recurrent weights, through early steps)
    assert not np.allclose(np.asarray(got[0][0].w_hh), np.asarray(got[1][0].w_hh))


def test_truncation_longer_than_the_sequence_is_full_bptt(x64):
    layer, params, x, h0, lengths = _setup("gru", truncate=T)
    full, _, _, _, _ = _setup("gru")
    weights = jnp.ones((B, T, H))
    grads = [
        jax.grad(lambda p, m=m: _loss(*m.run(p, x, h0=h0, lengths=lengths), weights))(params)
        for m in (layer, full)
    ]
    _close(grads[0], grads[1], rtol=1e-13, atol=1e-15)


def test_truncation_never_cuts_inside_the_padding(x64):
    """The final state's δ crosses the padded steps (some at multiples of k) to the last valid
    step, and from there only back to the start of that step's chunk."""
    layer, params, x, h0, _ = _setup("gru", truncate=2)
    lengths = jnp.array([5, 3, 1], jnp.int32)
    loss = lambda x: jnp.sum(layer.run(params, x, h0=h0, lengths=lengths)[1])  # noqa: E731
    dx = np.abs(np.asarray(_jit(jax.grad(loss))(x))).sum(axis=-1)
    assert np.all(dx[1, 2] > 0) and np.all(dx[1, :2] == 0) and np.all(dx[1, 3:] == 0)
    assert np.all(dx[0, 4] > 0) and np.all(dx[0, :4] == 0)  # row 0: chunk [4, 5)
    assert dx[2, 0] > 0


def test_truncated_spec_agrees_with_autodiff_and_not_with_finite_differences():
    from fnnet.gradcheck import _registry_recurrent as entries

    spec = next(s for s in entries.TRUNCATED_SPECS if s.name.startswith("recurrent.gru"))
    result = fnnet.gradcheck.check_spec(spec, key=jax.random.key(0), dtype="float64", points=1)
    rows = {(r.comparison, r.leaf): r.passed for r in result.reports}
    assert all(ok for (cmp, _), ok in rows.items() if cmp in ("forward", "rule vs autodiff"))
    assert not rows[("rule vs fd", "params.w_hh")]  # the full gradient differs: a real cut


@pytest.mark.parametrize("kind", KINDS)
def test_deltas_are_the_gradient_with_respect_to_each_state(kind, x64):
    layer, params, x, h0, lengths = _setup(kind)
    dy = jax.random.normal(jax.random.key(7), (B, T, H), jnp.float64)

    @_jit
    def deltas(x, dy):
        unbatched = layer.deltas(params, x[0], dy[0], h0=jax.tree_util.tree_map(lambda a: a[0], h0))
        return layer.deltas(params, x, dy, h0=h0, lengths=lengths), unbatched

    def loss(perturb):  # δh_t = ∂L/∂(a perturbation added to h_t)
        outputs, _ = _reference(kind, jnp, params, x, h0, lengths, perturb=perturb)
        return jnp.sum(outputs * dy)

    got, unbatched = deltas(x, dy)
    want = _jit(jax.grad(loss))(jnp.zeros((T, B, H), jnp.float64))
    _close(got, jnp.swapaxes(want, 0, 1), rtol=1e-10, atol=1e-12)
    norms = recurrent.delta_norms(got)
    assert norms.shape == (T,)
    _close(norms, jnp.mean(jnp.linalg.norm(got, axis=-1), axis=0), rtol=1e-12)
    _close(unbatched[: LENGTHS[0]], got[0], rtol=1e-13)  # row 0 is full length


def test_delta_norms_do_not_underflow_and_keep_nan():
    d = jnp.array([[[3e-25, 4e-25], [0.0, 0.0], [jnp.nan, 1.0]]], jnp.float32)
    norms = np.asarray(recurrent.delta_norms(d))
    np.testing.assert_allclose(norms[:2], [5e-25, 0.0], rtol=1e-6)
    assert np.isnan(norms[2])


def test_float32_stays_float32():
    layer, params, x, h0, lengths = _setup("lstm", jnp.float32)

    @_jit
    def run_and_grad(params):
        run = layer.run(params, x, h0=h0, lengths=lengths)
        return run, jax.grad(lambda p: jnp.sum(layer.apply(p, x, lengths=lengths)))(params)

    (outputs, (h, c)), grads = run_and_grad(params)
    assert outputs.dtype == h.dtype == c.dtype == jnp.float32
    assert {leaf.dtype for leaf in jax.tree_util.tree_leaves(grads)} == {jnp.dtype(jnp.float32)}


# --- masking and NaN ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["elman", "lstm", "gru"])
def test_padding_neither_changes_the_state_nor_receives_gradient(kind, x64):
    layer, params, x, h0, lengths = _setup(kind)
    valid = np.arange(T)[None, :] < np.asarray(lengths)[:, None]
    x_nan = jnp.where(valid[..., None], x, jnp.nan)  # garbage in the padding

    @_jit
    def check(params, x_nan, x):
        run = layer.run(params, x_nan, h0=h0, lengths=lengths)
        rows = [  # each row cut to its length, unbatched, no lengths
            layer.run(params, x[b, :n], h0=jax.tree_util.tree_map(lambda a, b=b: a[b], h0))[1]
            for b, n in enumerate(LENGTHS)
        ]
        loss = lambda p, x: _loss(*layer.run(p, x, h0=h0, lengths=lengths), 1.0)
        return run, rows, jax.grad(loss, (0, 1))(params, x_nan)

    (outputs, final), rows, grads = check(params, x_nan, x)
    assert np.all(np.isfinite(outputs)) and np.all(np.asarray(outputs)[~valid] == 0)
    for b, want in enumerate(rows):  # the final state is that of the unpadded sequence
        got = jax.tree_util.tree_map(lambda a, b=b: a[b], final)
        _close(got, want, rtol=1e-13, atol=1e-15)
    assert all(np.all(np.isfinite(g)) for g in jax.tree_util.tree_leaves(grads))
    assert np.all(np.asarray(grads[1])[~valid] == 0)


@pytest.mark.parametrize("kind", ["elman", "lstm", "gru"])
def test_nan_in_a_valid_step_propagates(kind):
    layer, params, x, _, _ = _setup(kind, jnp.float32)
    x = x.at[1, 2, 0].set(jnp.nan)
    bad = params._replace(b_hh=params.b_hh.at[0].set(jnp.nan))  # unit 0, then all via w_hh

    @_jit
    def check(params, bad, x):
        grads = jax.grad(lambda p: jnp.sum(layer.apply(p, x)))(params)
        return layer.apply(params, x), grads, layer.apply(bad, x[0])

    outputs, grads, bad_outputs = check(params, bad, x)
    assert np.all(np.isnan(outputs[1, 2:])) and np.all(np.isfinite(outputs[1, :2]))
    assert np.all(np.isfinite(outputs[0])) and np.all(np.isfinite(outputs[2]))
    assert np.any(np.isnan(grads.w_hh))
    assert np.all(np.isnan(bad_outputs[1:]))


# --- bidirectional ------------------------------------------------------------------------------


def test_reverse_within_lengths():
    x = jnp.arange(2 * 4, dtype=jnp.float32).reshape(2, 4, 1)
    got = recurrent.reverse_within_lengths(x, jnp.array([4, 2], jnp.int32))[..., 0]
    np.testing.assert_array_equal(got, [[3, 2, 1, 0], [5, 4, 6, 7]])
    np.testing.assert_array_equal(
        recurrent.reverse_within_lengths(x)[..., 0], [[3, 2, 1, 0], [7, 6, 5, 4]]
    )


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_bidirectional_is_a_manual_reversal_of_each_unpadded_sequence(kind, x64):
    layer, _, x, _, lengths = _setup(kind)
    bi = recurrent.Bidirectional(layer)
    params = bi.init(jax.random.key(5), (T, F))
    weights = jnp.linspace(-1.0, 2.0, B * T * 2 * H).reshape(B, T, 2 * H)

    def bidirectional_loss(p, x):
        return _loss(*bi.run(p, x, lengths=lengths), weights)

    def manual_loss(p, x):  # each row cut to its length, reversed with Python slicing
        total = 0.0
        for b, n in enumerate(LENGTHS):
            y_f, s_f = layer.run(p[0], x[b, :n])
            y_b, s_b = layer.run(p[1], x[b, :n][::-1])
            y = jnp.concatenate([y_f, y_b[::-1]], axis=-1)
            total = total + _loss(y, (s_f, s_b), weights[b, :n])
        return total

    @_jit
    def check(params, x):
        return (
            bi.run(params, x, lengths=lengths)[0],
            jax.value_and_grad(bidirectional_loss, (0, 1))(params, x),
            jax.value_and_grad(manual_loss, (0, 1))(params, x),
            bi.deltas(params, x, weights, lengths=lengths),
            layer.deltas(params[0], x, weights[..., :H], lengths=lengths),
            bi.run(params, x[1], lengths=lengths[1])[0],
        )

    outputs, got, want, deltas, forward_deltas, unbatched = check(params, x)
    assert outputs.shape == (B, T, 2 * H)
    assert np.all(np.asarray(outputs[2, 1:]) == 0) and np.all(np.asarray(outputs[1, 2:]) == 0)
    _close(got, want, rtol=1e-10, atol=1e-12)
    _close(deltas[..., :H], forward_deltas, rtol=1e-13)
    _close(unbatched, outputs[1], rtol=1e-13, atol=1e-15)


# --- composition, parameter counts, init ----------------------------------------------------


@pytest.mark.parametrize(
    "make, count",
    [(recurrent.GRU, 5134), (recurrent.LSTM, 5242), (recurrent.Elman, 4918)],
)
def test_mnist1d_recipe_parameter_counts_match_pytorch(make, count):
    net = layers.serial(recurrent.Bidirectional(make(6)), layers.Flatten(2), layers.Dense(10))
    params = net.init(jax.random.key(0), (100, 40, 1))
    assert sum(leaf.size for leaf in jax.tree_util.tree_leaves(params)) == count
    assert jax.eval_shape(net.apply, params, jnp.ones((7, 40, 1))).shape == (7, 10)


def test_stacking_through_serial_and_peephole_count():
    net = layers.serial(recurrent.LSTM(4), recurrent.Bidirectional(recurrent.GRU(3)))
    params = net.init(jax.random.key(0), (6, 2))
    assert _jit(net.apply)(params, jnp.ones((5, 6, 2))).shape == (5, 6, 6)
    peep = recurrent.LSTM(4, peepholes=True).init(jax.random.key(0), 2)
    plain = recurrent.LSTM(4).init(jax.random.key(0), 2)
    assert sum(a.size for a in jax.tree_util.tree_leaves(peep)) == 4 * (2 * 4 + 4 * 4 + 2 * 4) + 12
    assert len(jax.tree_util.tree_leaves(plain)) == 4


def test_default_init_is_pytorch_uniform_and_forget_bias_shifts_the_f_block():
    hidden = 50
    params = recurrent.LSTM(hidden, forget_bias=1.0).init(jax.random.key(0), (3, 8))
    bound = 1.0 / math.sqrt(hidden)
    w = np.asarray(params.w_hh)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert abs(w.std() - bound / math.sqrt(3.0)) < 0.05 * bound
    b = np.asarray(params.b_ih).reshape(4, hidden)
    assert np.all(b[1] >= 1.0 - bound) and np.all(np.abs(b[[0, 2, 3]]) <= bound)
    custom = recurrent.GRU(2, w_init=fnnet.initializers.zeros).init(jax.random.key(0), 3)
    assert not np.any(custom.w_ih) and np.any(custom.b_ih)


def test_vmap_over_stacked_params_equals_a_loop():
    layer, params, x, _, lengths = _setup("gru", jnp.float32)
    stacked = jax.tree_util.tree_map(lambda a: jnp.stack([a, 0.5 * a]), params)

    def grad(p):
        return jax.grad(lambda p: jnp.sum(layer.apply(p, x, lengths=lengths) ** 2))(p)

    got = _jit(jax.vmap(grad))(stacked)
    for i in range(2):
        want = _jit(grad)(jax.tree_util.tree_map(lambda a, i=i: a[i], stacked))
        _close(jax.tree_util.tree_map(lambda a, i=i: a[i], got), want, rtol=1e-5, atol=1e-6)


# --- bad input ----------------------------------------------------------------------------------


def test_bad_input_is_named_with_shapes():
    layer, params, x, _, _ = _setup("gru", jnp.float32)
    with pytest.raises(ValueError, match=r"`x` must have rank 2 or 3 .*got shape \(5, 2, 3, 1\)"):
        layer.apply(params, jnp.ones((5, 2, 3, 1)))
    with pytest.raises(ValueError, match=r"`x` has 3 features but the layer expects 2"):
        layer.apply(params, jnp.ones((4, 5, 3)))
    with pytest.raises(TypeError, match=r"`x` has dtype float16"):
        layer.apply(params, jnp.ones((4, 5, 2), jnp.float16))
    with pytest.raises(TypeError, match="`x` must have a floating dtype"):
        layer.apply(params, jnp.ones((4, 5, 2), jnp.int32))
    for bad in ([0, 1, 1], [1, 6, 2]):
        with pytest.raises(ValueError, match=r"`lengths` must lie in \[1, 5\]"):
            layer.apply(params, x, lengths=jnp.array(bad))
    with pytest.raises(ValueError, match=r"`lengths` must have shape \(3,\).*got shape \(2,\)"):
        layer.apply(params, x, lengths=jnp.array([1, 2]))
    with pytest.raises(TypeError, match="`lengths` must be integers"):
        layer.apply(params, x, lengths=jnp.array([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match=r"`h0` must have shape \(3, 3\).*got shape \(2, 3\)"):
        layer.run(params, x, h0=jnp.zeros((2, 3)))
    lstm, lp, _, _, _ = _setup("lstm", jnp.float32)
    with pytest.raises(TypeError, match=r"`h0` must be a pair \(h0, c0\)"):
        lstm.run(lp, x, h0=jnp.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"`h0\[1\]` must have shape \(3, 3\)"):
        lstm.run(lp, x, h0=(jnp.zeros((3, 3)), jnp.zeros((3, 4))))
    with pytest.raises(TypeError, match="`params` must be GRUParams"):
        layer.apply(lp, x)
    with pytest.raises(ValueError, match=r"`doutputs` must have the outputs' shape \(3, 5, 3\)"):
        layer.deltas(params, x, jnp.ones((3, 5, 2)))


def test_bad_construction_arguments():
    with pytest.raises(ValueError, match="`hidden` must be an int >= 1"):
        recurrent.GRU(0)
    with pytest.raises(ValueError, match="`truncate` must be an int >= 1"):
        recurrent.Elman(3, truncate=0)
    with pytest.raises(TypeError, match="`activation` must be a function"):
        recurrent.Elman(3, activation="tanh")
    with pytest.raises(TypeError, match="`peepholes` must be a bool"):
        recurrent.LSTM(3, peepholes="yes")
    with pytest.raises(TypeError, match="`layer` must be a RecurrentLayer"):
        recurrent.Bidirectional(layers.Dense(3))
    with pytest.raises(ValueError, match="`input_shape` must be"):
        recurrent.GRU(3).init(jax.random.key(0), (2, 3, 4, 5))
    with pytest.raises(TypeError, match=r"jax.random.key\(0\)"):
        recurrent.GRU(3).init(0, (4, 2))
    bi = recurrent.Bidirectional(recurrent.GRU(2))
    with pytest.raises(TypeError, match=r"`h0` must be a pair \(forward, backward\)"):
        bi.run(
            bi.init(jax.random.key(0), (4, 1)),
            jnp.ones((2, 4, 1)),
            h0=jnp.zeros((2, 2)),
        )


def test_relu_elman_uses_the_activation_rule():
    layer = recurrent.Elman(3, activation=activations.relu)
    params = layer.init(jax.random.key(0), (4, 2))
    x = jax.random.normal(jax.random.key(1), (2, 4, 2))
    out = layer.apply(params, x)
    assert np.all(np.asarray(out) >= 0)
    grads = jax.grad(lambda p: jnp.sum(layer.apply(p, x)))(params)
    want = jax.grad(fnnet.with_autodiff(lambda p: jnp.sum(layer.apply(p, x))))(params)
    _close(grads, want, rtol=1e-5, atol=1e-6)
