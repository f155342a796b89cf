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
from fnnet.gradcheck import TOLERANCES, DtypeTolerances, RuleSpec, Tolerance
from fnnet.gradcheck.cli import main

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
    assert all(0.0 <= r.ratio <= 1.0 and r.max_abs_error < 1e-5 for r in result.reports)
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
    assert fd_rows and all(r.max_abs_error < 1e-9 for r in fd_rows)
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
    from fnnet.gradcheck import assert_close

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
