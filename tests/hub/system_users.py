"""Linux users for the hub test: created with useradd, removed with userdel -r.

Each user's comment field names the test run (``mytorch-hub-test pid=<pid>``), so
that users left behind by a run that was killed outright are recognised and removed
by the next run, and never a user of another run that is still going.
"""

from __future__ import annotations

import os
import pwd
import secrets
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

MARKER = "mytorch-hub-test"


@dataclass(frozen=True)
class User:
    """A Linux user made for the test.

    Fields:
        name: the login name.
        password: its password (the hub logs in through PAM).
        uid, gid: its ids.
        home: its home folder.
    """

    name: str
    password: str
    uid: int
    gid: int
    home: Path


def create(name: str, home: Path) -> User:
    """useradd a user with a home (Debian's default mode) and a random password.

    Args:
        name: the login name.
        home: the home folder to create.

    Returns:
        The user.
    """
    home.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["useradd", "--create-home", "--home-dir", str(home), "--shell", "/bin/bash",
                    "--comment", f"{MARKER} pid={os.getpid()}", name], check=True, capture_output=True)
    password = secrets.token_urlsafe(18)
    subprocess.run(["chpasswd"], input=f"{name}:{password}\n", text=True, check=True, capture_output=True)
    entry = pwd.getpwnam(name)
    return User(name, password, entry.pw_uid, entry.pw_gid, Path(entry.pw_dir))


def processes_of(uid: int) -> list[int]:
    """The ids of the processes running as ``uid``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    pids.append(int(entry.name))
            except FileNotFoundError:
                pass
    return pids


def end_processes(uid: int, grace_s: float = 5.0) -> None:
    """Terminate, then kill, every process of a test user (each by its id)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = processes_of(uid)
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.time() + grace_s
        while processes_of(uid) and time.time() < deadline:
            time.sleep(0.1)
        if not processes_of(uid):
            return


def remove(name: str) -> None:
    """End a test user's processes and userdel -r it (its home goes too)."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return
    if not entry.pw_gecos.startswith(MARKER):
        raise RuntimeError(f"refusing to remove {name}: not a user of the hub test")
    end_processes(entry.pw_uid)
    subprocess.run(["userdel", "--remove", name], capture_output=True)


def remove_stale() -> list[str]:
    """Remove the users of earlier test runs whose process is gone; returns their names."""
    removed = []
    for entry in pwd.getpwall():
        if not entry.pw_gecos.startswith(MARKER):
            continue
        pid = entry.pw_gecos.rpartition("pid=")[2]
        if pid.isdigit() and Path(f"/proc/{pid}").exists():
            continue  # another run, still going
        remove(entry.pw_name)
        removed.append(entry.pw_name)
    return removed


def run_as(user: User, command: list[str], env: dict[str, str] | None = None,
           **kwargs) -> subprocess.CompletedProcess:
    """Run a command as ``user`` (its uid, gid and no other group), from its home.

    Args:
        user: who runs it.
        command: the command.
        env: more environment variables (the base is HOME, USER and PATH=/usr/bin:/bin).
    """
    return subprocess.run(command, user=user.uid, group=user.gid, extra_groups=[], cwd=user.home,
                          env={"HOME": str(user.home), "USER": user.name, "PATH": "/usr/bin:/bin", **(env or {})},
                          capture_output=True, text=True, **kwargs)
