"""A griffe extension for the site: fnnet's docstrings as the Google parser expects them.

fnnet's style (/work/shared/STYLE.md, section 8.5) heads a docstring's doctest ``Example:``;
griffe's Google parser reads only ``Examples:`` as a section of code examples (the singular is
an admonition whose ``>>>`` lines would render as Markdown), so the heading is read as plural.

fnnet's docstrings name other objects the Sphinx way, ``:func:`rectangular_grid```,
``:class:`fnnet.gradcheck.RuleSpec```. mkdocstrings reads Markdown, so each role is rewritten
into an autorefs link to the object's page in the API reference. The name is resolved as Python
would from where the docstring is: the object's own members, then its module's names (imports
included), then, for a private implementation file (``fnnet/competitive/_som.py``), its public
package, and finally as a full path (``fnnet.schedules``). A name that resolves is linked to its
canonical path; when that object is not rendered (a private helper) the link is optional and
shows as plain code. A name that resolves nowhere is a broken reference: it is logged as a
warning, which fails ``mkdocs build --strict``.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_EXAMPLE = re.compile(r"^(\s*)Example:[ \t]*$", re.MULTILINE)
_ROLE = re.compile(r":(?:py:)?(func|class|mod|meth|attr|data|obj|exc|const):`~?\.?([\w.]+)(\(\))?`")
_logger = griffe.get_logger("fnnet.sphinx_roles")


def _lookup(scope: griffe.Object | griffe.Alias, dotted: str) -> Any:
    """The object at ``dotted`` relative to ``scope`` (None if any part is missing)."""
    obj: Any = scope
    for part in dotted.split("."):
        try:
            members = obj.members
        except Exception:  # an alias whose target is outside the loaded packages
            return None
        if part not in members:
            return None
        obj = members[part]
    return obj


def _resolve(owner: griffe.Object, name: str, collection: griffe.ModulesCollection) -> str | None:
    """The canonical path of ``name`` as seen from ``owner``'s docstring, or None."""
    scopes: list[Any] = []
    node: Any = owner
    while node is not None:  # the object, its class, its module, its packages
        scopes.append(node)
        node = node.parent
    module = owner if owner.is_module else owner.module
    if module.name.startswith("_") and module.parent is not None:
        scopes.insert(scopes.index(module) + 1, module.parent)  # the public package
    for scope in scopes:
        found = _lookup(scope, name)
        if found is not None:
            return _canonical(found)
    head, _, rest = name.partition(".")
    if head in collection.members:  # a full path: fnnet.schedules.constant
        found = _lookup(collection.members[head], rest) if rest else collection.members[head]
        if found is not None:
            return _canonical(found)
    return None


def _canonical(obj: Any) -> str:
    try:
        return obj.final_target.path if obj.is_alias else obj.path
    except Exception:  # an alias to something outside the loaded packages (jax, numpy)
        return obj.target_path


class SphinxRoles(griffe.Extension):
    """Rewrites ``:role:`name``` into ``<autoref>`` links once the whole package is loaded."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        collection = loader.modules_collection
        for obj in _walk(pkg):
            docstring = obj.docstring
            if docstring is None:
                continue
            docstring.value = _EXAMPLE.sub(r"\1Examples:", docstring.value)
            docstring.value = _ROLE.sub(lambda m, o=obj: _link(o, m, collection), docstring.value)


def _link(owner: griffe.Object, match: re.Match, collection: griffe.ModulesCollection) -> str:
    name, call = match[2], match[3] or ""
    target = _resolve(owner, name, collection)
    title = f"<code>{name}{call}</code>"
    if target is None:
        _logger.warning(f"{owner.path}: {match[0]} names nothing fnnet's docstrings can reach")
        return title
    public = not any(part.startswith("_") for part in target.split("."))
    optional = "" if public else " optional"
    return f'<autoref identifier="{target}"{optional}>{title}</autoref>'


def _walk(obj: griffe.Object):
    """Every object defined in ``obj`` (aliases are skipped: their targets are walked)."""
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from _walk(member)
