"""fnnet.gradcheck: correct rules pass, wrong rules and wrong references are caught by leaf."""

import functools
import os
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import fnnet
from fnnet import gradcheck
from fnnet.gradcheck import TOLERANCES, DtypeTolerances, RuleSpec, Tolerance, assert_close
from fnnet.gradcheck._cli import main

DIMS = (3, 2, 4, 1, 1, 1)  # fixed sizes: one compiled program per test


def _matrix(key, dtype, dims):
    return gradcheck.normals(key, dtype, (dims[0], dims[1]))


def _scaled_tanh_args(key, dtype, dims):
    x, w = gradcheck.normals(key, dtype, (dims[0], dims[1]), (dims[1],))
    return x, w


def _scaled_tanh_reference(x, w):
    return jnp.tanh(w * x)


def _make_scaled_tanh(dw_factor: float):
    """``tanh(w ⊙ x)`` (``w`` per feature) as a custom_vjp whose ``w`` cotangent is scaled by ``dw_factor``."""

    @jax.custom_vjp
    def scaled_tanh(x, w):
        return jnp.tanh(w * x)

    def fwd(x, w):
        a = scaled_tanh(x, w)
        return a, (x, w, a)

    def bwd(res, da):
        x, w, a = res
        dz = da * (1.0 - a * a)
        return dz * w, dw_factor * jnp.sum(dz * x, axis=0)

    scaled_tanh.defvjp(fwd, bwd)
    return scaled_tanh


def test_correct_rule_passes_every_comparison():
    result = gradcheck.check_rule(
        fnnet.activations.sigmoid,
        jax.nn.sigmoid,
        _matrix,
        key=jax.random.key(0),
        points=3,
        dims=DIMS,
    )
    assert result.passed, result.table()
    comparisons = {(r.comparison, r.leaf) for r in result.reports}
    assert comparisons == {
        ("forward", "output"),
        ("rule vs autodiff", "z"),
        ("rule vs fd", "z"),
        ("autodiff vs fd", "z"),
    }
    assert result.full and result.dtype == "float32"
    assert all(0.0 <= r.ratio <= 1.0 for r in result.reports)  # within the one table
    assert "passed" in str(result)


def test_wrong_cotangent_is_caught_and_named_by_leaf():
    wrong = _make_scaled_tanh(dw_factor=1.5)
    result = gradcheck.check_rule(
        wrong, _scaled_tanh_reference, _scaled_tanh_args, key=jax.random.key(1), dims=DIMS
    )
    assert not result.passed
    failing = {(r.comparison, r.leaf) for r in result.failures}
    assert failing == {
        ("rule vs autodiff", "w"),
        ("rule vs fd", "w"),
    }  # x and the reference are fine
    assert all(r.passed for r in result.reports if r.leaf == "x")
    with pytest.raises(AssertionError, match=r"rule vs autodiff\s+w\s"):
        result.raise_if_failed()


def test_report_points_at_the_wrong_entry_in_both_modes():
    """A rule wrong only at input element z[1]: full and projection modes both name it."""

    @jax.custom_vjp
    def bad_tanh(z):
        return jnp.tanh(z)

    bad_tanh.defvjp(
        lambda z: (bad_tanh(z), jnp.tanh(z)),
        lambda a, da: ((da * (1.0 - a * a)).at[1].multiply(2.0),),
    )
    vector = lambda key, dtype, dims: gradcheck.normals(key, dtype, (4,))
    for full in (True, False):
        result = gradcheck.check_rule(
            bad_tanh, jnp.tanh, vector, key=jax.random.key(2), full=full, dims=DIMS
        )
        (row,) = [r for r in result.failures if r.comparison == "rule vs autodiff"]
        assert row.leaf == "z" and row.where.endswith("z[1]"), row.where
        assert row.max_rel_error > 0.3


