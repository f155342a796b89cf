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
from fnnet import activations, layers, losses, optimizers, recurrent, sweep
from fnnet.gradcheck import assert_close
from fnnet.recurrent._bidirectional import reverse_within_lengths

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
    """(layer, params, x, h0 in the layer's form (1, B, H), lengths) with random peepholes."""
    layer = _layer(kind, dtype, **kw)
    k = jax.random.split(jax.random.key(seed), 4)
    params = layer.init(k[0], (B, T, F))
    if kind == "lstm_peep":
        params = params._replace(peepholes=0.5 * jax.random.normal(k[1], (3, H), dtype))
    x = jax.random.normal(k[2], (B, T, F), dtype)
    h = 0.5 * jax.random.normal(k[3], (2, 1, B, H), dtype)
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
    """Outputs (B, T, H) and final state, states in PyTorch's layout (1, B, H); ``perturb``
    (T, B, H) is added to h_t (for δh_t)."""
    state = (h0[0],) if kind in ("elman", "gru") else tuple(s[0] for s in h0)
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
    final = state[0][None] if kind in ("elman", "gru") else tuple(s[None] for s in state)
    return xp.stack(outputs, axis=1), final


def _loss(outputs, final, weights):
    final = sum(jnp.sum(jnp.cos(s)) for s in jax.tree_util.tree_leaves(final))
    return jnp.sum(jnp.sin(outputs) * weights) + final


def _rows(tree, start, stop):
    """Rows ``start:stop`` of a state in PyTorch's layout ``(directions, batch, hidden)``."""
    return jax.tree_util.tree_map(lambda a: a[:, start:stop], tree)


def _equal(a, b):
    for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))


# --- values and gradients -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_forward_matches_numpy_transcription(kind, x64):
    layer, params, x, h0, lengths = _setup(kind)

    @_jit
    def forward(params, x, h0, lengths):
        return (
            layer.run(params, x, h0=h0, lengths=lengths),
            layer.run(params, x[1:2], h0=_rows(h0, 1, 2), lengths=lengths[1:2]),  # one row
            layer.apply(params, x, lengths=lengths),
            layer.apply(params, (x, lengths)),  # the lengths with the input, as in serial
            layer.run(params, x, lengths=lengths)[0],  # h0 = 0
        )

    (outputs, final), (out1, final1), applied, paired, from_zero = forward(params, x, h0, lengths)
    p_np = jax.tree_util.tree_map(np.asarray, params)
    h0_np = jax.tree_util.tree_map(np.asarray, h0)
    want_out, want_final = _reference(kind, np, p_np, np.asarray(x), h0_np, np.asarray(lengths))
    assert_close(outputs, want_out)
    assert_close(final, want_final)  # PyTorch's h_n (and c_n) layout: (1, B, H)
    assert outputs.dtype == jnp.float64
    assert_close(out1, outputs[1:2])
    assert_close(final1, _rows(final, 1, 2))
    _equal(applied, from_zero)
    _equal(paired, from_zero)


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
    assert_close(got, _jit(reference)(params, x, h0))
    # the autodiff switch differentiates the forward body: same numbers, truncation included
    assert_close(got, _jit(fnnet.with_autodiff(hand))(params, x, h0))
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
    assert_close(grads[0], grads[1])


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
        first = layer.deltas(params, x[:1], dy[:1], h0=_rows(h0, 0, 1))  # row 0, no lengths
        return layer.deltas(params, x, dy, h0=h0, lengths=lengths), first

    def loss(perturb):  # δh_t = ∂L/∂(a perturbation added to h_t)
        outputs, _ = _reference(kind, jnp, params, x, h0, lengths, perturb=perturb)
        return jnp.sum(outputs * dy)

    got, first = deltas(x, dy)
    want = _jit(jax.grad(loss))(jnp.zeros((T, B, H), jnp.float64))
    assert_close(got, jnp.swapaxes(want, 0, 1))
    norms = recurrent.delta_norms(got)
    assert norms.shape == (T,)
    assert_close(norms, jnp.mean(jnp.linalg.norm(got, axis=-1), axis=0))
    assert_close(first[0], got[0])  # row 0 is full length


