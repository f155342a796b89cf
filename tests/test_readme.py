"""README truth: every ```python block of README.md runs as written.

The blocks run in order in one fresh namespace (as a reader pasting them into one session
would), in a separate Python process with JAX's default settings and a temporary working
directory. A failure names the block by its first line number in README.md. Afterwards every
name the blocks defined must still be usable: no array in it may have been donated away.
"""

import os
import re

import pytest
from doc_blocks import ROOT, code_blocks, run_blocks  # the docs pages' runner (test_docs)


def _readme() -> str:
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        return f.read()


@pytest.mark.slow
def test_every_python_block_runs_as_written(tmp_path):
    blocks = code_blocks(_readme())
    assert len(blocks) >= 3, "README.md lost its python examples"
    result = run_blocks("README.md", blocks, tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]


def test_bash_commands_name_extras_and_modules_that_exist():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        extras = set(tomllib.load(f)["project"]["optional-dependencies"])
    commands = "".join(source for _, source in code_blocks(_readme(), "bash"))
    named = {e for group in re.findall(r'"\.\[([\w,-]+)\]"', commands) for e in group.split(",")}
    assert named and named <= extras, f"README names extras {named - extras} not in pyproject.toml"
    for module in re.findall(r"python -m ([\w.]+)", commands):
        if module not in ("pytest", "venv"):
            path = os.path.join(ROOT, *module.split("."))
            assert os.path.exists(path + ".py") or os.path.exists(os.path.join(path, "__main__.py"))


def _half_unit(value: float) -> float:
    """Half a unit in the last decimal that ``value`` was published with."""
    import numpy as np

    decimals = len(np.format_float_positional(value).partition(".")[2])
    return 0.5 * 10.0**-decimals


def test_worked_example_matches_every_published_figure_to_its_digits(load_example):
    """README: forward values, all eight ∂E/∂w and the updated weights to their 8-9 digits."""
    import jax

    from fnnet.gradcheck import assert_close

    example = load_example("worked_example")
    published = example.PUBLISHED
    with jax.enable_x64(True):
        r = example.run(10_000)
    pairs = [
        *zip(published["hidden"], r["hidden"]),
        *zip(published["output"], r["output"]),
        (published["error"], r["error"]),
        *zip(published["weights_after_one"], r["weights_after_one"]),
    ]
    for expected, got in pairs:
        # tolerance: half a unit of the last printed digit
        assert abs(got - expected) <= _half_unit(expected) + 1e-15, (expected, got)
    for (expected, printed), w_new, got in zip(
        example.published_gradients(), published["weights_after_one"], r["grad_delta_rule"]
    ):  # a gradient implied by w⁺ = w − η ∂E/∂w carries w⁺'s rounding divided by η
        tol = _half_unit(expected) if printed else _half_unit(w_new) / example.LEARNING_RATE
        assert abs(got - expected) <= tol + 1e-15, (expected, got)  # tolerance: as printed
    assert sum(printed for _, printed in example.published_gradients()) == 2  # w1 and w5
    assert_close(r["grad_delta_rule"], r["grad_jax"])  # the δ rule against jax.grad
    after_one, after_many = (r[k] / published[k] for k in ("error_after_one", "error_after_many"))
    # tolerance: the published errors after training come from rounded intermediate values,
    # so they agree to about 5e-7 (one update) and 2e-4 (10,000 updates) relative
    assert abs(after_one - 1) < 1e-6
    assert abs(after_many - 1) < 1e-3  # tolerance: as above
    for expected, got in zip(published["output_after_many"], r["output_after_many"]):
        assert abs(got / expected - 1) < 1e-4  # tolerance: as above
