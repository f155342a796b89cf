"""Sweep spaces refuse non-finite values up front, naming the hyperparameter."""

import numpy as np
import pytest

from fnnet import sweep as sweep_space  # the spaces live in fnnet.sweep


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), 1e39])
def test_grid_and_point_refuse_non_finite_values(bad):
    with pytest.raises(ValueError, match="`learning_rate` values must be finite"):
        sweep_space.grid(learning_rate=[1e-3, bad], weight_decay=[0.0])
    with pytest.raises(ValueError, match="`weight_decay` values must be finite"):
        sweep_space.point(learning_rate=1e-3, weight_decay=bad)
    with pytest.raises(ValueError, match="`values` values must be finite"):
        sweep_space.choice([0.1, bad])


def test_finite_grid_unchanged():
    space = sweep_space.grid(learning_rate=[1e-3, 1e-2], hidden=[8, 16, 32])
    assert space.shape == (2, 3)
    assert space.values["learning_rate"].dtype == np.float32
    assert space.values["hidden"].dtype == np.int32
    np.testing.assert_array_equal(space.values["learning_rate"][:, 0], np.float32([1e-3, 1e-2]))


def test_prior_bounds_use_the_shared_number_check():
    with pytest.raises(ValueError, match="`low` must be finite"):
        sweep_space.uniform(float("nan"), 1.0)
    with pytest.raises(TypeError, match="`high` must be a real number"):
        sweep_space.log_uniform(1e-3, "1")
