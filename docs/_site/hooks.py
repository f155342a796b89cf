"""MkDocs hooks for the site: the docs pages' plain mentions become links.

The pages in docs/ are written to read well on GitHub too, where they name each other as code
(`` `docs/rbm.md` ``) and name the API as dotted paths (`` `fnnet.layers.Conv` ``). On the site
the first become relative links to the page (a page that does not exist is a broken link, which
fails ``mkdocs build --strict``) and the second optional cross-references into the API reference
(code stays code when the name has no entry there). Fenced code blocks are left alone.

Every public unit of the package (``fnnet/<name>.py`` or ``fnnet/<name>/``, the demo excepted:
its page is its ``--help``) must have its API page ``docs/api/<name>.md``; a missing one is a
warning, which fails the strict build.
"""

from __future__ import annotations

import logging
import pathlib
import posixpath
import re

_log = logging.getLogger("mkdocs.hooks.fnnet")
_NOT_API = {"demo"}  # entry points, documented by their command line

_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
_PAGE = re.compile(r"(?<!\[)`docs/([\w./-]+\.md)(#[\w-]+)?`(?!\])")
_API = re.compile(r"(?<![\[\w])`(fnnet(?:\.[A-Za-z_]\w*)+)(\(\))?`(?!\])")


def _link_mentions(text: str, page_path: str) -> str:
    here = posixpath.dirname(page_path)

    def page(match: re.Match) -> str:
        target = posixpath.relpath(match[1], here or ".")
        return f"[`docs/{match[1]}{match[2] or ''}`]({target}{match[2] or ''})"

    def api(match: re.Match) -> str:
        name = match[1]
        title = f"<code>{name}{match[2] or ''}</code>"
        return f'<autoref identifier="{name}" optional>{title}</autoref>'

    return _API.sub(api, _PAGE.sub(page, text))


def on_page_markdown(markdown: str, page, config, files) -> str:
    """Link the mentions outside fenced code blocks; the blocks stay as written."""
    out, start = [], 0
    for fence in _FENCE.finditer(markdown):
        out.append(_link_mentions(markdown[start : fence.start()], page.file.src_uri))
        out.append(fence.group(0))
        start = fence.end()
    out.append(_link_mentions(markdown[start:], page.file.src_uri))
    return "".join(out)


def on_files(files, config):
    """Warn about a public unit of fnnet that has no page in docs/api/."""
    package = pathlib.Path(config.config_file_path).parent / "fnnet"
    units = {
        path.stem if path.is_file() else path.name
        for path in package.iterdir()
        if not path.name.startswith("_")
        and (path.suffix == ".py" or (path / "__init__.py").exists())
    }
    for unit in sorted(units - _NOT_API):
        if files.get_file_from_path(f"api/{unit}.md") is None:
            _log.warning(
                f"fnnet.{unit} has no API page: add docs/api/{unit}.md (and mkdocs.yml's nav)"
            )
    return files
