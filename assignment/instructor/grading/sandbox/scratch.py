"""The grader's private scratch space: one 0700 folder per grading process.

On a shared host (The Littlest JupyterHub: every student is a local user)
anything the grader leaves in a world-writable or world-readable place can be
read, swapped or pre-planted by another user. So everything a sandbox needs
on disk lives under one folder created with ``mkdtemp`` (mode 0700, owned by
the grader, a fresh random name), made once per grading process and removed
when it exits. Nothing in it is ever chmod-ed open: bubblewrap's sandbox user
is the grader's own uid outside its namespace, and the Landlock sandbox runs as
the grader's uid, so both read it as its owner. Files are created with
``O_CREAT | O_EXCL | O_NOFOLLOW`` and never reopened by name by the grader.

What it holds:

- ``course/assignment``: a copy of the course package's modules that the runner
  imports (``grading.contract.sandbox_files``), with digits that hold no test
  labels (both backends import this copy, bubblewrap mounted at ``/sandbox/grader``);
- ``site``: a folder with NumPy and ``numpy.libs`` only (symbolic links to the
  installed ones), the sandbox's only third-party import path;
- ``runs/...``: one folder per sandboxed process (its stderr);
- ``copies/...``: one folder per submission copy (``new_copy_dir``).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
from pathlib import Path

import numpy

from assignment import PACKAGE_DIR
from assignment.instructor.grading import contract


_lock = threading.RLock()
_root: Path | None = None
_root_pid: int | None = None


def private_root() -> Path:
    """The grading process's private folder (0700, created on first use, removed at exit)."""
    global _root, _root_pid
    with _lock:
        if _root is None or _root_pid != os.getpid() or not _root.is_dir():
            _root = Path(tempfile.mkdtemp(prefix="mytorch-grading-"))
            _root_pid = os.getpid()
            atexit.register(_remove, _root, _root_pid)
        return _root


def _remove(folder: Path, owner_pid: int) -> None:
    if os.getpid() == owner_pid:  # not from a forked child that inherited the handler
        shutil.rmtree(folder, ignore_errors=True)


def new_dir(prefix: str) -> Path:
    """A fresh private folder under ``private_root()/runs`` (0700, a random name)."""
    runs = private_root() / "runs"
    with _lock:
        runs.mkdir(mode=0o700, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=runs))


def copies_root() -> Path:
    """The folder of submission copies (``private_root()/copies``): under bubblewrap, the only
    folder of student files a fork server's sandbox sees (each runner then reads its own only)."""
    copies = private_root() / "copies"
    with _lock:
        copies.mkdir(mode=0o700, exist_ok=True)
    return copies


def new_copy_dir() -> Path:
    """A fresh folder for one submission's copy, directly inside ``copies_root()``."""
    return Path(tempfile.mkdtemp(prefix="submission-", dir=copies_root()))


def create_exclusive(path: Path, mode: int = 0o600, readable: bool = False) -> int:
    """Create ``path`` for writing (and reading); fail if anything (a file, a link) is already there.

    Returns:
        The open descriptor (close-on-exec).
    """
    access = os.O_RDWR if readable else os.O_WRONLY
    return os.open(path, access | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)


def write_exclusive(path: Path, data: bytes) -> None:
    fd = create_exclusive(path)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


_masked: Path | None = None
_course: Path | None = None
_site: Path | None = None


def masked_digits() -> Path:
    """A copy of the course's digits whose test images are labelled -1 (made once per process).

    The sandbox trains on the training labels and reports its predictions for
    the test images; only the grader, which scores them, knows the test labels.
    """
    global _masked
    with _lock:
        if _masked is not None and _masked.is_file() and _masked.parent.parent == _root:
            return _masked
    folder = private_root() / "digits"
    with _lock:
        if not folder.is_dir():
            folder.mkdir(mode=0o700)
            with numpy.load(PACKAGE_DIR / "shared" / "data" / "digits.npz") as data:  # see assignment.shared.data.load_digits
                arrays = {name: data[name] for name in data.files}
            labels = arrays["labels"].astype(numpy.int64)
            labels[arrays["test_index"]] = -1
            arrays["labels"] = labels
            fd = create_exclusive(folder / "digits.npz")
            with os.fdopen(fd, "wb") as handle:
                numpy.savez(handle, **arrays)
        _masked = folder / "digits.npz"
        return _masked


def course_copy() -> Path:
    """A folder holding ``assignment/``: the course package's code, with the masked digits."""
    global _course
    digits = masked_digits()
    with _lock:
        if _course is not None and _course.is_dir() and _course.parent == _root:
            return _course
        course = private_root() / "course"
        course.mkdir(mode=0o700)
        for source in contract.sandbox_files(PACKAGE_DIR):  # what the runner imports, nothing else
            if source.is_symlink():
                continue
            target = course / "assignment" / source.relative_to(PACKAGE_DIR)
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_exclusive(target, source.read_bytes())
        (course / "assignment" / "shared" / "data").mkdir(mode=0o700, exist_ok=True)
        write_exclusive(course / "assignment" / "shared" / "data" / "digits.npz", digits.read_bytes())
        _course = course
        return course


def site_dir() -> Path:
    """A folder whose only entries are NumPy and its bundled libraries (links to the installed ones)."""
    global _site
    with _lock:
        if _site is not None and _site.is_dir() and _site.parent == _root:
            return _site
        site = private_root() / "site"
        site.mkdir(mode=0o700)
        installed = Path(numpy.__file__).resolve().parents[1]
        for name in ("numpy", "numpy.libs"):
            if (installed / name).is_dir():
                os.symlink(installed / name, site / name)
        _site = site
        return site