def test_delta_norms_do_not_underflow_and_keep_nan():
    d = jnp.array([[[3e-25, 4e-25], [0.0, 0.0], [jnp.nan, 1.0]]], jnp.float32)
    norms = np.asarray(recurrent.delta_norms(d))
    assert_close(norms[:2] / 1e-25, np.array([5.0, 0.0], np.float32))  # relative to 5e-25
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
        rows = [  # each row cut to its length, a batch of one, no lengths
            layer.run(params, x[b : b + 1, :n], h0=_rows(h0, b, b + 1))[1]
            for b, n in enumerate(LENGTHS)
        ]
        loss = lambda p, x: _loss(*layer.run(p, x, h0=h0, lengths=lengths), 1.0)
        return run, rows, jax.grad(loss, (0, 1))(params, x_nan)

    (outputs, final), rows, grads = check(params, x_nan, x)
    assert np.all(np.isfinite(outputs)) and np.all(np.asarray(outputs)[~valid] == 0)
    for b, want in enumerate(rows):  # the final state is that of the unpadded sequence
        assert_close(_rows(final, b, b + 1), want)
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
        return layer.apply(params, x), grads, layer.apply(bad, x[:1])[0]

    outputs, grads, bad_outputs = check(params, bad, x)
    assert np.all(np.isnan(outputs[1, 2:])) and np.all(np.isfinite(outputs[1, :2]))
    assert np.all(np.isfinite(outputs[0])) and np.all(np.isfinite(outputs[2]))
    assert np.any(np.isnan(grads.w_hh))
    assert np.all(np.isnan(bad_outputs[1:]))


# --- bidirectional ------------------------------------------------------------------------------


def test_reverse_within_lengths():
    x = jnp.arange(2 * 4, dtype=jnp.float32).reshape(2, 4, 1)
    got = reverse_within_lengths(x, jnp.array([4, 2], jnp.int32))[..., 0]
    np.testing.assert_array_equal(got, [[3, 2, 1, 0], [5, 4, 6, 7]])
    np.testing.assert_array_equal(reverse_within_lengths(x)[..., 0], [[3, 2, 1, 0], [7, 6, 5, 4]])


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_bidirectional_is_a_manual_reversal_of_each_unpadded_sequence(kind, x64):
    layer, _, x, _, lengths = _setup(kind)
    bi = recurrent.Bidirectional(layer)
    params = bi.init(jax.random.key(5), (B, T, F))
    weights = jnp.linspace(-1.0, 2.0, B * T * 2 * H).reshape(B, T, 2 * H)

    def bidirectional_loss(p, x):
        return _loss(*bi.run(p, x, lengths=lengths), weights)

    def manual_loss(p, x):  # each row cut to its length, reversed with Python slicing
        total = 0.0
        for b, n in enumerate(LENGTHS):
            y_f, s_f = layer.run(p[0], x[b : b + 1, :n])
            y_b, s_b = layer.run(p[1], x[b : b + 1, :n][:, ::-1])
            y = jnp.concatenate([y_f, y_b[:, ::-1]], axis=-1)
            total = total + _loss(y, (s_f, s_b), weights[b : b + 1, :n])
        return total

    @_jit
    def check(params, x):
        return (
            bi.run(params, x, lengths=lengths)[0],
            jax.value_and_grad(bidirectional_loss, (0, 1))(params, x),
            jax.value_and_grad(manual_loss, (0, 1))(params, x),
            bi.deltas(params, x, weights, lengths=lengths),
            layer.deltas(params[0], x, weights[..., :H], lengths=lengths),
            bi.run(params, x[1:2], lengths=lengths[1:2])[0],
        )

    outputs, got, want, deltas, forward_deltas, row = check(params, x)
    assert outputs.shape == (B, T, 2 * H)
    assert np.all(np.asarray(outputs[2, 1:]) == 0) and np.all(np.asarray(outputs[1, 2:]) == 0)
    assert_close(got, want)
    assert_close(deltas[..., :H], forward_deltas)
    assert_close(row, outputs[1:2])


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
    params = net.init(jax.random.key(0), (5, 6, 2))
    assert _jit(net.apply)(params, jnp.ones((5, 6, 2))).shape == (5, 6, 6)
    peep = recurrent.LSTM(4, peepholes=True).init(jax.random.key(0), (1, 1, 2))
    plain = recurrent.LSTM(4).init(jax.random.key(0), (1, 1, 2))
    assert sum(a.size for a in jax.tree_util.tree_leaves(peep)) == 4 * (2 * 4 + 4 * 4 + 2 * 4) + 12
    assert len(jax.tree_util.tree_leaves(plain)) == 4


