"""The core's module rules: no module reaches into another module's underscore names, one public
path per name, modules of at most ~400 lines."""

import ast
import importlib.util
import pathlib

import pytest

import fnnet

ROOT = pathlib.Path(fnnet.__file__).resolve().parent
CORE = sorted(
    [*ROOT.glob("activations/*.py"), *ROOT.glob("gradcheck/*.py")]
    + [
        ROOT / "layers" / f
        for f in ("__init__.py", "_contract.py", "_dense.py", "_parametric.py", "_dropout.py")
    ]
    + [
        ROOT / f
        for f in ("losses.py", "networks.py", "diagnostics.py", "rules.py", "initializers.py")
    ]
)
CORE = [p for p in CORE if not p.name.startswith("_registry_")]
SHARED = {"fnnet._checks", "fnnet._types"}  # the team's shared private leaves


def _module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package(module: str, path: pathlib.Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def _private(dotted: str) -> bool:
    return any(part.startswith("_") and not part.startswith("__") for part in dotted.split("."))


def _violations(path: pathlib.Path) -> list[str]:
    module = _module_name(path)
    package = _package(module, path)
    tree = ast.parse(path.read_text())
    found, fnnet_aliases = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("fnnet"):
            source = node.module
            own = source.rpartition(".")[0] == package or source == package
            for alias in node.names:
                target = f"{source}.{alias.name}"
                if source in SHARED or own:
                    continue
                if _private(target.removeprefix("fnnet.")):
                    found.append(f"{module} imports {target}")
                fnnet_aliases.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if (
                    alias.name.startswith("fnnet")
                    and _private(alias.name)
                    and alias.name not in SHARED
                ):
                    found.append(f"{module} imports {alias.name}")
    for node in ast.walk(tree):  # networks._something: another module's private attribute
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in fnnet_aliases
            and _private(node.attr)
        ):
            found.append(f"{module} uses {node.value.id}.{node.attr}")
    return found


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_another_modules_private_names(path):
    assert _violations(path) == []


def test_the_check_itself_catches_a_private_import(tmp_path):
    bad = ROOT / "layers" / "_probe_for_test.py"
    try:
        bad.write_text(
            "from fnnet.networks import _forward\nfrom fnnet import networks\nnetworks._x\n"
        )
        assert _violations(bad) == [
            "fnnet.layers._probe_for_test imports fnnet.networks._forward",
            "fnnet.layers._probe_for_test uses networks._x",
        ]
    finally:
        bad.unlink()


@pytest.mark.parametrize("path", CORE, ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_stay_near_400_lines(path):
    assert len(path.read_text().splitlines()) <= 420, path


def test_moved_modules_are_gone_and_public_paths_stay():
    for gone in ("fnnet.unit_activations", "fnnet.dropout", "fnnet.layers._core"):
        assert importlib.util.find_spec(gone) is None, gone
    assert fnnet.layers.Dropout is fnnet.Dropout
    for name in ("softmax", "log_softmax", "maxout", "prelu", "rrelu", "sigmoid", "gelu"):
        assert callable(getattr(fnnet.activations, name))
    from fnnet.layers import Layer, check_activation, no_params  # what conv and friends import

    assert Layer and check_activation and no_params
