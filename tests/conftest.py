"""Shared test configuration: strict dtype promotion, key and float64 fixtures."""

import contextlib
import importlib.util
import pathlib

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


@pytest.fixture
def load_example():
    """``load_example(name)`` imports ``examples/<name>.py`` as a module (examples are scripts,
    not a package), so a test can call its ``main`` or read its published figures."""
    examples = pathlib.Path(__file__).resolve().parent.parent / "examples"

    def load(name: str):
        spec = importlib.util.spec_from_file_location(f"example_{name}", examples / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture
def compilations():
    """``with compilations() as events:`` collects one entry per XLA compilation inside the
    block (JAX's backend-compile monitoring event), to test "compiles once" as behaviour."""
    event_name = "/jax/core/compile/backend_compile_duration"

    @contextlib.contextmanager
    def count():
        events = []

        def listener(event, duration, **kwargs):
            if event == event_name:
                events.append(duration)

        jax.monitoring.register_event_duration_secs_listener(listener)
        try:
            yield events
        finally:
            jax.monitoring.unregister_event_duration_listener(listener)

    return count


# Scripts run in subprocesses by the tests, not test modules: `--doctest-modules` would import
# them into this process, and they configure JAX at import (8 CPU devices, distributed workers).
collect_ignore = ["multidevice_checks.py", "multihost_worker.py"]