def test_default_init_is_pytorch_uniform_and_forget_bias_shifts_the_f_block():
    hidden = 50
    params = recurrent.LSTM(hidden, forget_bias=1.0).init(jax.random.key(0), (1, 3, 8))
    bound = 1.0 / math.sqrt(hidden)
    w = np.asarray(params.w_hh)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    # tolerance: sampling error of the std of 10,000 uniform draws (sd ≈ 0.5% of it), not rounding
    assert abs(w.std() - bound / math.sqrt(3.0)) < 0.05 * bound
    b = np.asarray(params.b_ih).reshape(4, hidden)
    assert np.all(b[1] >= 1.0 - bound) and np.all(np.abs(b[[0, 2, 3]]) <= bound)
    custom = recurrent.GRU(2, w_init=fnnet.initializers.zeros).init(jax.random.key(0), (1, 1, 3))
    assert not np.any(custom.w_ih) and np.any(custom.b_ih)


def test_vmap_over_stacked_params_equals_a_loop():
    layer, params, x, _, lengths = _setup("gru", jnp.float32)
    stacked = jax.tree_util.tree_map(lambda a: jnp.stack([a, 0.5 * a]), params)

    def grad(p):
        return jax.grad(lambda p: jnp.sum(layer.apply(p, x, lengths=lengths) ** 2))(p)

    got = _jit(jax.vmap(grad))(stacked)
    for i in range(2):
        want = _jit(grad)(jax.tree_util.tree_map(lambda a, i=i: a[i], stacked))
        assert_close(jax.tree_util.tree_map(lambda a, i=i: a[i], got), want)


# --- bad input ----------------------------------------------------------------------------------


def test_bad_input_is_named_with_shapes():
    layer, params, x, _, _ = _setup("gru", jnp.float32)
    with pytest.raises(
        ValueError,
        match=r"`x` must have rank 3, \(batch, time, features\); got shape \(5, 2, 3, 1\)",
    ):
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
    with pytest.raises(TypeError, match="`lengths` given twice"):
        layer.apply(params, (x, jnp.array([1, 2, 3])), lengths=jnp.array([1, 2, 3]))
    with pytest.raises(TypeError, match=r"`x` must be a sequence array or the pair \(x, lengths\)"):
        layer.apply(params, (x, jnp.array([1, 2, 3]), 0))
    with pytest.raises(
        ValueError,
        match=r"`h0` must have shape \(1, 3, 3\) \(directions, batch, hidden\).*\(2, 3\)",
    ):
        layer.run(params, x, h0=jnp.zeros((2, 3)))
    with pytest.raises(
        ValueError, match=r"got shape \(3, 3\).*Add the directions axis: h0\[None\]"
    ):
        layer.run(params, x, h0=jnp.zeros((3, 3)))
    lstm, lp, _, _, _ = _setup("lstm", jnp.float32)
    with pytest.raises(TypeError, match=r"`h0` must be a pair \(h0, c0\)"):
        lstm.run(lp, x, h0=jnp.zeros((1, 3, 3)))
    with pytest.raises(ValueError, match=r"`h0\[1\]` must have shape \(1, 3, 3\)"):
        lstm.run(lp, x, h0=(jnp.zeros((1, 3, 3)), jnp.zeros((1, 3, 4))))
    with pytest.raises(TypeError, match="`params` must be GRUParams"):
        layer.apply(lp, x)
    with pytest.raises(ValueError, match=r"`doutputs` must have the outputs' shape \(3, 5, 3\)"):
        layer.deltas(params, x, jnp.ones((3, 5, 2)))


