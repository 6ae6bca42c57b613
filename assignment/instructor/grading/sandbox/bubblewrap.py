"""The bubblewrap backend: the runner in its own user, pid, mount, network, IPC and UTS namespaces.

The sandbox's root is an empty tmpfs onto which only this is mounted,
read-only: the interpreter, its standard library (the installation's own
site-packages covered by an empty folder), the shared libraries that the
interpreter, the standard library's extension modules and NumPy load (each
file at the path the loader asks for), the loader's cache, NumPy at
``/sandbox/site``, the grader's private copy of the course package (digits
without test labels) at ``/sandbox/grader`` and this submission's copy at
``/sandbox/student`` (``launch``). Writable: a 64 MiB ``/tmp`` only.
A fork server's sandbox (``server_launch``) holds every submission copy of the
grading process at ``/sandbox/students`` instead, and each runner forked there
confines itself with Landlock to its own copy, writing nowhere
(``runner_request``). No ``/proc`` (nothing
needs it, and through it the sandbox would see bubblewrap's own environment
and the host's mount table), a minimal ``/dev``. The sandbox user is uid
65534 inside; outside it is the grader's own uid (so it can read the grader's
private 0700 folders, and nothing more than the grader could). bubblewrap
itself is started with an empty environment. The runner's seccomp filter
(``seccomp.build()``) is loaded by bubblewrap just before the runner starts;
each child the runner forks adds the child's filter (``seccomp.child_template``),
which also keeps its signals to itself: the runner and its children share the
sandbox's pid namespace.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

from assignment.instructor.grading.sandbox import landlock, paths, scratch, seccomp
from assignment.instructor.grading.sandbox.base import FORK_SERVER, RUNNER, Launch, runner_env

BWRAP = "bwrap"
TMP_BYTES = 64 * 2**20  # the sandbox's /tmp (a tmpfs: memory outside the RLIMIT_AS of the process)
INSIDE_PATH = ["/sandbox/site", "/sandbox/grader", "/sandbox/student"]


@functools.cache
def executable() -> str | None:
    return shutil.which(BWRAP)


def precheck() -> str | None:
    """None if bubblewrap is installed and can create namespaces here, else why not."""
    program = executable()
    if program is None:
        return "bubblewrap (bwrap) is not installed: apt-get install bubblewrap"
    if seccomp.unavailable():
        return seccomp.unavailable()
    try:
        result = subprocess.run([program, "--ro-bind", "/", "/", "--unshare-all", "--unshare-user",
                                 "--uid", "65534", "--gid", "65534", "true"],
                                capture_output=True, text=True, timeout=20, env={})
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bubblewrap cannot start: {error}"
    if result.returncode != 0:
        return f"bubblewrap cannot create a sandbox here: {result.stderr.strip()[:300]}"
    return None


@functools.cache
def _knows_size_option() -> bool:
    """Whether this bwrap takes ``--size`` before ``--tmpfs`` (0.7 and later)."""
    try:
        usage = subprocess.run([executable() or BWRAP, "--help"], capture_output=True, text=True, timeout=20, env={})
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--size" in usage.stdout + usage.stderr


def _sized(size: int) -> list[str]:
    return ["--size", str(size)] if _knows_size_option() else []


def _system_mounts() -> list[str]:
    """The interpreter, its standard library and the shared libraries, each where it is on the host."""
    found = paths.installation()
    command: list[str] = []
    bound: set[str] = set()

    def bind(source: Path, target: Path) -> None:
        if str(target) not in bound:
            bound.add(str(target))
            command.extend(["--ro-bind", str(source), str(target)])

    for requested, real in found.libraries:
        bind(real, real)
        bind(real, requested)
    if paths.LOADER_CACHE.is_file():
        bind(paths.LOADER_CACHE.resolve(), paths.LOADER_CACHE)
    bind(found.executable, found.executable)
    for folder in found.stdlib:
        bind(folder, folder)
    for folder in found.hidden:  # the installation's own site-packages: an empty, read-only folder
        command.extend(["--tmpfs", str(folder), "--remount-ro", str(folder)])
    return command


def _argv(extra_binds: list[str], die_with_parent: bool = True) -> tuple[list[str], int]:
    """bubblewrap's command line up to the program, and the descriptor of its seccomp filter."""
    found = paths.installation()
    program = seccomp.build(deny_exec=False)  # the runner adds the full filter itself
    seccomp_read, seccomp_write = os.pipe()
    os.write(seccomp_write, program)  # far below a pipe's buffer; bwrap reads it to the end
    os.close(seccomp_write)
    env = runner_env("/tmp")
    argv = [executable() or BWRAP, "--unshare-all", "--unshare-user", "--uid", "65534", "--gid", "65534",
            *(["--die-with-parent"] if die_with_parent else []), "--new-session", "--clearenv"]
    for name, value in env.items():
        argv += ["--setenv", name, value]
    # Memory-backed folders are size-capped (tmpfs pages are not counted by RLIMIT_AS).
    argv += ["--dev", "/dev", *_sized(2**20), "--tmpfs", "/dev/shm", "--remount-ro", "/dev",
             *_sized(TMP_BYTES), "--tmpfs", "/tmp"]
    argv += _system_mounts()
    for folder in found.numpy_dirs:
        argv += ["--ro-bind", str(folder), f"/sandbox/site/{folder.name}"]
    argv += ["--ro-bind", str(scratch.course_copy()), "/sandbox/grader", *extra_binds,
             "--remount-ro", "/", "--chdir", "/tmp", "--seccomp", str(seccomp_read)]
    return argv, seccomp_read


