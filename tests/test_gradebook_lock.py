"""``assignment.instructor.gradebook_lock``: writer processes take turns inside one SQLite gradebook.

Real processes on a real nbgrader gradebook:

- a process that keeps a write transaction open longer than SQLite's busy timeout
  (5 s) makes another process's write fail with "database is locked" (what made
  two SQLite writers unsafe); with the lock installed in both, the second waits for
  its turn and succeeds;
- gradebooks opened inside one another share the hold (no self-deadlock), a second
  ``close()`` releases nothing, a gradebook whose opening fails releases its hold;
- a process that keeps the gradebook too long makes the other fail with
  ``GradebookBusy`` (never a hang); a holder that dies frees it at once;
- the lock file sits beside an SQLite gradebook; a server database has none.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assignment.instructor import gradebook_lock

pytestmark = pytest.mark.slow

HOLDER = r"""
import sys, time
from pathlib import Path
url, lock, ready, seconds = sys.argv[1], sys.argv[2], Path(sys.argv[3]), float(sys.argv[4])
from nbgrader.api import Gradebook, Student
if lock != "-":
    from assignment.instructor import gradebook_lock
    gradebook_lock.install(Path(lock))
with Gradebook(url) as gb:
    gb.db.add(Student(id="holder"))
    gb.db.flush()  # an INSERT: the write transaction is open from here to the commit
    ready.write_text("holding")
    time.sleep(seconds)
    gb.db.commit()
print("holder done")
"""

WRITER = r"""
import json, sys, time
from pathlib import Path
url, lock, wait, after = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
from nbgrader.api import Gradebook
if lock != "-":
    from assignment.instructor import gradebook_lock
    gradebook_lock.install(Path(lock), wait_seconds=wait)
while after != "-" and not Path(after).exists():  # imported already: start the moment the holder holds
    time.sleep(0.01)
started = time.monotonic()
try:
    with Gradebook(url) as gb:
        gb.update_or_create_student("writer", first_name="W")
    outcome = "written"
except Exception as error:
    outcome = f"{type(error).__name__}: {error}"
print(json.dumps({"outcome": outcome, "seconds": time.monotonic() - started}))
"""


@pytest.fixture()
def gradebook(tmp_path) -> str:
    from nbgrader.api import Gradebook

    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with Gradebook(url) as gb:  # the tables, created before either process starts
        gb.update_or_create_student("someone")
    return url


def _hold(url: str, lock: str, tmp_path: Path, seconds: float, ready: Path | None = None) -> tuple[subprocess.Popen, Path]:
    ready = ready or tmp_path / f"ready-{time.monotonic_ns()}"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, url, lock, str(ready), str(seconds)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert holder.poll() is None, holder.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return holder, ready


def _writer(url: str, lock: str, wait: float = gradebook_lock.WAIT_SECONDS, after: Path | None = None):
    return subprocess.Popen([sys.executable, "-c", WRITER, url, lock, str(wait), str(after or "-")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _answer(writer: subprocess.Popen) -> dict:
    out, err = writer.communicate(timeout=120)
    assert writer.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def _write(url: str, lock: str, wait: float = gradebook_lock.WAIT_SECONDS) -> dict:
    return _answer(_writer(url, lock, wait))


def _students(url: str) -> set[str]:
    from nbgrader.api import Gradebook

    with Gradebook(url) as gb:
        return {student.id for student in gb.students}


HOLD_SECONDS = 6.5  # past SQLite's 5 s busy timeout


def test_without_turns_a_long_transaction_locks_the_other_writer_out(gradebook, tmp_path):
    writer = _writer(gradebook, "-", after=tmp_path / "holding")
    holder, _ = _hold(gradebook, "-", tmp_path, seconds=HOLD_SECONDS, ready=tmp_path / "holding")
    answer = _answer(writer)
    holder.communicate(timeout=60)
    assert "database is locked" in answer["outcome"]
    assert "writer" not in _students(gradebook)


def test_with_turns_the_other_writer_waits_and_writes(gradebook, tmp_path):
    lock = str(gradebook_lock.lock_path(gradebook))
    writer = _writer(gradebook, lock, after=tmp_path / "holding")
    holder, _ = _hold(gradebook, lock, tmp_path, seconds=HOLD_SECONDS, ready=tmp_path / "holding")
    answer = _answer(writer)
    out, err = holder.communicate(timeout=60)
    assert "holder done" in out, err
    assert answer["outcome"] == "written" and answer["seconds"] > 5.0  # longer than SQLite waits: its turn
    assert {"holder", "writer", "someone"} <= _students(gradebook)


def test_a_writer_kept_out_too_long_fails_clearly_and_a_dead_holder_frees_the_gradebook(gradebook, tmp_path):
    lock = str(gradebook_lock.lock_path(gradebook))
    holder, _ = _hold(gradebook, lock, tmp_path, seconds=60.0)
    try:
        answer = _write(gradebook, lock, wait=1.0)
        assert answer["outcome"].startswith("GradebookBusy: another grade writer has kept the gradebook open")
        assert 1.0 <= answer["seconds"] < 10.0
        holder.kill()
        holder.wait(timeout=30)
        answer = _write(gradebook, lock, wait=5.0)
        assert answer["outcome"] == "written" and answer["seconds"] < 5.0
    finally:
        holder.kill()
        holder.wait(timeout=30)


def test_nested_gradebooks_share_the_hold_and_every_opening_gives_it_back(gradebook, tmp_path):
    code = r"""
import sys
from pathlib import Path
from assignment.instructor import gradebook_lock
from nbgrader.api import Gradebook
lock = gradebook_lock.install(Path(sys.argv[2]))
assert gradebook_lock.install(Path(sys.argv[2])) is lock  # idempotent
with Gradebook(sys.argv[1]) as outer:
    with Gradebook(sys.argv[1]) as inner:
        inner.update_or_create_student("nested")
    assert lock._holders == 1
    outer.close()  # closed twice (here and by the with): one release
    assert lock._holders == 0
assert lock._holders == 0
try:
    Gradebook("sqlite:////nonexistent-folder/x/gradebook.db")
except Exception:
    pass
assert lock._holders == 0
try:
    gradebook_lock.install(Path(sys.argv[2] + "-other"))
    raise SystemExit("a second lock file was accepted")
except RuntimeError:
    pass
print("ok")
"""
    lock = str(gradebook_lock.lock_path(gradebook))
    result = subprocess.run([sys.executable, "-c", code, gradebook, lock], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "ok", result.stderr[-3000:]
    assert _write(gradebook, lock, wait=2.0)["outcome"] == "written"  # nothing left held


def test_the_lock_file_sits_beside_an_sqlite_gradebook_and_never_follows_a_link(tmp_path):
    assert gradebook_lock.lock_path(f"sqlite:///{tmp_path}/gradebook.db") == tmp_path / "gradebook.db.writers-lock"
    assert gradebook_lock.lock_path("postgresql://grader@127.0.0.1/course") is None
    assert gradebook_lock.lock_path("sqlite://") is None and gradebook_lock.lock_path("sqlite:///:memory:") is None
    target = tmp_path / "elsewhere"
    target.write_text("not a lock")
    os.symlink(target, tmp_path / "linked.writers-lock")
    with pytest.raises(OSError):
        gradebook_lock.SessionLock(tmp_path / "linked.writers-lock")
    assert target.read_text() == "not a lock"
