"""The leak check: nothing a student receives may hold a solution or a hidden test.

Fingerprints are taken from the instructor's material (the solution regions of
the reference ``mytorch/`` and of the source notebooks, and the hidden test
regions of the source notebooks); then every file a student receives (the
release folder and the course package installed in their environment) is
searched for them, whitespace ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import nbformat

from assignment import PACKAGE_DIR
from assignment.instructor.release.stubs import STUDENT_FILES, derive_stub

MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "BEGIN MARK SCHEME")
# Shorter lines are too common to prove anything ("return x", "return grad").
MIN_FINGERPRINT = 16
TEXT_SUFFIXES = {".py", ".ipynb", ".md", ".txt", ".json", ".cfg", ".toml", ".yml", ".yaml", ".html", ".csv"}


class LeakError(RuntimeError):
    """Something a student receives holds a solution or a hidden test."""


@dataclass(frozen=True)
class Leak:
    """One finding: which file, and what it holds."""

    path: str
    what: str

    def __str__(self) -> str:
        return f"{self.path}: {self.what}"


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _regions(text: str, begin: str, end: str) -> list[str]:
    pattern = re.compile(rf"^[^\n]*{re.escape(begin)}[^\n]*\n(.*?)^[^\n]*{re.escape(end)}", re.S | re.M)
    return [m.group(1) for m in pattern.finditer(text)]


def _sources_of(notebook_path: Path) -> list[str]:
    nb = nbformat.read(str(notebook_path), as_version=4)
    return [cell.source for cell in nb.cells]


def _visible_test_lines(source_dir: Path) -> set[str]:
    """Squashed lines of the visible part of every graded test cell of the source notebooks."""
    shown = set()
    for path in sorted(source_dir.glob("*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type != "code" or not meta.get("grade"):
                continue
            source = cell.source
            for begin, end in (("BEGIN SOLUTION", "END SOLUTION"), ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS")):
                for region in _regions(source + "\n", begin, end):
                    source = source.replace(region, "")
            shown |= {_squash(line) for line in source.splitlines()}
    return shown


def fingerprints(reference_dir: Path, source_dir: Path, given_text: str) -> dict[str, str]:
    """Squashed lines that must never reach a student, with what each one is.

    Args:
        reference_dir: the reference ``mytorch/``.
        source_dir: the assignment's source folder (its notebooks).
        given_text: the text students legitimately receive (the stubs), whose
            lines are excluded: a solution line that also appears in given code
            proves nothing.

    A hidden test's line that a visible test shows too (``layers=[{'kind':
    'Linear',`` say) proves nothing either, so it is no fingerprint. No other
    notebook text whitelists anything: a solution line pasted into a markdown
    cell, or a hidden test's line pasted anywhere else, is a leak.
    """
    given_squashed = "\n".join({_squash(line) for line in given_text.splitlines()})
    shown_squashed = given_squashed + "\n" + "\n".join(_visible_test_lines(source_dir))
    found: dict[str, str] = {}

    def add(region: str, what: str, excluded: str) -> None:
        for line in region.splitlines():
            squashed = _squash(line)
            if squashed.startswith("#") or len(squashed) < MIN_FINGERPRINT or squashed in excluded:
                continue
            found.setdefault(squashed, f"{what}: {line.strip()[:80]!r}")

    for path in sorted(reference_dir.glob("*.py")):
        for region in _regions(path.read_text(encoding="utf-8"), "BEGIN SOLUTION", "END SOLUTION"):
            add(region, f"a solution line of mytorch/{path.name}", given_squashed)
    for path in sorted(source_dir.glob("*.ipynb")):
        for source in _sources_of(path):
            for region in _regions(source + "\n", "BEGIN SOLUTION", "END SOLUTION"):
                add(region, f"a solution line of {path.name}", given_squashed)
            for region in _regions(source + "\n", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
                add(region, f"a hidden test line of {path.name}", shown_squashed)
    return found


def _texts(path: Path) -> Iterable[str]:
    """The texts of a file a student receives: a notebook's cell sources and outputs, else the file."""
    if path.suffix == ".ipynb":
        nb = nbformat.read(str(path), as_version=4)
        yield from _notebook_texts(nb)
    else:
        yield path.read_text(encoding="utf-8", errors="replace")


def _notebook_texts(nb) -> Iterable[str]:
    for cell in nb.cells:
        yield cell.source
        for output in cell.get("outputs", []):
            yield str(output)


def scan_texts(label: str, texts: Iterable[str], prints: dict[str, str], *, markers: bool = True) -> list[Leak]:
    """Search texts for fingerprints and, if ``markers``, for nbgrader's region markers."""
    leaks = []
    for text in texts:
        for marker in MARKERS if markers else ():
            if marker in text:
                leaks.append(Leak(label, f"the marker {marker!r}"))
        squashed = _squash(text)
        for fingerprint, what in prints.items():
            # An identifier may not run into the match: "logits_grad=..." is not "grad=...".
            if fingerprint in squashed and re.search(r"(?<![A-Za-z0-9_])" + re.escape(fingerprint), squashed):
                leaks.append(Leak(label, what))
    return leaks


def scan_tree(root: Path, prints: dict[str, str], label_root: Path | None = None, *, markers: bool = True) -> list[Leak]:
    """Search every text file under ``root``; a binary or unknown file is itself a finding.

    Args:
        root: the folder a student receives.
        prints: the fingerprints.
        label_root: paths in findings are relative to this folder.
        markers: also flag nbgrader's region markers (not in the course package,
            whose build tools name them).
    """
    leaks = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        label = str(path.relative_to(label_root or root))
        if path.suffix not in TEXT_SUFFIXES:
            if path.suffix not in {".npz", ".png"}:
                leaks.append(Leak(label, f"an unexpected file type {path.suffix or '(none)'}: cannot be checked"))
            continue
        try:
            leaks += scan_texts(label, _texts(path), prints, markers=markers)
        except Exception as error:  # a malformed notebook must fail the check, not pass it
            leaks.append(Leak(label, f"cannot be read ({error})"))
    return leaks


def check_release(course_root: Path, assignment: str, *, extra_notebooks: Iterable = ()) -> list[Leak]:
    """Check the release of ``assignment`` and the course package students install.

    Args:
        course_root: the repository root (holds ``mytorch/``, ``source/``, ``release/``, ``assignment/``).
        assignment: the assignment id, e.g. "mlp".
        extra_notebooks: (label, NotebookNode) pairs not yet written to disk.

    Returns:
        The findings; empty when nothing leaks.
    """
    release_dir = course_root / "release" / assignment
    # The given code is what the stubs derived from the reference hold, not what the
    # release's files hold: a line pasted into a released file must not whitelist itself.
    given = "\n".join(derive_stub((course_root / "mytorch" / name).read_text(encoding="utf-8"), f"mytorch/{name}")
                      for name in STUDENT_FILES)
    prints = fingerprints(course_root / "mytorch", course_root / "source" / assignment, given)
    leaks = []
    if release_dir.exists():
        leaks += scan_tree(release_dir, prints, course_root)
    package = PACKAGE_DIR
    leaks += scan_tree(package, prints, package.parent, markers=False)
    for label, nb in extra_notebooks:
        leaks += scan_texts(label, _notebook_texts(nb), prints)
    return leaks
