"""Docs truth: every ```python block of each docs/*.md page runs as written.

One test per page (the generated API reference, docs/api/, has no examples of its own: its
examples are the docstrings, run by ``--doctest-modules``). A page's blocks run in order in one
fresh namespace, as a reader pasting them into one session would, in a separate Python process
with JAX's default settings and a temporary working directory (a file a block writes lands
there). A failure names the page and the block's first line. A block that is deliberately not
runnable (a signature, a skeleton with ``...`` bodies, output) uses another fence: ``text``, or
``python-skip`` to keep Python highlighting where the site's highlighter knows the language.
The runner is ``tests/doc_blocks.py``, shared with test_readme; its own tests are here.
"""

import os
import re

import pytest
from doc_blocks import FENCE, ROOT, code_blocks, run_blocks

DOCS = os.path.join(ROOT, "docs")

# What a page says its blocks print, checked in their output (the page's ```text blocks).
PRINTED = {
    "gradcheck.md": ["passed (2 rows differ as declared: surrogate)", "the rule is wrong"],
}


def _pages() -> list[str]:
    return sorted(name for name in os.listdir(DOCS) if name.endswith(".md"))


def _read(name: str) -> str:
    with open(os.path.join(DOCS, name), encoding="utf-8") as f:
        return f.read()


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
        unknown = {m.group(1) for m in FENCE.finditer(_read(page))} - known
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