@pytest.mark.parametrize("make", [recurrent.GRU, recurrent.LSTM, recurrent.Elman])
def test_the_unbatched_rank_is_refused_with_the_fix(make):
    """A GRU on ``(batch, features)`` used to read the batch as one sequence's time axis."""
    layer = make(3)
    params = layer.init(jax.random.key(0), (8, 5, 1))
    fixes = r".*batched input only.*`x\[None\]`.*jax\.vmap.*features axis.*`x\[\.\.\., None\]`"
    with pytest.raises(
        ValueError, match=r"`x` must have rank 3, \(batch, time, features\)" + fixes
    ):
        layer.apply(params, jnp.ones((8, 5)))
    with pytest.raises(
        ValueError, match=r"`input_shape` must have rank 3.*\(1, 5, 1\).*\(5, 1, 1\)"
    ):
        layer.init(jax.random.key(0), (5, 1))
    with pytest.raises(ValueError, match=r"`input_shape` must have rank 3.*got shape \(4,\)"):
        layer.init(jax.random.key(0), 4)  # a feature count is a Dense's input shape only


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
    with pytest.raises(ValueError, match="`input_shape` must have rank 3"):
        recurrent.GRU(3).init(jax.random.key(0), (2, 3, 4, 5))
    with pytest.raises(TypeError, match=r"jax.random.key\(0\)"):
        recurrent.GRU(3).init(0, (1, 4, 2))


def test_bidirectional_of_bidirectional_is_refused_at_construction():
    """It used to be accepted, then fail with ``'tuple' object has no attribute 'w_ih'``."""
    with pytest.raises(
        ValueError, match=r"`layer` is already bidirectional \(directions=2\).*serial"
    ):
        recurrent.Bidirectional(recurrent.Bidirectional(recurrent.GRU(3)))
    assert recurrent.Bidirectional(recurrent.GRU(3)).directions == 2
    assert recurrent.GRU(3).directions == 1


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_bidirectional_state_is_pytorchs_h_n_and_h0_takes_list_or_tuple(kind, x64):
    """``run``'s final state stacks the directions first, forward then backward, as PyTorch's
    ``h_n`` ((h_n, c_n) for the LSTM), against the reference of each direction; the same form
    goes in as ``h0``, a list or a tuple for the LSTM's pair."""
    layer, _, x, _, lengths = _setup(kind)
    bi = recurrent.Bidirectional(layer)
    params = bi.init(jax.random.key(5), (B, T, F))
    h = 0.5 * jax.random.normal(jax.random.key(6), (2, 2, B, H), jnp.float64)
    h0 = h[0] if kind == "gru" else (h[0], h[1])
    as_list = h0 if kind == "gru" else list(h0)

    @_jit
    def check(params, x, h0, as_list):
        return bi.run(params, x, h0=h0, lengths=lengths), bi.run(
            params, x, h0=as_list, lengths=lengths
        )

    (outputs, final), (_, final_list) = check(params, x, h0, as_list)
    p_np = jax.tree_util.tree_map(np.asarray, params)
    half = [jax.tree_util.tree_map(lambda a, d=d: np.asarray(a)[d : d + 1], h0) for d in (0, 1)]
    y_f, s_f = _reference(kind, np, p_np[0], np.asarray(x), half[0], np.asarray(lengths))
    reversed_x = np.stack(
        [np.concatenate([r[:n][::-1], r[n:]]) for r, n in zip(np.asarray(x), LENGTHS)]
    )
    y_b, s_b = _reference(kind, np, p_np[1], reversed_x, half[1], np.asarray(lengths))
    want = jax.tree_util.tree_map(lambda f, b: np.concatenate([f, b]), s_f, s_b)
    assert jax.tree_util.tree_structure(final) == jax.tree_util.tree_structure(want)
    assert_close(final, want)  # (2, B, H): [forward, backward]
    assert_close(outputs[..., :H], y_f)
    _equal(final, final_list)
    with pytest.raises(TypeError, match=r"jnp\.stack"):  # the old (forward, backward) pair form
        bi.run(params, x, h0=(half[0], half[1]) if kind == "gru" else ((1, 2), (3, 4)))


