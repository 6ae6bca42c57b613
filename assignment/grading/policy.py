"""What of a submission may be graded, checked before any of it runs.

Only the student's ``mytorch/*.py`` files are graded; nothing else of the
submission (a ``numpy.py``, a ``sitecustomize.py``, a ``.pth`` file...) is
ever placed where Python could import it. Each file may import NumPy and the
standard library only.
"""

from __future__ import annotations

import ast
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

ALLOWED_PACKAGES = {"numpy", "mytorch"}
# The graded package's __init__.py is this, not the student's (which is given code,
# not graded): importing mytorch.nn then runs nn.py alone, whereas the given
# __init__.py imports optim.py too, so that a broken optim.py would cost every
# question of nn.py.
PACKAGE_INIT = '"""mytorch as graded: the student\'s files, imported one by one."""\n'
MAX_FILE_BYTES = 512 * 1024
MAX_FILES = 32


@dataclass
class Submission:
    """The student's mytorch as it will be graded.

    Fields:
        files: file name -> source text, for the files that will be copied.
        problems: file name -> why that file's questions score zero.
        missing: why nothing can be graded (e.g. no mytorch/ folder), or None.
    """

    files: dict[str, str] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    missing: str | None = None

    def problem_for(self, module: str) -> str | None:
        """Why the questions of ``mytorch/<file>`` cannot be graded, if they cannot."""
        if self.missing:
            return self.missing
        name = module.rsplit("/", 1)[-1]
        if name not in self.files and name not in self.problems:
            return f"mytorch/{name} is missing from the submission"
        if name in self.problems:
            return self.problems[name]
        # A broken or forbidden file breaks every file that imports it.
        for other, why in self.problems.items():
            if other != name and _imports_module(self.files.get(name, ""), other[:-3]):
                return f"mytorch/{name} imports mytorch/{other}, which cannot be graded: {why}"
        return None


def _imports_module(source: str, module: str) -> bool:
    return f"mytorch.{module}" in source or f"import {module}" in source or f"from . import {module}" in source


def forbidden_imports(source: str, tree: ast.AST | None = None) -> list[str]:
    """Top-level modules imported by ``source`` (already parsed: ``tree``) that are neither
    NumPy nor the standard library."""
    stdlib = set(sys.stdlib_module_names)
    found = []
    for node in ast.walk(tree if tree is not None else ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif (isinstance(node, ast.Call) and isinstance(node.func, (ast.Name, ast.Attribute))
              and getattr(node.func, "id", getattr(node.func, "attr", "")) in {"__import__", "import_module"}
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            names = [node.args[0].value]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top not in stdlib and top not in ALLOWED_PACKAGES and top not in found:
                found.append(top)
    return found


def read_submission(submission_dir: Path) -> Submission:
    """Collect and check ``submission_dir/mytorch/*.py``.

    Args:
        submission_dir: the student's submitted assignment folder.

    Returns:
        The files to grade and, per file, why it cannot be graded.
    """
    result = Submission()
    package = submission_dir / "mytorch"
    if package.is_symlink() or not package.is_dir():
        result.missing = "the submission has no mytorch/ folder: nothing to grade"
        return result
    candidates = sorted(p for p in package.iterdir() if p.suffix == ".py")
    for path in candidates[:MAX_FILES]:
        name = path.name
        if path.is_symlink() or not path.is_file():
            result.problems[name] = f"mytorch/{name} is not a regular file"
            continue
        if not path.stem.isidentifier():
            continue
        if path.stat().st_size > MAX_FILE_BYTES:
            result.problems[name] = f"mytorch/{name} is larger than {MAX_FILE_BYTES // 1024} KiB"
            continue
        try:
            source = path.read_text(encoding="utf-8")
            tree = ast.parse(source, filename=f"mytorch/{name}")
        except UnicodeDecodeError:
            result.problems[name] = f"mytorch/{name} is not UTF-8 text"
            continue
        except SyntaxError as error:
            result.problems[name] = f"mytorch/{name} has a syntax error at line {error.lineno}: {error.msg}"
            result.files[name] = source
            continue
        forbidden = forbidden_imports(source, tree)
        if forbidden:
            result.problems[name] = (f"mytorch/{name} imports {', '.join(forbidden)}; only NumPy and the "
                                     f"Python standard library may be imported")
        result.files[name] = source
    return result


def write_package(submission: Submission, destination: Path) -> None:
    """Write the files to grade into ``destination/mytorch`` (world-readable, for the sandbox user)."""
    package = destination / "mytorch"
    if package.exists():
        shutil.rmtree(package)
    package.mkdir(parents=True)
    destination.chmod(0o755)
    package.chmod(0o755)
    for name, source in {**submission.files, "__init__.py": PACKAGE_INIT}.items():
        path = package / name
        path.write_text(source, encoding="utf-8")
        path.chmod(0o644)