def test_full_jacobian_and_projection_modes_agree():
    rule = functools.partial(fnnet.layers.dense, fnnet.activations.tanh)
    reference = lambda p, x: jnp.tanh(x @ p.w + p.b)

    def sampler(key, dtype, dims):
        w, b, x = gradcheck.normals(key, dtype, (3, 2), (2,), (4, 3))
        return fnnet.layers.DenseParams(w, b), x

    full = gradcheck.check_rule(
        rule, reference, sampler, key=jax.random.key(3), full=True, dims=DIMS
    )
    projected = gradcheck.check_rule(
        rule, reference, sampler, key=jax.random.key(3), full=False, dims=DIMS
    )
    assert full.full and not projected.full
    assert full.passed and projected.passed, (full.table(), projected.table())
    assert [(r.comparison, r.leaf) for r in full.reports] == [
        (r.comparison, r.leaf) for r in projected.reports
    ]
    names = {r.leaf for r in full.reports}
    assert names == {"output", "params.w", "params.b", "x"}


def test_projection_is_bilinear_form_of_the_jacobian(x64):
    """In projection mode the fd rows compare vᵀJu; for a linear map f(x) = A x they are exact."""
    a = jnp.asarray(np.arange(12.0).reshape(3, 4) / 7.0)
    linear = lambda x: a @ x
    result = gradcheck.check_rule(
        linear,
        linear,
        lambda key, dtype, dims: gradcheck.normals(key, dtype, (4,)),
        key=jax.random.key(5),
        dtype=jnp.float64,
        full=False,
        projections=5,
    )
    fd_rows = [r for r in result.reports if r.comparison.endswith("fd")]
    assert fd_rows and all(r.ratio < 1e-3 for r in fd_rows)  # exact: 1/1000 of the table's
    assert all(r.where.startswith("v") for r in fd_rows)


def test_finite_differences_catch_a_wrong_reference():
    # Right forward values, wrong derivative (+0.1): only finite differences can tell who is wrong.
    wrong_reference = lambda z: jax.nn.sigmoid(z) + 0.1 * (z - jax.lax.stop_gradient(z))
    result = gradcheck.check_rule(
        fnnet.activations.sigmoid, wrong_reference, _matrix, key=jax.random.key(6), dims=DIMS
    )
    status = {r.comparison: r.passed for r in result.reports}
    assert status == {
        "forward": True,
        "rule vs autodiff": False,
        "rule vs fd": True,
        "autodiff vs fd": False,
    }


def test_tolerance_table_is_used():
    result = gradcheck.check_rule(
        fnnet.activations.tanh, jnp.tanh, _matrix, key=jax.random.key(7), dims=DIMS
    )
    for r in result.reports:
        kind = "finite_differences" if r.comparison.endswith("fd") else "autodiff"
        assert r.tolerance == getattr(TOLERANCES["float32"], kind)

    slightly_wrong = _make_scaled_tanh(dw_factor=1.0 + 1e-3)  # 0.1 % off: beyond rtol = 1e-5
    strict = gradcheck.check_rule(
        slightly_wrong, _scaled_tanh_reference, _scaled_tanh_args, key=jax.random.key(8), dims=DIMS
    )
    assert {r.leaf for r in strict.failures} == {"w"}
    loose_row = DtypeTolerances(
        autodiff=Tolerance(rtol=1e-2, atol=1e-2), finite_differences=Tolerance(rtol=1e-2, atol=1e-2)
    )
    loose = gradcheck.check_rule(
        slightly_wrong,
        _scaled_tanh_reference,
        _scaled_tanh_args,
        key=jax.random.key(8),
        dims=DIMS,
        tolerances={"float32": loose_row},
    )
    assert loose.passed
    assert all(r.tolerance == Tolerance(1e-2, 1e-2) for r in loose.reports)


def test_float64_check_uses_float64_rows_without_global_x64():
    assert jnp.zeros(()).dtype == jnp.float32  # x64 is off here
    result = gradcheck.check_rule(
        fnnet.activations.tanh,
        jnp.tanh,
        _matrix,
        key=jax.random.key(9),
        dtype=jnp.float64,
        dims=DIMS,
    )
    assert result.passed and result.dtype == "float64"
    assert {r.tolerance for r in result.reports} == set(TOLERANCES["float64"])
    assert jnp.zeros(()).dtype == jnp.float32  # and still off afterwards


def test_second_order_and_forward_mode_through_the_switch():
    result = gradcheck.check_rule(
        fnnet.activations.tanh,
        jnp.tanh,
        _matrix,
        key=jax.random.key(10),
        dtype=jnp.float64,
        order=2,
        forward_mode=True,
        dims=DIMS,
    )
    assert result.passed, result.table()
    assert {
        (r.order, r.comparison) for r in result.reports if r.comparison == "switch vs autodiff"
    } == {(1, "switch vs autodiff"), (2, "switch vs autodiff")}