def launch(package_copy: Path, run_dir: Path, channel_fd: int) -> Launch:
    """How to start the runner in a fresh bubblewrap sandbox of its own (no fork server).

    Args:
        package_copy: the folder holding the student's ``mytorch/``.
        run_dir: this run's private folder (the sandbox starts there on the host side).
        channel_fd: the write end of the answer pipe (inherited through bubblewrap).
    """
    argv, seccomp_read = _argv(["--ro-bind", str(package_copy), "/sandbox/student"])
    argv += [str(paths.installation().executable), "-I", "-S", "-B", f"/sandbox/grader/{RUNNER}"]
    return Launch(argv=argv, env={}, cwd=run_dir, pass_fds=(seccomp_read, channel_fd),
                  close_after_start=(seccomp_read,),
                  request={"path": INSIDE_PATH, "grader_path": "/sandbox/grader"})


def server_launch(copies: Path, run_dir: Path, control_fd: int) -> Launch:
    """How to start the fork server (``grading/fork_server.py``) in a bubblewrap sandbox.

    The sandbox is the one ``launch`` builds, but the student's folder is ``copies``
    (every submission copy of this grading process, one folder each) at
    ``/sandbox/students``, and the ``landlock`` binding is at ``/sandbox/binding``:
    each runner forked there confines itself with Landlock to its own copy
    (``runner_request``), so that what one submission's code can read or write is
    what it could in a sandbox of its own.

    Args:
        copies: the folder holding the submission copies (``scratch.copies_root``).
        run_dir: the server's private folder on the host side.
        control_fd: the server's end of its control socket.
    """
    binding = Path(landlock.binding_package())
    argv, seccomp_read = _argv(["--ro-bind", str(copies), "/sandbox/students",
                                "--ro-bind", str(binding), f"/sandbox/binding/{binding.name}"])
    argv += [str(paths.installation().executable), "-I", "-S", "-B", f"/sandbox/grader/{FORK_SERVER}",
             str(control_fd)]
    return Launch(argv=argv, env={}, cwd=run_dir, pass_fds=(seccomp_read, control_fd),
                  close_after_start=(seccomp_read,),
                  request={"path": ["/sandbox/site", "/sandbox/grader"], "binding": "/sandbox/binding"})


def runner_request(copy: Path) -> dict:
    """What a runner forked by the server is told: its import path, and its Landlock confinement.

    The confinement allows reading the installation (as mounted in the sandbox), NumPy,
    the grader's package copy and this submission's copy only, and writing nowhere (not
    even ``/tmp``, which every runner of the server shares).

    Args:
        copy: the submission's copy, a folder directly inside ``scratch.copies_root()``.
    """
    found = paths.installation()
    inside = f"/sandbox/students/{copy.name}"
    read = list(paths.stdlib_entries())
    for requested, real in found.libraries:
        read += [str(real), str(requested)]
    if paths.LOADER_CACHE.is_file():
        read.append(str(paths.LOADER_CACHE))
    read += ["/sandbox/site", "/sandbox/grader", inside]
    return {"path": ["/sandbox/site", "/sandbox/grader", inside], "grader_path": "/sandbox/grader",
            "confine": {"read": list(dict.fromkeys(read)), "list_only": [str(f) for f in found.stdlib],
                        "abi": landlock.abi(), "binding": "/sandbox/binding"}}
