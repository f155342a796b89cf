"""Shared test configuration: strict dtype promotion, key and float64 fixtures."""

import jax
import pytest

jax.config.update("jax_numpy_dtype_promotion", "strict")
# Rank promotion stays at "allow": batch-first `x @ w + b` broadcasts (batch, n) + (n,).


@pytest.fixture
def key():
    return jax.random.key(0)


@pytest.fixture
def x64():
    """Run a test with float64 enabled, restoring the previous setting afterwards."""
    with jax.enable_x64(True):
        yield