def test_second_order_catches_a_rule_that_is_only_first_order_right():
    """A bwd that reads a stop_gradient'ed residual is right once and wrong when differentiated again."""

    @jax.custom_vjp
    def first_order_tanh(z):
        return jnp.tanh(z)

    first_order_tanh.defvjp(
        lambda z: (first_order_tanh(z), jax.lax.stop_gradient(jnp.tanh(z))),
        lambda a, da: (da * (1.0 - a * a),),
    )
    result = gradcheck.check_rule(
        first_order_tanh,
        jnp.tanh,
        _matrix,
        key=jax.random.key(11),
        dtype=jnp.float64,
        order=2,
        dims=DIMS,
    )
    assert all(r.passed for r in result.reports if r.order == 1)
    assert {r.comparison for r in result.failures} == {"rule vs autodiff", "rule vs fd"}
    assert all(r.order == 2 for r in result.failures)


def test_integer_arguments_are_not_differentiated():
    def sampler(key, dtype, dims):
        (logits,) = gradcheck.normals(key, dtype, (3, 4))
        return logits, gradcheck.integers(key, (3,), 4)

    reference = lambda z, y: jnp.mean(
        -jnp.sum(jax.nn.one_hot(y, 4, dtype=z.dtype) * jax.nn.log_softmax(z), -1)
    )
    result = gradcheck.check_rule(
        fnnet.losses.softmax_cross_entropy, reference, sampler, key=jax.random.key(12), dims=DIMS
    )
    assert result.passed and {r.leaf for r in result.reports} == {"output", "logits"}
    assert "labels: int32[3]" in result.shapes


def test_bad_input_gets_clear_errors():
    ok = dict(key=jax.random.key(0), dims=DIMS)
    sig, ref = fnnet.activations.sigmoid, jax.nn.sigmoid
    with pytest.raises(TypeError, match="`sampler` must return a tuple"):
        gradcheck.check_rule(
            sig, ref, lambda key, dtype, dims: gradcheck.normals(key, dtype, (3,))[0], **ok
        )
    with pytest.raises(
        TypeError, match="`z` with dtype float32, but the check's `dtype` is float64"
    ):
        gradcheck.check_rule(
            sig,
            ref,
            lambda k, d, dims: gradcheck.normals(k, jnp.float32, (3,)),
            dtype=jnp.float64,
            **ok,
        )
    with pytest.raises(ValueError, match="`dtype` must be one of .*float16"):
        gradcheck.check_rule(sig, ref, _matrix, dtype=jnp.float16, **ok)
    with pytest.raises(TypeError, match="`key` must be a JAX random key"):
        gradcheck.check_rule(sig, ref, _matrix, key=0, dims=DIMS)
    with pytest.raises(ValueError, match="`order` must be 1 or 2"):
        gradcheck.check_rule(sig, ref, _matrix, order=3, **ok)
    with pytest.raises(ValueError, match="`dims` must be a tuple of 6"):
        gradcheck.check_rule(sig, ref, _matrix, key=jax.random.key(0), dims=(1, 2))
    with pytest.raises(ValueError) as info:  # a reference that sums: its fault, both shapes shown
        gradcheck.check_rule(sig, lambda z: jax.nn.sigmoid(z).sum(), _matrix, **ok)
    assert "`reference` returns output shape ()" in str(info.value)
    assert f"returns {tuple(DIMS[:2])}" in str(info.value), str(info.value)
    with pytest.raises(TypeError, match="`spec` must be a fnnet.gradcheck.RuleSpec"):
        gradcheck.check_spec((sig, ref, _matrix), key=jax.random.key(0))


