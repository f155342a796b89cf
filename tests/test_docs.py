"""Docs truth: every ```python block of each docs/*.md page runs as written.

One test per page (the generated API reference, docs/api/, has no examples of its own: its
examples are the docstrings, run by ``--doctest-modules``). A page's blocks run in order in one
fresh namespace, as a reader pasting them into one session would, in a separate Python process
with JAX's default settings and a temporary working directory (a file a block writes lands
there). A failure names the page and the block's first line. A block that is deliberately not
runnable (a signature, a skeleton with ``...`` bodies, output) uses another fence: ``text``, or
``python-skip`` to keep Python highlighting where the site's highlighter knows the language.
"""

import json
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")

_FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)

_DRIVER = """
import json, sys, traceback
page = sys.argv[1]
namespace = {"__name__": "__main__"}
for line, source in json.load(sys.stdin):
    try:
        exec(compile(source, f"{page} block at line {line}", "exec"), namespace)
    except BaseException:
        traceback.print_exc()
        print(f"{page}: the python block at line {line} failed", file=sys.stderr)
        sys.exit(1)
# A name the reader still holds must still be usable (e.g. not donated into a jitted step).
import jax
for name, value in namespace.items():
    try:
        leaves = jax.tree.leaves(value)
    except Exception:
        continue
    if any(isinstance(leaf, jax.Array) and leaf.is_deleted() for leaf in leaves):
        print(f"{page}: `{name}` holds deleted (donated) arrays after the blocks", file=sys.stderr)
        sys.exit(1)
"""

# What a page says its blocks print, checked in their output (the page's ```text blocks).
PRINTED = {
    "gradcheck.md": ["passed (2 rows differ as declared: surrogate)", "the rule is wrong"],
}


def code_blocks(text: str, language: str = "python") -> list[tuple[int, str]]:
    """``(first line number, source)`` of every fenced block in ``language``."""
    return [
        (text.count("\n", 0, m.start(2)) + 1, m.group(2))
        for m in _FENCE.finditer(text)
        if m.group(1) == language
    ]


def _pages() -> list[str]:
    return sorted(name for name in os.listdir(DOCS) if name.endswith(".md"))


def _read(name: str) -> str:
    with open(os.path.join(DOCS, name), encoding="utf-8") as f:
        return f.read()


def run_blocks(page: str, blocks, cwd) -> subprocess.CompletedProcess:
    """Run ``blocks`` (``(line, source)`` pairs of the file ``page``) in order in one namespace,
    in a fresh Python process in ``cwd`` (the README's test runs its blocks with it too)."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("JAX_ENABLE_X64", None)
    return subprocess.run(
        [sys.executable, "-c", _DRIVER, page],
        check=False,
        input=json.dumps(blocks),
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


def test_block_extraction_finds_fences_and_line_numbers():
    text = "intro\n```python\nx = 1\n```\n```python-skip\nf(...)\n```\n```python\ny = x\n```\n"
    assert code_blocks(text) == [(3, "x = 1\n"), (9, "y = x\n")]
    assert code_blocks(text, "python-skip") == [(6, "f(...)\n")]


def test_driver_reports_the_failing_block(tmp_path):
    result = run_blocks("docs/x.md", [[3, "x = 1\n"], [9, "y = undefined_name\n"]], tmp_path)
    assert result.returncode == 1
    assert "NameError" in result.stderr
    assert "docs/x.md: the python block at line 9 failed" in result.stderr
    donated = "import jax, jax.numpy as jnp\nw = jnp.ones(3)\njax.jit(lambda a: a + 1, donate_argnums=0)(w)\n"
    result = run_blocks("docs/x.md", [[1, donated]], tmp_path)
    assert result.returncode == 1 and "`w` holds deleted (donated) arrays" in result.stderr


def test_every_fence_is_a_known_language():
    """A typo'd fence (```pyhton) or an indented one would silently leave a block untested."""
    known = {"", "python", "python-skip", "text", "bash", "console", "toml", "yaml", "json"}
    for page in _pages():
        unknown = {m.group(1) for m in _FENCE.finditer(_read(page))} - known
        assert not unknown, f"docs/{page} uses fences {unknown}"
        hidden = re.findall(r"^(?:[ \t]+```|~~~)\s*python.*$", _read(page), re.MULTILINE)
        assert not hidden, f"docs/{page}: {hidden} is not at the margin, so it is not run"


def test_the_pages_have_python_examples():
    assert len([p for p in _pages() if code_blocks(_read(p))]) >= 8, "docs lost their examples"


@pytest.mark.slow
@pytest.mark.parametrize("page", [p for p in _pages() if code_blocks(_read(p))])
def test_every_python_block_of_the_page_runs_as_written(page, tmp_path):
    result = run_blocks(f"docs/{page}", code_blocks(_read(page)), tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    for printed in PRINTED.get(page, []):
        assert printed in result.stdout, f"docs/{page} no longer prints {printed!r}"
