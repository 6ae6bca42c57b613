"""One gradebook session at a time across the writer processes of a run, so that several can share SQLite.

SQLite lets one connection write at a time, and two ``nbgrader autograde`` processes
on one gradebook file are not safe: when both have read in a transaction and both
want to write, SQLite answers the second "database is locked" at once (waiting
could not help it), and nbgrader treats that as fatal. Yet a writer spends most of
its time outside the database, reading, converting and writing notebooks (about
four fifths of it, by cProfile of a writer, 2026-12-01).

So the writer processes of one gradebook take turns inside it: a process holds an
exclusive ``flock`` on ``lock_path(gradebook)`` from the moment one of its
``nbgrader.api.Gradebook`` objects opens (before its first query) until that object
is closed (nbgrader opens every gradebook in a ``with`` block, the course's code too),
and gradebooks opened inside that one share the hold. Only one process is ever in
the database, so none meets a lock; each converts its own students' notebooks while
the other is in the database. The kernel drops the lock of a process that dies.

A process that waits longer than ``WAIT_SECONDS`` for its turn (another kept a
gradebook open that long: a bug, never a slow student) fails that gradebook access
with ``GradebookBusy``: nbgrader reports the student as not graded rather than the
run hanging.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

WAIT_SECONDS = 300.0
_FIRST_PAUSE = 0.0005  # seconds between tries while another process is inside (a session lasts milliseconds)
_LONGEST_PAUSE = 0.005


class GradebookBusy(RuntimeError):
    """Another writer process has held the gradebook for longer than ``WAIT_SECONDS``."""


def lock_path(db_url: str) -> Path | None:
    """The lock file of an SQLite gradebook (beside it), or None for a server database (no lock needed)."""
    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    if not url.drivername.startswith("sqlite") or not url.database or url.database == ":memory:":
        return None
    return Path(url.database).resolve().with_name(Path(url.database).name + ".writers-lock")


class SessionLock:
    """The exclusive hold of one lock file, shared by every gradebook open in this process at once.

    Args:
        path: the lock file (created if missing, never followed if it is a link).
        wait_seconds: how long ``acquire`` waits for another process before raising ``GradebookBusy``.
    """

    def __init__(self, path: Path, wait_seconds: float = WAIT_SECONDS) -> None:
        self.path = Path(path)
        self.wait_seconds = wait_seconds
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        self._holders = 0  # gradebooks of this process open now
        self._guard = threading.Lock()

    def acquire(self) -> None:
        with self._guard:
            if self._holders == 0:
                self._take()
            self._holders += 1

    def release(self) -> None:
        with self._guard:
            self._holders -= 1
            if self._holders == 0:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _take(self) -> None:
        deadline = time.monotonic() + self.wait_seconds
        pause = _FIRST_PAUSE
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise GradebookBusy(f"another grade writer has kept the gradebook open for over "
                                        f"{self.wait_seconds:.0f} s (lock {self.path})") from None
                time.sleep(pause)
                pause = min(2 * pause, _LONGEST_PAUSE)


_installed: dict[str, SessionLock] = {}


def install(path: Path, wait_seconds: float = WAIT_SECONDS) -> SessionLock:
    """For this process's lifetime, every ``nbgrader.api.Gradebook`` holds ``path``'s lock while open.
    Idempotent for one path; a second, different path is refused (one gradebook per writer process)."""
    from nbgrader import api

    key = str(Path(path).resolve())
    if key in _installed:
        return _installed[key]
    if _installed:
        raise RuntimeError(f"this process already takes turns on {next(iter(_installed))}, not {key}")
    lock = SessionLock(Path(key), wait_seconds)
    original_init = api.Gradebook.__init__
    original_close = api.Gradebook.close

    def __init__(self, *args, **kwargs):
        lock.acquire()
        self._writers_lock_held = True
        try:
            original_init(self, *args, **kwargs)
        except BaseException:
            self._writers_lock_held = False
            lock.release()
            raise

    def close(self):
        try:
            return original_close(self)
        finally:
            if getattr(self, "_writers_lock_held", False):  # a second close() releases nothing
                self._writers_lock_held = False
                lock.release()

    api.Gradebook.__init__ = __init__
    api.Gradebook.close = close
    _installed[key] = lock
    return lock
