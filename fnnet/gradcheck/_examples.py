"""Example arguments from the command line: ``--function pkg.module:name``, ``--args`` and
``--kwargs`` of ``python -m fnnet.gradcheck``.

``--args`` is a comma-separated list of arrays, each ``(shape) dtype``: ``"(3, 4) float32,
(4,) float32"``; ``float32`` alone (or ``() float32``) is a scalar. Floating arrays are drawn
from N(0, 1); integer arrays uniformly from ``low:high`` (default ``0:2``), written after the
dtype: ``"(8,) int32 0:10"``; booleans are fair coins. ``--kwargs`` holds Python literals:
``"axis=0, keepdims=True"``.
"""

from __future__ import annotations

import ast
import importlib
import re
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp


class ArraySpec(NamedTuple):
    """One ``--args`` entry."""

    shape: tuple[int, ...]
    dtype: str
    low: int = 0
    high: int = 2


_ENTRY = re.compile(
    r"\s*(?:\((?P<shape>[^()]*)\))?\s*(?P<dtype>[A-Za-z]\w*)"
    r"(?:\s+(?P<low>-?\d+):(?P<high>-?\d+))?\s*(?:,|$)"
)


def parse_arrays(text: str) -> list[ArraySpec]:
    """``"(3, 4) float32, (4,) float32"`` -> one ``ArraySpec`` per array; ``ValueError`` if
    the text does not follow the grammar (the message shows where)."""
    specs, at = [], 0
    text = text.strip()
    while at < len(text):
        match = _ENTRY.match(text, at)
        if match is None or match.end() == at:
            raise ValueError(
                f"--args: cannot read {text[at:]!r}; write each array as '(shape) dtype', e.g. "
                f"'(3, 4) float32, (4,) float32' ('() int32 0:5' for an integer in 0..4)."
            )
        shape_text = (match["shape"] or "").strip()
        try:
            comma = "" if shape_text.endswith(",") else ","
            shape = ast.literal_eval(f"({shape_text}{comma})") if shape_text else ()
        except (ValueError, SyntaxError):
            shape = None
        if not (isinstance(shape, tuple) and all(isinstance(d, int) and d >= 0 for d in shape)):
            raise ValueError(f"--args: the shape ({shape_text}) must be non-negative ints.")
        try:
            dtype = jnp.dtype(match["dtype"]).name
        except TypeError:
            raise ValueError(f"--args: unknown dtype {match['dtype']!r}.") from None
        low, high = (int(match["low"]), int(match["high"])) if match["low"] else (0, 2)
        if low >= high:
            raise ValueError(f"--args: the integer range {low}:{high} is empty.")
        specs.append(ArraySpec(shape, dtype, low, high))
        at = match.end()
    if not specs:
        raise ValueError("--args: give at least one array, e.g. '(3, 4) float32'.")
    return specs


def draw(specs: list[ArraySpec], key: jax.Array) -> tuple[jax.Array, ...]:
    """One array per spec, from ``key`` (float64 arrays made under a scoped x64)."""
    arrays = []
    for spec, k in zip(specs, jax.random.split(key, len(specs))):
        with jax.enable_x64(spec.dtype in ("float64", "int64", "uint64")):
            dtype = jnp.dtype(spec.dtype)
            if jnp.issubdtype(dtype, jnp.floating):
                arrays.append(jax.random.normal(k, spec.shape, dtype))
            elif dtype == jnp.bool_:
                arrays.append(jax.random.bernoulli(k, 0.5, spec.shape))
            elif jnp.issubdtype(dtype, jnp.integer):
                arrays.append(jax.random.randint(k, spec.shape, spec.low, spec.high, dtype))
            else:
                raise ValueError(f"--args: {spec.dtype} arrays are not supported.")
    return tuple(arrays)


def parse_kwargs(text: str) -> dict[str, Any]:
    """``"axis=0, keepdims=True"`` -> ``{"axis": 0, "keepdims": True}`` (Python literals)."""
    if not text.strip():
        return {}
    try:
        call = ast.parse(f"f({text})", mode="eval").body
        if not isinstance(call, ast.Call) or call.args or any(k.arg is None for k in call.keywords):
            raise ValueError
        return {str(k.arg): ast.literal_eval(k.value) for k in call.keywords}
    except (ValueError, SyntaxError):
        raise ValueError(
            f"--kwargs: cannot read {text!r}; write name=value pairs of Python literals, e.g. "
            f"'axis=0, keepdims=True'."
        ) from None


def load(path: str) -> Any:
    """The object at ``"pkg.module:name"`` (``name`` may be dotted: ``module:Class.method``)."""
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"--function must be 'pkg.module:name'; got {path!r}.")
    try:
        value = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(f"--function: cannot import {module_name!r} ({error}).") from None
    for part in attr.split("."):
        if not hasattr(value, part):
            raise ValueError(f"--function: {module_name!r} has no attribute {attr!r}.")
        value = getattr(value, part)
    return value