def test_samplers_are_deterministic_and_avoid_kinks():
    key = jax.random.key(13)
    a = gradcheck.normals(key, jnp.float32, (200,), (3, 2))
    b = gradcheck.normals(key, jnp.float32, (200,), (3, 2))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], gradcheck.normals(jax.random.key(14), jnp.float32, (200,))[0])
    assert abs(float(jnp.mean(a[0]))) < 0.3 and 0.7 < float(jnp.std(a[0])) < 1.3
    z = gradcheck.normal(key, (1000,), jnp.float32, kinks=(0.0, 1.0), margin=0.1)
    assert (
        float(jnp.min(jnp.abs(z))) >= 0.1 - 1e-6 and float(jnp.min(jnp.abs(z - 1.0))) >= 0.1 - 1e-6
    )
    labels = gradcheck.integers(key, (500,), 3)
    assert labels.dtype == jnp.int32 and set(np.unique(labels)) == {0, 1, 2}


def test_injected_failing_rule_fails_the_cli_api(capsys):
    wrong = RuleSpec(
        "injected.scaled_tanh",
        _make_scaled_tanh(dw_factor=2.0),
        _scaled_tanh_reference,
        _scaled_tanh_args,
    )
    good = RuleSpec("injected.tanh", fnnet.activations.tanh, jnp.tanh, _matrix)
    assert main(["--dtypes", "float32", "--seeds", "2"], registry=[good, wrong]) == 1
    out = capsys.readouterr().out
    assert "1 passed, 1 failed" in out and "injected.scaled_tanh" in out
    assert (
        main(
            ["--dtypes", "float32", "--seeds", "2", "--forward-mode", "--rules", "injected.tanh"],
            registry=[good, wrong],
        )
        == 0
    )


