"""Every docstring example (``>>>``) in fnnet runs and prints what it shows.

One test per module, found by walking the package; each module's own functions, classes and
methods are searched (a name re-exported by a package is tested once, where it is defined).
The examples run with fnnet's test settings (tests/conftest.py) in a fresh namespace holding
the module's globals, like ``python -m doctest`` would; a private implementation file
(``fnnet/data/_splits.py``) also sees the public names of its package (``fnnet.data``), where
a reader finds the documented function.
"""

import doctest
import importlib
import io
import pkgutil

import pytest

import fnnet

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(fnnet.__path__, "fnnet.")
    if not info.name.endswith(".__main__")  # importing it would run the command line
)
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _run_examples(module) -> tuple[int, int, str]:
    """``(failed, attempted, report)`` for the docstring examples defined in ``module``."""
    report = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    failed = attempted = 0
    package, _, leaf = module.__name__.rpartition(".")
    globs = dict(vars(importlib.import_module(package))) if leaf.startswith("_") else {}
    globs.update(vars(module))  # a private file's examples also see its package's public names
    for test in doctest.DocTestFinder(exclude_empty=True).find(
        module, module.__name__, globs=globs
    ):
        result = runner.run(test, out=report.write)
        failed, attempted = failed + result.failed, attempted + result.attempted
    return failed, attempted, report.getvalue()


def test_the_walk_finds_the_package_and_its_examples():
    assert "fnnet.data._splits" in MODULES and "fnnet.checkpoint" in MODULES
    counted = sum(_run_examples(importlib.import_module(n))[1] for n in ("fnnet.data._splits",))
    assert counted >= 1


def test_a_wrong_example_is_reported():
    import types

    module = types.ModuleType("fake")
    module.__doc__ = ">>> 1 + 1\n3\n"
    failed, attempted, report = _run_examples(module)
    assert (failed, attempted) == (1, 1) and "Expected:\n    3\nGot:\n    2" in report


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    failed, _, report = _run_examples(importlib.import_module(name))
    assert failed == 0, f"{name}: {failed} docstring example(s) failed\n{report}"