def test_lengths_travel_with_the_input_through_serial_and_grad(x64):
    """``serial.apply(params, (x, lengths))``: the recurrent layer reads the lengths, the layers
    after it see only its outputs; values and gradients equal the same network written with
    ``lengths=`` by hand."""
    layer, _, x, _, lengths = _setup("gru")
    bi = recurrent.Bidirectional(layer)
    head = layers.Dense(2, dtype=jnp.float64)
    net = layers.serial(bi, layers.Flatten(), head)
    params = net.init(jax.random.key(3), (B, T, F))

    def by_hand(p, x):
        outputs = bi.apply(p[0], x, lengths=lengths)
        return head.apply(p[2], outputs.reshape(B, -1))

    def loss(apply):
        return lambda p, x: jnp.sum(jnp.sin(apply(p, x)))

    pair = jax.jit(jax.value_and_grad(loss(lambda p, x: net.apply(p, (x, lengths))), (0, 1)))
    hand = jax.jit(jax.value_and_grad(loss(by_hand), (0, 1)))
    assert_close(pair(params, x), hand(params, x))
    no_lengths = net.apply(params, x)
    assert not np.allclose(no_lengths, net.apply(params, (x, lengths)))  # the lengths matter


def test_relu_elman_uses_the_activation_rule():
    layer = recurrent.Elman(3, activation=activations.relu)
    params = layer.init(jax.random.key(0), (2, 4, 2))
    x = jax.random.normal(jax.random.key(1), (2, 4, 2))
    out = layer.apply(params, x)
    assert np.all(np.asarray(out) >= 0)
    grads = jax.grad(lambda p: jnp.sum(layer.apply(p, x)))(params)
    want = jax.grad(fnnet.with_autodiff(lambda p: jnp.sum(layer.apply(p, x))))(params)
    assert_close(grads, want)


def test_docs_bigru_under_make_trainer_and_fit():
    """docs/recurrent.md's BiGRU: ``sweep.make_trainer`` initialises it with one training batch's
    shape, and a member equals ``fit`` with the same keys."""
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(24, 40, 1)), jnp.float32)
    y = jnp.asarray(rng.integers(0, 10, 24), jnp.int32)
    net = layers.serial(
        recurrent.Bidirectional(recurrent.GRU(6)), layers.Flatten(), layers.Dense(10)
    )
    loss = losses.softmax_cross_entropy
    adam = lambda hp: optimizers.adam(hp["learning_rate"])  # noqa: E731
    trainer = sweep.make_trainer(net, loss, adam, (x, y), epochs=2, batch_size=12)
    key, hp = jax.random.key(4), {"learning_rate": jnp.float32(1e-2)}
    metrics, params = _jit(trainer.run)(hp, key, trainer.data)
    start = net.init(jax.random.fold_in(key, 0), (12, 40, 1))
    solo = fnnet.fit(
        net.apply, start, loss, adam(hp), (x, y), key=jax.random.fold_in(key, 1), epochs=2,
        batch_size=12, skip_nonfinite=True, verbose=False,
    )  # fmt: skip
    assert_close(params, solo.params)
    assert sum(a.size for a in jax.tree_util.tree_leaves(params)) == 5134
