"""The system-call filters of every sandbox, built with libseccomp (the ``pyseccomp`` binding).

Both backends use the same two filters. A sandbox holds one trusted runner,
which forks one child per group of tests; only the children run student code.

- The runner's filter (``build()``): bubblewrap loads it (``bwrap --seccomp
  FD``, with execve still allowed) just before it starts the runner, and the
  runner loads it again with execve refused; under Landlock the runner loads it
  itself. It lets the runner fork (a plain ``clone``, no thread, no namespace).
- The child's filter (``child_template()``), loaded by each child right after
  the fork, before any student code is imported: everything below, new
  processes included, and signals only to its own pid. The grader cannot know
  that pid, so the template names a placeholder the child replaces with its
  own (``confine.load_child_filter``).

Once loaded, a filter cannot be removed or loosened, filters stack (the
strictest answer wins), and they are inherited by anything the process starts.

What the child's filter refuses (EPERM unless said otherwise):

- new processes *and* threads: fork, vfork, clone (with any flags), execve and
  execveat; clone3 fails with ENOSYS so that the C library falls back to clone
  and reports a plain error. Threads are refused too: when the grader runs as
  root the kernel exempts the sandbox from RLIMIT_NPROC, and no cgroup may be
  there to count them. Python and NumPy need none (OpenBLAS runs on one thread).
  The runner's filter refuses the same, except a clone without CLONE_THREAD,
  CLONE_VM or any namespace flag: the fork of a child.
- leaving the runner's process group or session (setsid, setpgid): the grader ends
  a sandbox by killing its process group;
- every socket (``socket``, ``socketpair``): no network, no abstract Unix sockets;
- reaching other processes: ptrace, process_vm_readv/writev, kcmp, pidfd_open,
  pidfd_getfd, pidfd_send_signal, and (in the child's filter) kill, tkill,
  tgkill and rt_(tg)sigqueueinfo whose first argument is not its own pid;
- memory that RLIMIT_AS does not count: memfd_create, memfd_secret, System V
  shared memory, message queues and semaphores;
- the kernel's larger surfaces: mount and the new mount API, unshare, setns,
  pivot_root, chroot, bpf, keyctl, add_key, request_key, io_uring, perf_event_open,
  userfaultfd, fanotify, open_by_handle_at, personality, module and kexec
  loading, swap, reboot, quotactl, and truncate by path.
"""

from __future__ import annotations

import errno
import functools
import os

try:  # the binding of Debian's libseccomp2; without it no sandbox is built
    import pyseccomp
except (ImportError, OSError) as error:  # OSError: libseccomp.so.2 missing
    pyseccomp = None
    _IMPORT_ERROR = f"pyseccomp cannot be loaded ({error}): pip install 'mytorch-course[grading]', apt-get install libseccomp2"
else:
    _IMPORT_ERROR = ""

DENIED = (
    "fork", "vfork", "clone", "execve", "execveat",
    "socket", "socketpair",
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_open", "pidfd_getfd",
    "pidfd_send_signal", "process_madvise",
    "memfd_create", "memfd_secret", "shmget", "shmat", "shmctl", "msgget", "msgsnd", "semget",
    "mount", "umount2", "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree",
    "mount_setattr", "unshare", "setns", "pivot_root", "chroot",
    "bpf", "keyctl", "add_key", "request_key", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "perf_event_open", "userfaultfd", "fanotify_init", "open_by_handle_at", "name_to_handle_at",
    "personality", "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
    "swapon", "swapoff", "reboot", "quotactl", "acct", "truncate", "lookup_dcookie", "iopl", "ioperm",
)
EXEC = ("execve", "execveat")
# What a child may not do that its runner must: fork it, and keep it in the runner's process group.
CHILD_ONLY = ("fork", "vfork", "clone", "setsid", "setpgid")
# clone flags that make something other than a plain child process: refused to the runner too.
NOT_A_FORK = (0x00000100, 0x00010000, 0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000,
              0x20000000, 0x40000000, 0x80000000)  # VM, THREAD, NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, IO
# Stands for the child's pid in ``child_template``: above any pid the kernel hands out (pid_max is
# at most 2**22), and no other instruction of a filter holds it (a test checks the replacement).
PID_PLACEHOLDER = 0x3FFFABCD
# Signals: allowed only towards the sandbox's own process, named by its pid (libseccomp cannot
# OR two conditions on one argument, so kill(0, ...), its own process group, is refused too).
SIGNALLING = ("kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo")


class SeccompUnavailable(RuntimeError):
    """libseccomp or its binding is missing."""


def unavailable() -> str | None:
    """None if filters can be built here, else why not."""
    return _IMPORT_ERROR or None


def build(deny_exec: bool = True) -> bytes:
    """The runner's filter as a classic BPF program (what ``bwrap --seccomp`` and ``seccomp(2)`` take).

    Args:
        deny_exec: refuse execve and execveat. bubblewrap's own copy of the filter must
            allow them (bubblewrap loads it, then executes the runner); the runner then
            loads the full filter on top of it (filters stack; the stricter one wins).

    Returns:
        The program: 8 bytes per instruction, in the machine's byte order.
    """
    if pyseccomp is None:
        raise SeccompUnavailable(_IMPORT_ERROR)
    return _cached(None, deny_exec, True)


def child_template() -> bytes:
    """The child's filter, signals allowed only towards ``PID_PLACEHOLDER`` (see ``compile_child``)."""
    if pyseccomp is None:
        raise SeccompUnavailable(_IMPORT_ERROR)
    return _cached(PID_PLACEHOLDER, True, False)


def compile_child(own_pid: int) -> bytes:
    """The child's filter for a process whose pid is ``own_pid``, compiled afresh (for tests)."""
    if pyseccomp is None:
        raise SeccompUnavailable(_IMPORT_ERROR)
    return _compile(own_pid, True, False)


@functools.cache
def _cached(own_pid: int | None, deny_exec: bool, may_fork: bool) -> bytes:
    return _compile(own_pid, deny_exec, may_fork)


def _compile(own_pid: int | None, deny_exec: bool, may_fork: bool) -> bytes:
    deny = pyseccomp.ERRNO(errno.EPERM)
    policy = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
    for name in DENIED:
        if (deny_exec or name not in EXEC) and not (may_fork and name in CHILD_ONLY):
            _add(policy, deny, name)
    if may_fork:
        for flag in NOT_A_FORK:
            _add(policy, deny, "clone", pyseccomp.Arg(0, pyseccomp.MASKED_EQ, flag, flag))
    else:
        for name in CHILD_ONLY:
            if name not in DENIED:
                _add(policy, deny, name)
    _add(policy, pyseccomp.ERRNO(errno.ENOSYS), "clone3")
    if own_pid is not None:
        for name in SIGNALLING:
            _add(policy, deny, name, pyseccomp.Arg(0, pyseccomp.NE, own_pid))
    read_end, write_end = os.pipe()
    try:
        with os.fdopen(write_end, "wb", closefd=False) as handle:
            policy.export_bpf(handle)
        os.close(write_end)
        write_end = -1
        chunks = []
        while chunk := os.read(read_end, 65536):
            chunks.append(chunk)
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)
    program = b"".join(chunks)
    if not program or len(program) % 8:
        raise SeccompUnavailable(f"libseccomp exported a malformed program ({len(program)} bytes)")
    return program


def _add(policy, action: int, name: str, *conditions) -> None:
    """Add a rule, skipping a system call this kernel's architecture does not have."""
    number = pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name)
    if number < 0:  # e.g. fork on aarch64, ioperm outside x86: nothing to refuse
        return
    policy.add_rule(action, number, *conditions)
