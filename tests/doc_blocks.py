"""The runner of the code blocks in Markdown, shared by test_docs (docs/*.md) and test_readme.

``code_blocks`` finds the fenced blocks of one language and their first line; ``run_blocks``
runs blocks in order in one fresh namespace, as a reader pasting them into one session would,
in a separate Python process with JAX's default settings, in a given working directory. A
failure names the file and the block's first line; afterwards every name the blocks defined
must still be usable (no array in it donated away).
"""

import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)

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


def code_blocks(text: str, language: str = "python") -> list[tuple[int, str]]:
    """``(first line number, source)`` of every fenced block in ``language``."""
    return [
        (text.count("\n", 0, m.start(2)) + 1, m.group(2))
        for m in FENCE.finditer(text)
        if m.group(1) == language
    ]


def run_blocks(page: str, blocks, cwd) -> subprocess.CompletedProcess:
    """Run ``blocks`` (``(line, source)`` pairs of the file ``page``) in order in one namespace,
    in a fresh Python process in ``cwd``."""
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
