"""The Landlock backend: for containers, where user namespaces (and so bubblewrap) are refused.

Docker's and Kubernetes' default seccomp profiles make unshare and clone with
CLONE_NEW* flags fail (EPERM), and Ubuntu 24.04's AppArmor restricts user
namespaces: bubblewrap cannot start there. This backend needs none: the runner
is started directly (as the grader's uid, with an empty environment, in a new
session, from the grader's private folder) and confines *itself*, while still
trusted, before any student code is imported (``assignment.instructor.grading.confine``):
capabilities dropped, ``no_new_privs``, a Landlock domain that lets it read only
the files listed by ``plan`` and write nowhere, TCP and (ABI >= 6) signals and
abstract sockets scoped, and the same seccomp filters as bubblewrap's: the
runner's, and in each child it forks the child's, which refuses signals to any
process but the child itself.

What differs from bubblewrap (see README, "What the grader guarantees"): the
sandbox shares the grader's pid, network, IPC and mount namespaces, so it can
``stat`` (not open, not list) paths outside its allow-list and see its own
``/proc`` entries' names; it has no writable folder at all.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from assignment.instructor.grading.sandbox import paths, scratch, seccomp
from assignment.instructor.grading.sandbox.base import FORK_SERVER, RUNNER, Launch, runner_env

try:
    import landlock as _binding
except ImportError as error:  # pragma: no cover - pinned in pyproject.toml
    _binding = None
    _IMPORT_ERROR = f"the landlock binding is not installed ({error}): pip install 'mytorch-course[grading]'"
else:
    _IMPORT_ERROR = ""

MIN_ABI = 1  # filesystem rules; 4 adds TCP, 6 adds signal and abstract-socket scoping


@functools.cache
def abi() -> int:
    """The kernel's Landlock ABI version (0 when Landlock is absent or disabled)."""
    if _binding is None:
        return 0
    try:
        return int(_binding.landlock_abi_version())
    except (OSError, _binding.LandlockError):
        return 0


def precheck() -> str | None:
    """None if this kernel and these libraries can confine a runner, else why not."""
    if _binding is None:
        return _IMPORT_ERROR
    if seccomp.unavailable():
        return seccomp.unavailable()
    version = abi()
    if version < MIN_ABI:
        return "Landlock is not available in this kernel (or disabled at boot: lsm=landlock)"
    if os.uname().machine not in ("x86_64", "aarch64"):
        return f"the Landlock runner knows no system call numbers for {os.uname().machine}"
    return None


def features() -> str:
    """What this kernel's Landlock can do, in a few words (for the log and ``describe_backend``)."""
    version = abi()
    extra = []
    if version >= 4:
        extra.append("TCP bind/connect denied")
    if version >= 6:
        extra.append("signals and abstract sockets scoped")
    return f"Landlock ABI {version}" + (f" ({', '.join(extra)})" if extra else "")


def binding_package() -> str | None:
    """The folder of the installed ``landlock`` package, or None without it."""
    return None if _binding is None else str(Path(_binding.__file__).resolve().parent)


def _binding_dir() -> Path:
    """A private folder holding only a link to the landlock package (imported before confinement)."""
    folder = scratch.private_root() / "binding"
    folder.mkdir(mode=0o700, exist_ok=True)
    link = folder / "landlock"
    if not link.is_symlink():
        try:
            os.symlink(binding_package(), link)
        except FileExistsError:  # made by another thread meanwhile
            pass
    return folder


@functools.cache
def _system_reads() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(paths readable beneath, folders only listable) of the installation, computed once."""
    found = paths.installation()
    read = list(paths.stdlib_entries())
    read += [str(real) for _, real in found.libraries]
    read += [str(folder) for folder in found.numpy_dirs]
    if paths.LOADER_CACHE.exists():
        read.append(str(paths.LOADER_CACHE))
    return tuple(dict.fromkeys(read)), tuple(str(f) for f in found.stdlib)


def plan(package_copy: Path) -> dict:
    """The confinement the runner applies to itself (see ``assignment.instructor.grading.confine.apply``)."""
    read, list_only = _system_reads()
    course = scratch.course_copy()
    return {"read": [*read, str(scratch.site_dir()), str(course), str(package_copy)],
            "list_only": list(list_only), "abi": abi(), "binding": str(_binding_dir()),
            }


def launch(package_copy: Path, run_dir: Path, channel_fd: int) -> Launch:
    """How to start a runner that confines itself with Landlock and seccomp.

    Args:
        package_copy: the folder holding the student's ``mytorch/``.
        run_dir: this run's private folder (its working directory).
        channel_fd: the write end of the answer pipe.
    """
    argv = [str(paths.installation().executable), "-I", "-S", "-B", str(scratch.course_copy() / RUNNER)]
    return Launch(argv=argv, env=runner_env(str(run_dir)), cwd=run_dir, pass_fds=(channel_fd,),
                  request=runner_request(package_copy))


def server_launch(copies: Path, run_dir: Path, control_fd: int) -> Launch:
    """How to start the fork server (``grading/fork_server.py``): directly, as a runner is.

    It stays unconfined (it never imports, reads or runs student code); each runner it
    forks confines itself to its own submission's copy (``runner_request``) before anything
    of the student's is on its path.

    Args:
        copies: the folder holding the submission copies (``scratch.copies_root``).
        run_dir: the server's private folder (its working directory).
        control_fd: the server's end of its control socket.
    """
    course = scratch.course_copy()
    argv = [str(paths.installation().executable), "-I", "-S", "-B", str(course / FORK_SERVER), str(control_fd)]
    return Launch(argv=argv, env=runner_env(str(run_dir)), cwd=run_dir, pass_fds=(control_fd,),
                  request={"path": [str(scratch.site_dir()), str(course)], "binding": str(_binding_dir())})


def runner_request(copy: Path) -> dict:
    """What a runner is told, forked by the server or started on its own: its import path and its
    confinement (``plan``)."""
    course = scratch.course_copy()
    return {"path": [str(scratch.site_dir()), str(course), str(copy)], "grader_path": str(course),
            "confine": plan(copy)}
