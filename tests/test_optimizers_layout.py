"""The optimizers package's layout (issue 11): one public path per name, no module importing
another module's underscore names, regularizers and optimizers acyclic, modules under ~400 lines,
transforms/moments gone."""

import ast
import importlib
import pathlib

import pytest

import fnnet
from fnnet import optimizers

ROOT = pathlib.Path(fnnet.__file__).parent
AREA = sorted(ROOT.glob("optimizers/*.py")) + [
    ROOT / name for name in ("schedules.py", "regularizers.py", "sweep/_space.py")
]


def _imports(path):
    """(module, name) for every `from module import name` and (module, None) for `import module`."""
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names]
    return found


def _module_name(path):
    return ".".join(path.relative_to(ROOT.parent).with_suffix("").parts).replace(".__init__", "")


@pytest.mark.parametrize("path", AREA, ids=lambda p: p.name)
def test_no_underscore_names_from_other_modules(path):
    own_package = _module_name(path).rsplit(".", 1)[0] if path.parent.name == "optimizers" else None
    for module, name in _imports(path):
        if not module.startswith("fnnet"):
            continue
        inside_package = own_package is not None and module.startswith(own_package + ".")
        shared = module in ("fnnet._checks", "fnnet._types")  # the team's shared private homes
        if not (inside_package or shared):
            assert not any(part.startswith("_") for part in module.split(".")), (path, module)
        if name is not None and not inside_package:
            assert not name.startswith("_"), (path, module, name)


@pytest.mark.parametrize("path", AREA, ids=lambda p: p.name)
def test_modules_stay_under_400_lines(path):
    assert len(path.read_text().splitlines()) <= 400


def test_regularizers_and_optimizers_are_acyclic():
    regularizer_imports = {m for m, _ in _imports(ROOT / "regularizers.py")}
    assert not any(m.startswith("fnnet.optimizers.") for m in regularizer_imports)  # public only
    for path in ROOT.glob("optimizers/*.py"):
        assert not any(m.startswith("fnnet.regularizers") for m, _ in _imports(path)), path
        assert not any(m.startswith("fnnet.sweep") for m, _ in _imports(path)), path


ORDER = ["_hyperparams", "_tree", "_base", "_scaling", "_clipping", "_moments", "_decay", "_alias"]


def test_package_files_import_only_earlier_files():
    """The data path runs one way: a file imports only files before it in ORDER (no ping-pong)."""
    assert sorted(p.stem for p in ROOT.glob("optimizers/_[a-z]*.py")) == sorted(ORDER)
    for i, stem in enumerate(ORDER):
        for module, _ in _imports(ROOT / "optimizers" / f"{stem}.py"):
            if module.startswith("fnnet.optimizers._"):
                assert ORDER.index(module.rsplit(".", 1)[1]) < i, (stem, module)
            assert (
                module in ("fnnet._checks", "fnnet._types")
                or not module.startswith("fnnet.")
                or module.startswith("fnnet.optimizers._")
            ), (stem, module)


def test_one_public_path_per_name():
    for gone in ("fnnet.transforms", "fnnet.moments"):
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(gone)
    assert not hasattr(fnnet, "transforms") and not hasattr(fnnet, "moments")
    assert not hasattr(fnnet.regularizers, "add_decayed_weights")
    assert not hasattr(fnnet.regularizers, "weight_mask")
    for name in optimizers.__all__:  # every public name is defined in one private file
        assert getattr(optimizers, name).__module__.startswith("fnnet.optimizers._"), name
    # the top-level names the README uses are the package's own objects
    assert fnnet.chain is optimizers.chain and fnnet.Optimizer is optimizers.Optimizer
    assert fnnet.apply_updates is optimizers.apply_updates
    assert sorted(optimizers.__all__) == optimizers.__all__
