"""What grading shares with the sandbox, and what a verdict depends on, derived from the imports.

Two lists must be right for grading to be both safe and repeatable:

- **what the sandbox may import** of the course package: the runner and the
  modules it imports, directly or not (the questions' ``run`` functions, the
  training loop, the transport of answers, the confinement);
- **what a verdict depends on**: all of that, plus the grader's side, which judges
  what the sandbox reports (``verdicts``, the questions' ``check`` and ``form``,
  the limits and messages of ``sandbox``); the parallel command's verdict cache
  is named by a digest of these files, so that a verdict cached by other code is
  never reused.

Both are computed here by following ``import`` statements (anywhere in a file,
functions included) from a few roots, never kept by hand: a module that the
runner starts to import is in the sandbox's copy the moment the import is
written. The roots: ``grading/runner.py`` (started as a script inside the
sandbox), every graded question's module (which ``questions.question`` imports
by name) and, for verdicts, ``grading/grader.py``.
"""

from __future__ import annotations

import ast
import hashlib
import platform
from pathlib import Path

from assignment import PACKAGE_DIR

PACKAGE = "assignment"
SANDBOX_ROOTS = ("assignment.instructor.grading.runner", "assignment.instructor.grading.fork_server")
JUDGE_ROOTS = ("assignment.instructor.grading.grader",)
# Read by the sandbox, not imported: the digits' description (the digits themselves are copied
# apart, with the test labels masked: ``sandbox.scratch.masked_digits``).
SANDBOX_DATA = ("shared/data/README.md",)
VERDICT_DATA = ("shared/data/digits.npz",)


def _file_of(module: str, package_dir: Path) -> Path | None:
    """The file of ``assignment.x.y`` (a package's ``__init__.py`` or a module), None if there is none."""
    inside = package_dir.joinpath(*module.split(".")[1:])
    for candidate in (inside / "__init__.py", inside.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _imported_names(path: Path) -> set[str]:
    """Every absolute module name an ``import`` in ``path`` may load (``from a import b``: ``a`` and ``a.b``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def package_files(roots: tuple[str, ...], package_dir: Path = PACKAGE_DIR) -> list[Path]:
    """The course package's files that importing ``roots`` loads, directly or not.

    Args:
        roots: module names inside the package (``assignment.instructor.grading.runner``).
        package_dir: the package's folder.

    Returns:
        The files, sorted, each parent package's ``__init__.py`` included.
    """
    found: dict[str, Path] = {}
    todo = list(roots)
    while todo:
        module = todo.pop()
        if module in found or not (module == PACKAGE or module.startswith(PACKAGE + ".")):
            continue
        path = _file_of(module, package_dir)
        if path is None:  # a name imported from a module (``from a import function``)
            continue
        found[module] = path
        parts = module.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]
        todo += sorted(_imported_names(path))
    return sorted(set(found.values()))


def _question_modules() -> tuple[str, ...]:
    from assignment.shared.questions import GRADED_KEYS

    return tuple(f"assignment.shared.questions.{key}" for key in GRADED_KEYS)


def sandbox_files(package_dir: Path = PACKAGE_DIR) -> list[Path]:
    """The package files the sandbox's copy holds: what the runner and every graded question import."""
    files = set(package_files(SANDBOX_ROOTS + _question_modules(), package_dir))
    files.update(package_dir / name for name in SANDBOX_DATA if (package_dir / name).is_file())
    return sorted(files)


def verdict_files(package_dir: Path = PACKAGE_DIR) -> list[Path]:
    """The package files a verdict depends on: the sandbox's, the judging's, the digits."""
    files = set(sandbox_files(package_dir)) | set(package_files(JUDGE_ROOTS, package_dir))
    files.update(package_dir / name for name in VERDICT_DATA if (package_dir / name).is_file())
    return sorted(files)


def verdict_digest(package_dir: Path = PACKAGE_DIR) -> str:
    """A digest of ``verdict_files`` (names and contents) and the Python and NumPy versions."""
    import numpy

    digest = hashlib.sha256(f"{platform.python_version()} {numpy.__version__}".encode())
    for path in verdict_files(package_dir):
        digest.update(str(path.relative_to(package_dir)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]
