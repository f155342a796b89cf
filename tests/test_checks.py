"""The one data validator, fnnet._checks.check_samples: what it accepts, what it refuses (and
the message: the argument, what was expected, what came), and what it can and cannot check
under jit (shapes always; values only when concrete)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fnnet._checks import check_samples


@pytest.mark.parametrize(
    "x, dtype",
    [
        (np.ones((3, 2), np.float32), jnp.float32),
        (jnp.ones((3, 2), jnp.bfloat16), jnp.bfloat16),
        (np.arange(6, dtype=np.int64).reshape(3, 2), None),  # int: the default float
        (np.array([[True, False]]), None),
        ([[1, 2], [3, 4]], None),  # nested lists
    ],
)
def test_accepts_real_arrays_and_casts_integers_to_the_default_float(x, dtype):
    got = check_samples("x", x, features=2)
    assert isinstance(got, jax.Array) and got.ndim == 2
    assert got.dtype == (dtype or jnp.result_type(float))
    np.testing.assert_array_equal(np.asarray(got, np.float64), np.asarray(x, np.float64))


def test_float64_is_kept_under_x64(x64):
    assert check_samples("x", np.ones((2, 3))).dtype == jnp.float64
    assert check_samples("x", np.ones((2, 3), np.int32)).dtype == jnp.float64


@pytest.mark.parametrize(
    "x, error, message",
    [
        (None, TypeError, "`data` must be an array; got NoneType"),
        (3.0, TypeError, "`data` must be an array; got float"),
        ([[1.0], [2.0, 3.0]], TypeError, "ragged list"),
        (np.array([["a", "b"]]), TypeError, "real .* dtype; got <U1"),
        (np.ones((2, 3), np.complex64), TypeError, "dtype; got complex64"),
        (np.ones(3), ValueError, r"1-D array of shape \(3,\).*data\[None\].*reshape\(-1, 3\)"),
        (np.ones((2, 3, 1)), ValueError, r"2-D \(samples, features\); got shape \(2, 3, 1\)"),
        (np.ones((0, 3)), ValueError, r"`data` is empty \(shape \(0, 3\)\)"),
        (
            np.ones((4, 2)),
            ValueError,
            r"`data` has 2 features \(shape \(4, 2\)\) but 3 are expected "
            r"\(from the weights, w.shape = \(6, 3\)\)",
        ),
    ],
)
def test_refusals_name_the_argument_the_expected_and_the_found(x, error, message):
    with pytest.raises(error, match=message):
        check_samples("data", x, features=3, source="the weights, w.shape = (6, 3)")


def test_finiteness_names_the_first_bad_row_and_the_hint():
    x = np.zeros((5, 2))
    x[3, 1], x[4, 0] = np.inf, np.nan
    with pytest.raises(ValueError, match=r"`x` row 3 contains inf \(2 non-finite.*; drop them"):
        check_samples("x", x, hint="drop them")


@pytest.mark.parametrize(
    "low, high, bounds",
    [(0.0, 1.0, r"\[0, 1\]"), (None, 1.0, r"\[-inf, 1\]"), (0.5, None, r"\[0.5, inf\]")],
)
def test_range_is_checked_with_either_bound(low, high, bounds):
    x = np.array([[0.25, 2.0], [0.0, 0.5]])
    with pytest.raises(ValueError, match=bounds + r"; got values in \[0, 2\]\. Scale it"):
        check_samples("x", x, low=low, high=high, hint="Scale it.")
    inside = np.array([[0.5, 0.75]])
    np.testing.assert_array_equal(check_samples("x", inside, low=low, high=high), inside)


def test_under_jit_shapes_raise_and_values_pass():
    """Shape and width are known at trace time; values are not, so NaN and range pass through."""
    check = jax.jit(lambda x: check_samples("x", x, features=2, low=0.0, high=1.0))
    with pytest.raises(ValueError, match="`x` has 3 features"):
        check(jnp.ones((2, 3)))
    with pytest.raises(ValueError, match="1-D"):
        check(jnp.ones(2))
    got = check(jnp.array([[jnp.nan, 5.0]]))
    assert bool(jnp.isnan(got[0, 0])) and float(got[0, 1]) == 5.0
    assert check(jnp.array([[1, 0]], jnp.int32)).dtype == jnp.result_type(float)


def test_a_concrete_array_closed_over_by_a_jit_trace_is_still_checked():
    """A constant captured by a traced function has values: they are checked with NumPy, not
    with jnp (whose reductions would be staged into the trace)."""
    data = jnp.array([[0.5, 3.0]])
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        jax.jit(lambda: check_samples("x", data, low=0.0, high=1.0))()
