"""The grader's private scratch space on a shared host, where every student is a local user.

Before: the sandbox's folders were 0777 and its report file 0666 in /tmp, and
reports were reopened by name, so another local user could swap in a forged
report or plant symbolic links. Now: one 0700 folder per grading process,
files created with O_EXCL | O_NOFOLLOW, answers over an inherited pipe. The
last test runs an actual other local user (created with ``useradd``) against a
grading run in progress.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest

from assignment.instructor.grading.sandbox import BACKENDS, Limits, describe_backend, run_in_sandbox, scratch
from test_sandbox_isolation import REQUEST, indent, package

INTRUDER = "mytorch-intruder"


def _available() -> list:
    return [pytest.param(name, id=name, marks=pytest.mark.skipif(describe_backend(name)[0] is None,
                                                                  reason=f"{name} cannot run here"))
            for name in BACKENDS]


@pytest.mark.parametrize("backend", _available())
def test_scratch_is_private_and_nothing_in_it_is_opened_up(tmp_path, backend):
    outcome = run_in_sandbox(package(tmp_path), REQUEST, Limits(backend=backend))
    assert outcome.error is None, outcome.error
    root = scratch.private_root()
    info = root.lstat()
    assert stat.S_ISDIR(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o700
    assert info.st_uid == os.geteuid()
    for path in [root, *root.rglob("*")]:
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):  # a link's own mode means nothing; the ones here point at installed packages
            continue
        assert not mode & stat.S_IWOTH and not mode & stat.S_IWGRP, path  # nothing writable by others
        if path.parent == root and stat.S_ISDIR(mode):
            assert stat.S_IMODE(mode) == 0o700, path
    # The per-run folders are gone after the run; no report file ever existed.
    assert not list((root / "runs").glob("run-*"))
    assert not list(root.rglob("report.json"))


def test_files_are_created_exclusively_and_never_through_a_link(tmp_path):
    planted = tmp_path / "stdout.txt"
    planted.symlink_to(tmp_path / "victim")
    with pytest.raises(FileExistsError):
        scratch.create_exclusive(planted)
    assert not (tmp_path / "victim").exists()
    (tmp_path / "existing").write_text("x")
    with pytest.raises(FileExistsError):
        scratch.create_exclusive(tmp_path / "existing")
    fd = scratch.create_exclusive(tmp_path / "new")
    os.close(fd)
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o600


def test_the_masked_digits_and_the_course_copy_live_in_the_private_root():
    root = scratch.private_root()
    assert scratch.masked_digits().is_relative_to(root)
    assert scratch.course_copy().is_relative_to(root)
    assert (scratch.course_copy() / "assignment" / "instructor" / "grading" / "runner.py").is_file()


INTRUDER_SCRIPT = r"""
import json, os, sys
root, pids = sys.argv[1], [int(p) for p in sys.argv[2:]]
tried = {}
def attempt(name, action):
    try:
        action()
        tried[name] = "succeeded"
    except OSError as error:
        tried[name] = type(error).__name__
attempt("list the private root", lambda: os.listdir(root))
attempt("plant a file", lambda: open(os.path.join(root, "runs", "stdout.txt"), "w").close())
attempt("plant a link", lambda: os.symlink("/etc/passwd", os.path.join(root, "runs", "x")))
attempt("read the masked digits", lambda: open(os.path.join(root, "digits", "digits.npz"), "rb").read(1))
for pid in pids:
    attempt(f"list fds of {pid}", lambda: os.listdir(f"/proc/{pid}/fd"))
    for fd in range(0, 12):
        attempt(f"open fd {fd} of {pid}", lambda: open(f"/proc/{pid}/fd/{fd}", "wb").close())
print(json.dumps(tried))
"""


def _ensure_intruder() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(INTRUDER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", INTRUDER],
                       check=True, capture_output=True)
        return pwd.getpwnam(INTRUDER)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None or shutil.which("useradd") is None,
                    reason="needs root, useradd and setpriv to act as another local user")
@pytest.mark.parametrize("backend", _available())
def test_another_local_user_cannot_reach_a_grading_run(tmp_path, backend):
    intruder = _ensure_intruder()
    copy = package(tmp_path, indent("while True:\n    pass"))
    done = {}
    thread = threading.Thread(target=lambda: done.update(outcome=run_in_sandbox(
        copy, REQUEST, Limits(wall_seconds=8, cpu_seconds=20, backend=backend))))
    thread.start()
    try:
        time.sleep(2.0)  # the sandbox is running the loop now
        pids = [os.getpid(), *_children(os.getpid())]
        pids += [grandchild for child in pids[1:] for grandchild in _children(child)]
        script = tmp_path / "intruder.py"
        script.write_text(INTRUDER_SCRIPT)
        script.chmod(0o644)
        tmp_path.chmod(0o755)
        for parent in tmp_path.parents:
            if parent == Path("/tmp") or parent == Path("/"):
                break
            parent.chmod(parent.stat().st_mode | 0o005)
        result = subprocess.run(["setpriv", f"--reuid={intruder.pw_uid}", f"--regid={intruder.pw_gid}",
                                 "--clear-groups", "/usr/bin/python3", str(script), str(scratch.private_root()),
                                 *map(str, pids)], capture_output=True, text=True, timeout=60)
    finally:
        thread.join()
    assert result.returncode == 0, result.stderr
    tried = json.loads(result.stdout)
    assert len(pids) >= 2
    succeeded = [name for name, how in tried.items() if how == "succeeded"]
    assert succeeded == [], tried
    assert done["outcome"].error == "the test did not finish within its time limit (20 s of CPU time, 8 s in all): an endless loop?"