def test_cli_runs_and_exits_zero():
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    proc = subprocess.run(
        [sys.executable, "-m", "fnnet.gradcheck", "--rules", "activations.sigmoid", "--seeds", "2"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "4 passed, 0 failed" in proc.stdout  # sigmoid and sigmoid[tails], two seeds
    for dtype in ("float32", "float64"):
        assert re.search(rf"activations\.sigmoid +{dtype}", proc.stdout), proc.stdout


def test_assert_close_uses_the_checkers_table_and_criterion():
    """The tests' comparison helper reads TOLERANCES: the row of the less precise dtype, atol
    scaled by max(1, max|b|), NaN only where both sides have it."""
    f32, f64 = TOLERANCES["float32"].autodiff, TOLERANCES["float64"].autodiff
    one = np.ones(3)
    assert_close(np.float32(1 + 0.9 * (f32.atol + f32.rtol)) * one.astype(np.float32), one)
    with pytest.raises(AssertionError, match="not close"):  # float64 on both sides: tight row
        assert_close(one + 10 * (f64.atol + f64.rtol), one)
    with pytest.raises(AssertionError, match="not close"):  # float32 row, just outside
        assert_close((1 + 2 * (f32.atol + f32.rtol)) * one.astype(np.float32), one)
    big = np.full(2, 1e4)
    assert_close(big + 0.5 * f64.atol * 1e4, big)  # atol is relative to the size, as in gradcheck
    assert_close({"a": np.array([np.nan, 1.0])}, {"a": np.array([np.nan, 1.0])})
    with pytest.raises(AssertionError, match="not close"):
        assert_close(np.array([np.nan, 1.0]), np.array([0.0, 1.0]))
    with pytest.raises(AssertionError, match="shapes differ"):
        assert_close(np.ones(2), np.ones(3))
    with pytest.raises(AssertionError, match="different pytrees"):
        assert_close((np.ones(2),), [np.ones(2)])
    with pytest.raises(ValueError, match="`kind`"):
        assert_close(one, one, kind="loose")


def test_a_result_names_fnnets_rule_by_its_public_path():
    sampler = fnnet.gradcheck.elementwise_sampler()
    rule = functools.partial(fnnet.activations.leaky_relu, negative_slope=0.2)
    result = fnnet.gradcheck.check_rule(rule, jax.nn.sigmoid, sampler, key=jax.random.key(0))
    assert result.name == "fnnet.activations.leaky_relu"  # not ...activations._elementwise...

    def mine(z):
        return z

    result = fnnet.gradcheck.check_rule(mine, lambda z: z, sampler, key=jax.random.key(0))
    assert result.name.endswith("test_a_result_names_fnnets_rule_by_its_public_path.<locals>.mine")


# --- check(f, *args): a custom rule against its own primal body ---------------------------------


def _make_logsumexp(dx_factor: float = 1.0):
    """A numerically stable logsumexp over the last axis with a hand rule ``dx = g · softmax(x)``
    (times ``dx_factor``, to break it), written as a library outside fnnet would."""

    @jax.custom_vjp
    def logsumexp(x):
        top = jax.lax.stop_gradient(jnp.max(x, axis=-1, keepdims=True))
        return jnp.log(jnp.sum(jnp.exp(x - top), axis=-1)) + top[..., 0]

    def fwd(x):
        y = logsumexp(x)
        return y, (x, y)

    def bwd(res, dy):
        x, y = res
        return (dx_factor * dy[..., None] * jnp.exp(x - y[..., None]),)

    logsumexp.defvjp(fwd, bwd)
    return logsumexp


logsumexp = _make_logsumexp()  # module level: the command line imports it


@jax.custom_vjp
def ste_round(x):
    """Rounding with a straight-through estimator: the derivative is taken as 1."""
    return jnp.round(x)


ste_round.defvjp(lambda x: (ste_round(x), None), lambda _, dy: (dy,))
STRAIGHT_THROUGH = lambda x: x + jax.lax.stop_gradient(jnp.round(x) - x)  # noqa: E731
X = jnp.array([[0.5, -1.0, 2.0], [700.0, 1.0, -3.0]])  # 700: where a naive logsumexp overflows
R = jnp.array([0.2, 1.3, -2.4, 3.1])  # away from the jumps of round at ±0.5, ±1.5, ...


def _rows(result, status=None):
    return {
        (r.comparison, r.leaf)
        for r in result.reports
        if status is None or (status == "failed") != r.passed
    }


def test_check_verifies_a_custom_vjp_against_its_primal_body():
    result = gradcheck.check(logsumexp, X)
    assert result.passed, result.table()
    assert _rows(result) == {
        ("forward", "output"),
        ("rule vs autodiff", "x"),
        ("rule vs fd", "x"),
        ("autodiff vs fd", "x"),
    }
    assert result.shapes == "x: float32[2, 3] (x4 points)" and result.full
    assert "the primal body (jax.custom_vjp)" in result.notes[0]
    assert {r.tolerance for r in result.reports} == set(TOLERANCES["float32"])
    assert gradcheck.assert_rule(logsumexp, X).passed


def test_check_uses_the_example_then_points_near_it():
    """A rule right at the example only: one point passes, the points near it fail."""
    example = jnp.array([0.3, -0.7])

    @jax.custom_vjp
    def right_here(x):
        return jnp.sin(x)

    def bwd(x, dy):
        at_example = jnp.all(x == example)
        return (dy * jnp.where(at_example, jnp.cos(x), 2.0 * jnp.cos(x)),)

    right_here.defvjp(lambda x: (right_here(x), x), bwd)
    assert gradcheck.check(right_here, example, points=1).passed
    near = gradcheck.check(right_here, example, points=3)
    assert {r.point for r in near.failures} <= {1, 2} and near.failures
    assert "points 1-2 are near it" in near.notes[0]


def test_check_catches_a_wrong_rule_and_says_so():
    wrong = _make_logsumexp(dx_factor=2.0)
    result = gradcheck.check(wrong, X)
    assert _rows(result, "failed") == {("rule vs autodiff", "x"), ("rule vs fd", "x")}
    (note,) = result.notes[1:]
    assert "finite differences agree with the primal body: the rule is wrong" in note
    assert "zero at every point" not in note  # the body's derivative is not zero here
    with pytest.raises(AssertionError, match="the rule is wrong") as info:
        gradcheck.assert_rule(wrong, X)
    assert "rule vs autodiff" in str(info.value)


def test_a_straight_through_estimator_is_reported_not_hidden():
    undeclared = gradcheck.check(ste_round, R)
    assert _rows(undeclared, "failed") == {("rule vs autodiff", "x"), ("rule vs fd", "x")}
    note = " ".join(undeclared.notes)
    assert "surrogate=True" in note and "it uses round" in note and "zero at every point" in note

    declared = gradcheck.check(ste_round, R, surrogate=True)
    assert declared.passed
    marked = {r.comparison for r in declared.reports if r.surrogate}
    assert marked == {"rule vs autodiff", "rule vs fd"}
    assert all(r.ratio > 1 for r in declared.reports if r.surrogate)  # the numbers stay
    assert "2 rows differ as declared" in str(declared) and "differs (surrogate)" in str(declared)
    assert "not the surrogate itself" in declared.notes[1]

    # The surrogate itself, verified against the usual JAX formulation of the same estimator.
    verified = gradcheck.check(ste_round, R, surrogate=True, reference=STRAIGHT_THROUGH)
    assert verified.passed
    assert {r.comparison for r in verified.reports if r.surrogate} == {
        "rule vs fd",
        "autodiff vs fd",
    }
    assert "the rule equals `reference`'s derivative (verified)" in verified.notes[1]
    assert "equals the true one" in gradcheck.check(logsumexp, X, surrogate=True).notes[1]


def test_a_primal_that_stops_its_gradient_needs_a_reference():
    @jax.custom_vjp
    def frozen_tanh(x):
        return jax.lax.stop_gradient(jnp.tanh(x))

    frozen_tanh.defvjp(lambda x: (frozen_tanh(x), jnp.tanh(x)), lambda a, da: (da * (1 - a * a),))
    x = jnp.array([0.3, -1.2])
    result = gradcheck.check(frozen_tanh, x)
    assert _rows(result, "failed") == {("rule vs autodiff", "x"), ("autodiff vs fd", "x")}
    assert "not differentiable as written (it uses stop_gradient" in result.notes[1]
    assert "pass `reference=`" in result.notes[1]
    assert gradcheck.check(frozen_tanh, x, reference=jnp.tanh).passed


def test_a_primal_jax_cannot_differentiate_is_explained():
    @jax.custom_vjp
    def grow(x):  # x · 1.1³, by a loop whose trip count JAX cannot reverse
        return jax.lax.while_loop(lambda c: c[1] < 3, lambda c: (1.1 * c[0], c[1] + 1), (x, 0))[0]

    grow.defvjp(lambda x: (grow(x), None), lambda _, dy: (1.1**3 * dy,))
    with pytest.raises(ValueError, match=r"JAX cannot differentiate the primal body.*reference="):
        gradcheck.check(grow, jnp.ones(3))
    assert gradcheck.check(grow, jnp.ones(3), reference=lambda x: 1.1**3 * x).passed


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _gather_power(params, rows, power, scale):
    """``scale · w[rows]^power + b``: a pytree, integer rows, a static power, a float scale."""
    return scale * params["w"][rows] ** power + params["b"]


def _gather_power_fwd(params, rows, power, scale):
    return _gather_power(params, rows, power, scale), (params, rows, scale)


def _make_gather_power_bwd(db_factor: float):
    def bwd(power, res, dy):
        params, rows, scale = res
        picked = params["w"][rows]
        dw = jnp.zeros_like(params["w"]).at[rows].add(dy * scale * power * picked ** (power - 1))
        return {"w": dw, "b": db_factor * jnp.sum(dy, axis=0)}, None, jnp.sum(dy * picked**power)

    return bwd


def test_check_takes_pytrees_integers_static_and_keyword_arguments():
    params = {"w": jnp.array([[1.0, 2.0], [0.5, 1.5], [2.0, 1.0]]), "b": jnp.array([0.1, 0.2])}
    rows = jnp.array([0, 2, 2])
    _gather_power.defvjp(_gather_power_fwd, _make_gather_power_bwd(1.0))
    result = gradcheck.check(_gather_power, params, rows, 3, jnp.float32(0.5))
    assert result.passed, result.table()
    assert {r.leaf for r in result.reports} == {"output", "params['b']", "params['w']", "scale"}
    assert "rows: int32[3]" in result.shapes and "static: power=3" in result.shapes
    by_keyword = gradcheck.check(_gather_power, params, rows, scale=jnp.float32(0.5), power=3)
    assert by_keyword.passed and "scale" not in {r.leaf for r in by_keyword.reports}  # static

    _gather_power.defvjp(_gather_power_fwd, _make_gather_power_bwd(1.5))  # b's cotangent wrong
    wrong = gradcheck.check(_gather_power, params, rows, 3, jnp.float32(0.5))
    assert {r.leaf for r in wrong.failures} == {"params['b']"}


def test_check_takes_custom_jvp_fnnet_rules_partials_and_jit():
    assert gradcheck.check(jax.nn.relu, jnp.array([-1.0, 2.0, 0.5])).passed  # jax's custom_jvp

    @jax.custom_jvp
    def cube(x):
        return x**3

    cube.defjvp(lambda primals, tangents: (cube(primals[0]), 2.0 * primals[0] ** 2 * tangents[0]))
    assert _rows(gradcheck.check(cube, jnp.array([0.5, 2.0])), "failed") == {
        ("rule vs autodiff", "x"),
        ("rule vs fd", "x"),
    }  # 2x² instead of 3x²

    z = jnp.array([[0.5, -1.0, 2.0], [0.1, 0.2, -0.3]])
    softmax = gradcheck.check(fnnet.activations.softmax, z, axis=0)  # a static keyword
    assert softmax.passed and "fnnet hand rule" in softmax.notes[0] and "axis=0" in softmax.shapes
    params = fnnet.layers.DenseParams(jnp.full((3, 2), 0.3), jnp.array([0.1, -0.1]))
    dense = gradcheck.check(fnnet.layers.dense, fnnet.activations.tanh, params, z)
    assert dense.passed and {r.leaf for r in dense.reports} == {
        "output",
        "params.w",
        "params.b",
        "x",
    }
    leaky = functools.partial(fnnet.activations.leaky_relu, negative_slope=0.2)
    assert gradcheck.check(leaky, z).name == "fnnet.activations.leaky_relu"
    assert gradcheck.check(jax.jit(fnnet.activations.tanh), z).name == "fnnet.activations.tanh"


def test_check_in_float64_and_to_second_order():
    assert jnp.zeros(()).dtype == jnp.float32  # x64 off
    x = X.at[1, 0].set(7.0)  # the difference step scales with a leaf's largest entry (700)
    result = gradcheck.check(logsumexp, x, dtype=jnp.float64, order=2, points=2)
    assert result.passed and result.dtype == "float64", result.table()
    assert {r.order for r in result.reports} == {1, 2}
    assert {r.tolerance for r in result.reports} == set(TOLERANCES["float64"])
    with jax.enable_x64(True):
        x64 = jnp.asarray(x, jnp.float64)
    assert gradcheck.check(logsumexp, x64, points=1).dtype == "float64"
    assert jnp.zeros(()).dtype == jnp.float32  # still off


def test_check_refuses_what_it_cannot_check_with_clear_errors():
    with pytest.raises(TypeError, match=r"not a jax.custom_vjp.*check_rule"):
        gradcheck.check(jnp.sin, X)

    def wrapper(z, *, axis):  # a plain function around a custom rule
        return fnnet.activations.softmax(z, axis)

    with pytest.raises(TypeError, match=r"It calls one \(custom_vjp_call"):
        gradcheck.check(wrapper, X, axis=0)
    with pytest.raises(ValueError, match="no floating array"):
        gradcheck.check(logsumexp, jnp.ones(3, jnp.int32))
    with jax.enable_x64(True):
        x64 = jnp.ones(3, jnp.float64)
    with pytest.raises(
        ValueError, match=r"different dtypes \(float32: params.w, params.b; float64"
    ):
        gradcheck.check(fnnet.layers.dense, fnnet.activations.tanh, _dense_params(), x64[None])
    with pytest.raises(TypeError, match=r"`f` is called with the 2 example arguments"):
        gradcheck.check(logsumexp, X, X)
    with pytest.raises(TypeError, match=r"`reference` is called with the 1 example argument"):
        gradcheck.check(logsumexp, X, reference=lambda a, b: a)
    with pytest.raises(ValueError, match="`dtype` must be one of"):
        gradcheck.check(logsumexp, X.astype(jnp.bfloat16))
    with pytest.raises(TypeError, match="`surrogate` must be a bool"):
        gradcheck.check(ste_round, R, surrogate="yes")


def _dense_params():
    return fnnet.layers.DenseParams(jnp.ones((3, 2)), jnp.zeros(2))


def test_a_reference_of_the_wrong_arity_names_the_expected_count():
    with pytest.raises(TypeError) as info:
        gradcheck.check_rule(
            _make_scaled_tanh(1.0), lambda x: x, _scaled_tanh_args, key=jax.random.key(0), dims=DIMS
        )
    message = str(info.value)
    assert "`reference` is called with 2 positional arguments (the sampler's x, w)" in message
    assert "too many positional arguments" in message
    with pytest.raises(TypeError, match=r"Make the sampler return one entry per argument"):
        gradcheck.check_rule(
            fnnet.activations.tanh, jnp.tanh, _scaled_tanh_args, key=jax.random.key(0), dims=DIMS
        )


def test_cli_checks_a_function_by_its_import_path(capsys):
    module = __name__
    assert main(["--function", f"{module}:logsumexp", "--args", "(2, 3) float32"]) == 0
    assert "the primal body (jax.custom_vjp)" in capsys.readouterr().out
    assert main(["--function", f"{module}:ste_round", "--args", "(4,) float32"]) == 1
    assert "surrogate=True" in capsys.readouterr().out
    argv = ["--function", f"{module}:ste_round", "--args", "(4,) float32", "--surrogate"]
    assert main(argv) == 0
    softmax = ["--function", "fnnet.activations:softmax", "--args", "(3, 2) float64"]
    assert main([*softmax, "--kwargs", "axis=0", "--seeds", "1"]) == 0
    assert "float64" in capsys.readouterr().out
    assert main(["--function", "fnnet.activations:nope", "--args", "(3,) float32"]) == 2
    assert main(["--function", f"{module}:logsumexp", "--args", "(3, float32"]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_cli_argument_grammar():
    from fnnet.gradcheck._examples import ArraySpec, draw, parse_arrays, parse_kwargs

    specs = parse_arrays("(3, 4) float32, (4,) float64, () int32 0:5, bool, float32")
    assert specs == [
        ArraySpec((3, 4), "float32"),
        ArraySpec((4,), "float64"),
        ArraySpec((), "int32", 0, 5),
        ArraySpec((), "bool"),
        ArraySpec((), "float32"),
    ]
    arrays = draw(specs, jax.random.key(0))
    assert [a.dtype.name for a in arrays] == ["float32", "float64", "int32", "bool", "float32"]
    assert 0 <= int(arrays[2]) < 5
    assert parse_kwargs("axis=0, keepdims=True, name='a'") == {
        "axis": 0,
        "keepdims": True,
        "name": "a",
    }
    for bad in ("(3, -1) float32", "(3,) floaty", "(2,) int32 3:3", ""):
        with pytest.raises(ValueError, match="--args"):
            parse_arrays(bad)
    with pytest.raises(ValueError, match="--kwargs"):
        parse_kwargs("0, axis=1")


# --- the autodiff switch and plain custom_vjp functions ----------------------------------------


def test_forward_mode_of_a_plain_custom_vjp_under_autodiff_points_to_hand_rule():
    @jax.custom_vjp
    def wave(z):
        return jnp.sin(z)

    wave.defvjp(lambda z: (wave(z), z), lambda z, dz: (dz * jnp.cos(z),))
    loss = lambda z: jnp.sum(wave(z))  # noqa: E731
    z = jnp.array([0.3, -1.1])
    with pytest.raises(TypeError, match=r"(?s)can't apply forward-mode.*@fnnet.rules.hand_rule"):
        with fnnet.autodiff():
            jax.hessian(loss)(z)
    with pytest.raises(TypeError, match=r"@fnnet.rules.hand_rule"):
        jax.hessian(fnnet.with_autodiff(loss))(z)
    with pytest.raises(TypeError) as info:  # outside the switch: JAX's message, unchanged
        jax.hessian(loss)(z)
    assert "hand_rule" not in str(info.value)

    wave = fnnet.rules.hand_rule(wave)  # the advice works
    with fnnet.autodiff():
        hessian = jax.hessian(lambda z: jnp.sum(wave(z)))(z)
    assert_close(hessian, jnp.diag(-jnp.sin(z)))


def test_with_hyperparameter_has_one_public_home():
    from fnnet.gradcheck import registry

    assert "with_hyperparameter" in gradcheck.__all__
    assert "with_hyperparameter" not in registry.__all__
    z, slope = gradcheck.with_hyperparameter(0.2, kinks=(0.0,))(
        jax.random.key(0), jnp.float32, DIMS
    )
    assert slope.dtype == jnp.float32 and slope == np.float32(0.2)
    assert float(jnp.min(jnp.abs(z))) >= 0.1 - 1e-6  # away from the kink (float32 rounding)
