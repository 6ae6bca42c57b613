"""Derive the student's ``mytorch`` files from the reference implementation.

Each ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region of the reference is
replaced by a ``raise NotImplementedError`` whose message is the first line of
the enclosing method's docstring (which names the question and what to do).
Everything outside the regions (the given code) is kept as it is.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Callable

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
STUDENT_FILES = ("__init__.py", "nn.py", "optim.py")

_SOLUTION = re.compile(r"^(?P<indent>[ \t]*)### BEGIN SOLUTION[^\n]*\n.*?^[ \t]*### END SOLUTION[^\n]*(\n|$)", re.S | re.M)


class StubError(ValueError):
    """The reference file cannot be turned into a stub (unbalanced markers, bad syntax)."""


def _function_at(tree: ast.Module, lineno: int) -> ast.FunctionDef | ast.AsyncFunctionDef:
    """The innermost function containing ``lineno``."""
    best = None
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.lineno <= lineno <= node.end_lineno:
            if best is None or node.lineno > best.lineno:
                best = node
    if best is None:
        raise StubError(f"line {lineno}: a solution region must sit inside a function")
    return best


def _hint(function: ast.FunctionDef | ast.AsyncFunctionDef, part: int, parts: int) -> str:
    """The first docstring line of ``function``; with several regions, which part this is
    (so that a student who filled one gap is told which one is still open)."""
    doc = ast.get_docstring(function) or f"{function.name} is yours to write"
    hint = doc.strip().splitlines()[0]
    return hint if parts == 1 else f"{hint.rstrip('.')} (part {part} of {parts})."


def derive_stub(source: str, filename: str = "<reference>", solve: Callable[[str], bool] | None = None) -> str:
    """Return the student version of one reference file.

    Args:
        source: the reference file's text.
        filename: its name, for error messages.
        solve: for partly solved examples: a region whose hint ``solve`` accepts keeps its
            solution (without the markers) instead of becoming a stub.

    Returns:
        The text with every solution region replaced by a ``NotImplementedError``.

    Raises:
        StubError: markers unbalanced or nested, a region outside a function,
            or the result would not compile.
    """
    if source.count(BEGIN) != source.count(END):
        raise StubError(f"{filename}: {source.count(BEGIN)} '{BEGIN}' but {source.count(END)} '{END}'")
    try:
        tree = ast.parse(source, filename)
    except SyntaxError as error:
        raise StubError(f"{filename}: the reference does not parse: {error}") from error

    functions = [_function_at(tree, source.count("\n", 0, m.start()) + 1) for m in _SOLUTION.finditer(source)]
    hints = iter([_hint(function, functions[: k + 1].count(function), functions.count(function))
                  for k, function in enumerate(functions)])

    def replace(match: re.Match) -> str:
        region = match.group(0)
        if region.count(BEGIN) != 1:
            raise StubError(f"{filename}: nested solution regions")
        hint = next(hints)
        if solve is not None and solve(hint):
            return "".join(line for line in region.splitlines(keepends=True) if BEGIN not in line and END not in line)
        indent = match.group("indent")
        return (f"{indent}# YOUR CODE HERE\n"
                f"{indent}raise NotImplementedError({hint!r})\n")

    stub = _SOLUTION.sub(replace, source)
    if BEGIN in stub or END in stub:
        raise StubError(f"{filename}: a solution marker is not at the start of its own line")
    try:
        compile(stub, filename, "exec")
    except SyntaxError as error:
        raise StubError(f"{filename}: the stub would not compile: {error}") from error
    return stub


def write_student_package(reference_dir: Path, destination: Path) -> list[Path]:
    """Write the student's ``mytorch`` package derived from ``reference_dir``.

    Args:
        reference_dir: the reference ``mytorch/`` folder.
        destination: the folder to create, e.g. ``release/mlp/mytorch``.

    Returns:
        The files written.
    """
    destination.mkdir(parents=True, exist_ok=True)
    written = []
    for name in STUDENT_FILES:
        source = (reference_dir / name).read_text(encoding="utf-8")
        target = destination / name
        target.write_text(derive_stub(source, f"mytorch/{name}"), encoding="utf-8")
        written.append(target)
    return written
