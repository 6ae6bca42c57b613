"""nbformat's JSON text of a version 4 notebook (``nbformat.v4.writes_json``), the same text, made faster.

nbformat's writer deep-copies the whole notebook, splits its multi-line strings into
lists of lines (``split_lines``), drops the transient fields (``strip_transient``) and
serialises the copy with ``json.dumps(indent=1, sort_keys=True, separators=(",", ": "),
ensure_ascii=False)``, which CPython runs in pure Python (its C encoder has no indent):
every chunk of text climbs through one generator per level of nesting. nbgrader writes
each notebook twice per student (after sanitizing, after grading): a fifth of a
writer's time (cProfile, 2026-12-01).

``writes`` gives the same text another way:

- it copies only what ``split_lines`` and ``strip_transient`` change (the notebook, its
  metadata, each cell, its metadata, attachments, outputs and their data), then runs
  nbformat's own two functions on that copy: the caller's notebook is never changed;
- ``json_text`` serialises with the same rules (key order, separators, indentation,
  ``float.__repr__`` and NaN/Infinity, ``int.__repr__``, json's own C string encoder),
  appending chunks to one list instead of climbing generators.

Anything it does not expect (a tuple, bytes, a key that is not a string, a container of
another type, keyword arguments) makes it hand the untouched notebook to nbformat's own
writer, which then returns or raises what it always did. ``tests/test_notebook_writes.py``
holds the two equal on the course's notebooks and on generated ones.
"""

from __future__ import annotations

from json.encoder import encode_basestring
from typing import Any, Callable

from nbformat.notebooknode import NotebookNode
from nbformat.v4 import nbjson, rwbase

_INFINITY = float("inf")


class _Unexpected(Exception):
    """Something ``writes`` leaves to nbformat's own writer."""


def _float_text(value: float) -> str:
    if value != value:
        return "NaN"
    if value == _INFINITY:
        return "Infinity"
    if value == -_INFINITY:
        return "-Infinity"
    return float.__repr__(value)


def _append_json(value: Any, indent: str, parts: list[str]) -> None:
    """Append ``value``'s text to ``parts``, as ``json.dumps(indent=1, sort_keys=True, separators=(",", ": "),
    ensure_ascii=False)`` writes it at the nesting level whose line start is ``indent`` ("\\n" plus spaces)."""
    if isinstance(value, str):
        parts.append(encode_basestring(value))
    elif value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif isinstance(value, int):
        parts.append(int.__repr__(value))
    elif isinstance(value, float):
        parts.append(_float_text(value))
    elif type(value) is list:
        if not value:
            parts.append("[]")
            return
        inner = indent + " "
        if all(type(item) is str for item in value):  # a cell's lines: one chunk
            parts.append("[" + inner + ("," + inner).join(map(encode_basestring, value)) + indent + "]")
            return
        parts.append("[")
        separator = inner
        for item in value:
            parts.append(separator)
            separator = "," + inner
            _append_json(item, inner, parts)
        parts.append(indent + "]")
    elif isinstance(value, dict):
        if not value:
            parts.append("{}")
            return
        keys = list(value)
        if not all(type(key) is str for key in keys):
            raise _Unexpected("a key that is not a string")
        keys.sort()
        inner = indent + " "
        parts.append("{")
        separator = inner
        for key in keys:
            parts.append(separator + encode_basestring(key) + ": ")
            separator = "," + inner
            _append_json(value[key], inner, parts)
        parts.append(indent + "}")
    else:  # a tuple, bytes (nbformat's BytesEncoder), anything else
        raise _Unexpected(type(value).__name__)


def json_text(value: Any) -> str:
    """``json.dumps(value, indent=1, sort_keys=True, separators=(",", ": "), ensure_ascii=False)`` for
    JSON-like values (dicts with string keys, lists, strings, numbers, booleans, None); ``_Unexpected``
    for anything else."""
    parts: list[str] = []
    try:
        _append_json(value, "\n", parts)
    except RecursionError:  # nested deeper than Python's limit: nbformat's writer says what it says
        raise _Unexpected("too deep") from None
    return "".join(parts)


def _shallow(node: Any) -> Any:
    """A new container with the same entries (NotebookNode stays NotebookNode, dict stays dict)."""
    kind = type(node)
    if kind is NotebookNode:
        return NotebookNode(node)
    if kind is dict:
        return dict(node)
    raise _Unexpected(kind.__name__)


def _set(node: dict, key: str, value: Any) -> None:
    dict.__setitem__(node, key, value)


def _fresh(node: Any, *children: str) -> Any:
    """A shallow copy of ``node`` whose ``children`` (those it has) are shallow copies too."""
    copy = _shallow(node)
    for key in children:
        if key in copy:
            _set(copy, key, _shallow(copy[key]))
    return copy


def _listed(items: Any, what: str) -> list:
    if type(items) is not list:
        raise _Unexpected(what)
    return items


def copy_for_writing(nb: Any) -> Any:
    """``nb`` with a fresh copy of every container ``split_lines`` and ``strip_transient`` change
    (the rest shared with ``nb``, which neither function touches)."""
    top = _fresh(nb, "metadata")
    cells = []
    for cell in _listed(top.get("cells"), "cells"):
        cell = _fresh(cell, "metadata", "attachments")
        attachments = cell.get("attachments", {})
        for name in attachments:
            _set(attachments, name, _shallow(attachments[name]))
        if "outputs" in cell:
            _set(cell, "outputs", [_fresh(output, "data") for output in _listed(cell["outputs"], "outputs")])
        cells.append(cell)
    _set(top, "cells", cells)
    return top


def writes(nb: Any, **kwargs: Any) -> str:
    """The text ``nbformat.v4.nbjson.writes(nb, **kwargs)`` returns (see the module docstring)."""
    if not kwargs:
        try:
            copy = copy_for_writing(nb)
            rwbase.split_lines(copy)
            rwbase.strip_transient(copy)
            return json_text(copy)
        except Exception:  # noqa: BLE001  nbformat's own writer, on the untouched notebook, answers
            pass
    return _original(nb, **kwargs)


_original: Callable[..., str] = nbjson.writes
_installed = False


def install() -> None:
    """For this process's lifetime, nbformat writes version 4 notebooks with ``writes`` (idempotent)."""
    global _installed
    if _installed:
        return
    import nbformat.v4

    nbformat.v4.writes_json = writes  # what nbformat.writes calls for a version 4 notebook
    _installed = True
