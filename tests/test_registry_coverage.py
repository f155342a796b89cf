"""Every custom derivative rule in fnnet has a gradcheck registry entry, and every entry passes."""

import functools
import importlib
import pkgutil
import types

import jax
import pytest

import fnnet
from fnnet.gradcheck import check_spec
from fnnet.gradcheck.registry import REGISTRY
from fnnet.rules import all_rules

_CUSTOM = (jax.custom_vjp, jax.custom_jvp)


def _import_all_fnnet_modules() -> list:
    modules = []
    for info in pkgutil.walk_packages(fnnet.__path__, "fnnet."):
        if info.name.endswith("__main__"):
            continue
        modules.append(importlib.import_module(info.name))
    return modules


def _unwrap(fn):
    while isinstance(fn, functools.partial):
        fn = fn.func
    return fn


def _custom_rules(modules, hand_rules: dict) -> dict[int, str]:
    """Every custom_vjp/custom_jvp defined in ``modules`` (hand_rule-wrapped or raw) or listed in
    ``hand_rules`` (``fnnet.rules.all_rules()``), by id -> name."""
    found = {}
    for module in modules:
        for attr, value in vars(module).items():
            inner = getattr(value, "custom_vjp", None)  # a hand_rule wrapper
            if isinstance(inner, _CUSTOM):
                found[id(inner)] = f"{module.__name__}.{attr}"
            elif isinstance(value, _CUSTOM):  # a raw custom rule that skipped hand_rule
                defined_in = getattr(value.fun, "__module__", "") or ""
                if defined_in.startswith("fnnet."):  # not jax.nn's own custom_jvp functions
                    found[id(value)] = f"{module.__name__}.{attr}"
    for name, rule in hand_rules.items():  # hand rules defined anywhere in fnnet, even in factories
        if name.startswith("fnnet."):
            found[id(rule.custom_vjp)] = name
    return found


def _missing(found: dict[int, str]) -> list[str]:
    covered = set()
    for spec in REGISTRY:
        rule = _unwrap(spec.rule)
        covered |= {id(rule), id(getattr(rule, "custom_vjp", None))}
    return sorted(name for ident, name in found.items() if ident not in covered)


def test_every_rule_in_fnnet_is_registered():
    found = _custom_rules(_import_all_fnnet_modules(), all_rules())
    assert len(found) >= 10, found  # the scan itself works (activations, layers, ...)
    missing = _missing(found)
    assert not missing, (
        f"custom derivative rules without a gradcheck registry entry: {missing}. Add a RuleSpec "
        f"to REGISTRY in fnnet/gradcheck/registry.py (see docs/gradcheck.md)."
    )


def test_scan_catches_an_unregistered_raw_custom_vjp():
    """A custom_vjp defined in an fnnet module without hand_rule is found; jax.nn's are not."""
    fake = types.ModuleType("fnnet._unregistered")

    def cube(x):
        return x**3

    cube.__module__ = fake.__name__
    raw = jax.custom_vjp(cube)
    raw.defvjp(lambda x: (raw(x), x), lambda x, g: (3 * x * x * g,))
    fake.cube, fake.relu, fake.sigmoid = raw, jax.nn.relu, fnnet.activations.sigmoid
    found = _custom_rules([fake], {})
    assert sorted(found.values()) == ["fnnet._unregistered.cube", "fnnet._unregistered.sigmoid"]
    assert _missing(found) == ["fnnet._unregistered.cube"]


def test_registry_names_are_unique_and_rules_are_custom_rules():
    names = [spec.name for spec in REGISTRY]
    assert len(names) == len(set(names))
    for spec in REGISTRY:
        rule = _unwrap(spec.rule)
        assert isinstance(getattr(rule, "custom_vjp", rule), _CUSTOM), spec.name


@pytest.mark.parametrize("spec", REGISTRY, ids=lambda spec: spec.name)
def test_registered_rule_passes(spec):
    """Float64, two points (float32, forward mode and more points: python -m fnnet.gradcheck)."""
    result = check_spec(spec, key=jax.random.key(0), dtype="float64", points=2)
    assert result.passed, result.table()


def test_rule_names_are_public_paths_to_the_rule():
    """``all_rules()`` names each rule by its public path (``fnnet.activations.sigmoid``, not
    the private file it is written in), and that path imports the very rule."""
    _import_all_fnnet_modules()
    rules = all_rules()
    assert "fnnet.activations.sigmoid" in rules and "fnnet.layers.dense" in rules
    for name, rule in rules.items():
        if not name.startswith("fnnet."):
            continue
        module, _, attr = name.rpartition(".")
        assert not any(p.startswith("_") for p in module.split(".")), name
        if "<locals>" not in name:  # a rule built by a factory has no import path
            assert getattr(importlib.import_module(module), attr) is rule, name


def test_two_rules_with_one_public_name_are_refused():
    def twin(x):
        return x

    twin.__module__, twin.__qualname__ = "fnnet.activations._elsewhere", "sigmoid"
    with pytest.raises(ValueError, match="share the public name fnnet.activations.sigmoid"):
        fnnet.rules.hand_rule(jax.custom_vjp(twin))
    assert all_rules()["fnnet.activations.sigmoid"] is fnnet.activations.sigmoid
