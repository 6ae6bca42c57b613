"""What autograde takes in from a submission, and what it leaves out (and tells the student).

Stock nbgrader copies everything a submission holds into ``autograded/`` (and
``generate_feedback`` then into ``feedback/``), following symbolic links, with
no size limit, and stops that student's grading at the first named pipe or
socket. ``nbgrader_config.py`` therefore tells nbgrader to copy nothing from
``submitted/`` (``CourseDirectory.ignore``) and the course's notebook reader
calls ``take_in`` once per submission instead. It copies only what grading and
feedback need: ``mytorch/*.py`` (regular files, at most ``MAX_FILE_BYTES``
each, at most ``MAX_FILES``) and nbgrader's own ``timestamp.txt`` and
``submission_secret.txt`` (small regular files); the notebooks are read and
written by nbgrader through the reader. Nothing is read through a symbolic link
at any level, no pipe is opened, and the submission itself is only ever read:
it is the student's evidence. Every other entry is listed, with why, in the log
and in a notice at the top of the student's first notebook.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from assignment.instructor.grading.safe_files import RefusedFile, entries, kind_of, open_folder, read_regular, size_text
from assignment.instructor.grading.text import markdown_literal

PACKAGE = "mytorch"
MAX_FILE_BYTES = 512 * 1024  # per mytorch/*.py: the reference nn.py is about 20 KiB
MAX_FILES = 32  # mytorch/*.py files read at most
TIMESTAMP = "timestamp.txt"  # written by nbgrader submit; release_feedback needs it in feedback/
SECRET = "submission_secret.txt"  # written by nbgrader submit; release_feedback reads it in feedback/ too
# nbgrader's own files of a submission, carried into autograded/ (and so into feedback/), with their caps.
NBGRADER_FILES = {TIMESTAMP: 1024, SECRET: 1024}
MAX_TIMESTAMP_BYTES = NBGRADER_FILES[TIMESTAMP]
MAX_LISTED = 20  # left-out entries named in the notice; the rest are counted


@dataclass
class Package:
    """The student's ``mytorch/`` as found on disk, nothing decoded or run.

    Fields:
        files: file name -> bytes, for the ``*.py`` files that could be read.
        problems: file name -> why that ``*.py`` file could not be read.
        missing: why there is no package at all (no folder, a link...), or None.
        left_out: the other entries of ``mytorch/``: (name, why), never read.
    """

    files: dict[str, bytes] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    missing: str | None = None
    left_out: list[tuple[str, str]] = field(default_factory=list)


def read_package(submission: Path) -> Package:
    """Read ``submission/mytorch/*.py``: regular files only, never through a link, size-capped.

    Args:
        submission: the student's submitted assignment folder.

    Returns:
        The files' bytes, and why each other entry was not read.
    """
    package = Package()
    try:
        top = open_folder(submission)
    except RefusedFile as why:
        package.missing = f"the submission folder {why}: nothing to grade"
        return package
    try:
        try:
            fd = open_folder(PACKAGE, dir_fd=top)
        except RefusedFile as why:
            detail = "" if "No such file" in str(why) else f" ({PACKAGE} {why})"
            package.missing = f"the submission has no {PACKAGE}/ folder{detail}: nothing to grade"
            return package
        try:
            _read_modules(fd, package)
        finally:
            os.close(fd)
    finally:
        os.close(top)
    return package


def _read_modules(fd: int, package: Package) -> None:
    for name, mode in entries(fd):
        if not name.endswith(".py"):
            package.left_out.append((name, _why_left_out(mode)))
        elif not name[:-3].isidentifier():
            package.left_out.append((name, "is not a name Python can import"))
        elif len(package.files) + len(package.problems) >= MAX_FILES:
            package.left_out.append((name, f"is beyond the first {MAX_FILES} Python files, which are all that is read"))
        else:
            try:
                package.files[name] = read_regular(name, MAX_FILE_BYTES, dir_fd=fd)
            except RefusedFile as why:
                package.problems[name] = f"{PACKAGE}/{name} {why}"


def _why_left_out(mode: int, kept: str = "mytorch/*.py") -> str:
    """Why an entry of a kind that is never taken in was left out."""
    return f"is not graded (only {kept} are kept)" if stat.S_ISREG(mode) else f"is {kind_of(mode)}"


@dataclass
class Intake:
    """What ``take_in`` copied and what it left out.

    Fields:
        kept: paths (relative to the submission) copied to the destination.
        left_out: (path, why) of each entry not copied that the student should hear about.
    """

    kept: list[str] = field(default_factory=list)
    left_out: list[tuple[str, str]] = field(default_factory=list)

    def notice(self) -> str | None:
        """A Markdown notice for the student listing what was left out, or None if nothing was."""
        if not self.left_out:
            return None
        lines = [f"- {markdown_literal(path)}: {why}" for path, why in self.left_out[:MAX_LISTED]]
        if len(self.left_out) > MAX_LISTED:
            lines.append(f"- and {len(self.left_out) - MAX_LISTED} more")
        return ("**Not graded and not kept:** only your notebooks and your `mytorch/*.py` files (regular "
                f"files of at most {size_text(MAX_FILE_BYTES)}) are graded and come back with your feedback. "
                "These entries of your submission were left out:\n\n" + "\n".join(lines))

    def summary(self) -> str:
        """One line for the instructor's log (names as Python literals, so any name prints safely)."""
        shown = "; ".join(f"{path!r} {why}" for path, why in self.left_out[:MAX_LISTED])
        more = f"; and {len(self.left_out) - MAX_LISTED} more" if len(self.left_out) > MAX_LISTED else ""
        return f"kept {len(self.kept)} files; left out {len(self.left_out)}: {shown}{more}"


def take_in(submission: Path, destination: Path, *, handout: set[str] = frozenset(),
            quiet: list[str] = ()) -> Intake:
    """Copy what grading and feedback need from ``submission`` to ``destination``; list the rest.

    Args:
        submission: the student's submitted assignment folder (only read).
        destination: their ``autograded/`` folder (created if missing).
        handout: names of the released assignment's top-level entries: its notebooks are
            nbgrader's to read, and an unchanged handout file (a README) is not the
            student's work, so it is left out without a word.
        quiet: name patterns left out without a word (``CourseDirectory.ignore``: caches,
            checkpoints).

    Returns:
        What was copied and what was left out, with why.
    """
    intake = Intake()

    def silent(name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in quiet)

    try:
        top = open_folder(submission)
    except RefusedFile as why:
        intake.left_out.append((".", f"the submission folder {why}"))
        return intake
    try:
        copies = _screen(submission, top, entries(top), intake, handout, silent)
    finally:
        os.close(top)
    for path, data in copies.items():
        _write(destination, path, data)
        intake.kept.append(path)
    return intake


def _screen(submission: Path, top: int, listing: list[tuple[str, int]], intake: Intake, handout: set[str],
            silent: Callable[[str], bool]) -> dict[str, bytes]:
    """path -> bytes of what to copy; what is left out goes to ``intake.left_out``."""
    copies: dict[str, bytes] = {}
    for name, mode in listing:
        if name == PACKAGE and stat.S_ISDIR(mode):
            package = read_package(submission)
            copies.update({f"{PACKAGE}/{n}": data for n, data in package.files.items()})
            intake.left_out += [(f"{PACKAGE}/{n}", why.removeprefix(f"{PACKAGE}/{n} "))
                                for n, why in package.problems.items()]
            intake.left_out += [(f"{PACKAGE}/{n}", why) for n, why in package.left_out if not silent(n)]
        elif name in NBGRADER_FILES:
            try:
                copies[name] = read_regular(name, NBGRADER_FILES[name], dir_fd=top)
            except RefusedFile as why:
                intake.left_out.append((name, str(why)))
        elif name.endswith(".ipynb") and name in handout:
            continue  # read by nbgrader through the course's reader, which reports problems
        elif silent(name) or (name in handout and stat.S_ISREG(mode)):
            continue
        elif name.endswith(".ipynb") and stat.S_ISREG(mode):
            intake.left_out.append((name, "is not one of the assignment's notebooks"))
        else:
            intake.left_out.append((name, _why_left_out(mode, "notebooks and mytorch/*.py")))
    return copies


def _write(destination: Path, path: str, data: bytes) -> None:
    """Write a new file under ``destination`` (never through a link, so never outside it)."""
    target = destination / path
    if target.parent.is_symlink():  # not made by nbgrader or us: never write through it
        target.parent.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(target, flags, 0o644)
    except OSError as error:
        if error.errno != errno.ELOOP:
            raise
        target.unlink()  # a link there was not made by us: replace it, do not write through it
        fd = os.open(target, flags, 0o644)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
