"""The Landlock backend's confinement, applied by the runner to itself before any student code runs.

Imported only inside the sandbox, by ``runner.py``, while it is still trusted
(nothing of the student's has been imported yet). Under Landlock, ``apply`` makes, in order,
changes that no later code in the process (nor anything it could start) can
undo:

1. all capabilities dropped (bounding set, ambient, effective, permitted,
   inheritable) and the "root is special" securebits cleared and locked, so
   that a grader running as root leaves an ordinary uid 0 without privileges;
2. ``no_new_privs`` (needed by Landlock and seccomp without privileges);
3. a Landlock domain (the ``landlock`` binding) that handles every filesystem
   right and grants only reading beneath the listed paths: the interpreter,
   the standard library, NumPy, their shared libraries, the course package
   copy and this submission's copy. No writing, creating, removing or
   truncating anywhere; directories outside cannot be listed, files outside
   cannot be opened (their ``stat`` metadata remains visible: Landlock does not
   mediate path lookup);
4. a second Landlock domain, through the kernel interface directly (the
   binding knows filesystem rights only): TCP bind and connect denied where
   the kernel's Landlock ABI is 4 or later, and, from ABI 6, signals and
   abstract Unix sockets scoped to the sandbox;
5. the seccomp filter built by the grader (``sandbox.seccomp``), loaded with
   ``seccomp(2)``: no new processes or threads, no sockets, no memfd, no
   ptrace, signals only to itself, and the rest of that list.

Each child the runner forks then confines itself further (``confine_child``),
before any student code: it dies with the runner, and loads the child's
seccomp filter, which refuses new processes and signals to anything but itself.

Under bubblewrap only step 5 runs here (its namespaces and mounts do the
rest); bubblewrap has already loaded the same filter minus execve, which it
needed to start the runner.

Any failure raises, and the runner then dies before reporting ``ready``: the
grader refuses to grade rather than run student code half-confined.
"""

from __future__ import annotations

import ctypes
import os
import struct
import sys

PR_SET_SECUREBITS = 28
PR_CAPBSET_DROP = 24
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
PR_GET_NO_NEW_PRIVS = 39
PR_GET_SECCOMP = 21
PR_SET_DUMPABLE = 4
PR_SET_PDEATHSIG = 1
SIGKILL = 9
BPF_INSTRUCTION = "=HBBI"  # struct sock_filter: code, jt, jf, k
# The child filter's stand-in for its pid (``sandbox.seccomp.PID_PLACEHOLDER``; a test holds them equal).
PID_PLACEHOLDER = 0x3FFFABCD
# SECBIT_NOROOT, SECBIT_NO_SETUID_FIXUP, SECBIT_KEEP_CAPS_LOCKED, SECBIT_NO_CAP_AMBIENT_RAISE,
# each with its lock bit.
SECUREBITS = 0x01 | 0x02 | 0x04 | 0x08 | 0x20 | 0x40 | 0x80
LINUX_CAPABILITY_VERSION_3 = 0x20080522
SYS_CAPSET = {"x86_64": 126, "aarch64": 91}
SYS_SECCOMP = {"x86_64": 317, "aarch64": 277}
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_TSYNC = 1
LANDLOCK_ACCESS_NET = 0x1 | 0x2  # BIND_TCP, CONNECT_TCP
LANDLOCK_SCOPE = 0x1 | 0x2  # ABSTRACT_UNIX_SOCKET, SIGNAL


class ConfinementError(RuntimeError):
    """The sandbox could not be set up as required."""


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class _NetScopeAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> int:
    if result < 0:
        number = ctypes.get_errno()
        raise ConfinementError(f"{what} failed: {os.strerror(number)}")
    return result


def _machine() -> str:
    return os.uname().machine


def drop_capabilities(libc: ctypes.CDLL) -> None:
    """Leave no capability in any set; lock root's special treatment away where permitted."""
    privileged = os.geteuid() == 0
    if privileged:
        libc.prctl(PR_SET_SECUREBITS, SECUREBITS, 0, 0, 0)  # needs CAP_SETPCAP: set it first
        for cap in range(64):
            if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
                break  # EINVAL: past the last capability this kernel knows
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header = _CapHeader(LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(libc.syscall(SYS_CAPSET[_machine()], ctypes.byref(header), ctypes.byref(data)), "capset")


def restrict_filesystem(read: list[str], list_only: list[str], binding: str) -> None:
    """A Landlock domain: reading beneath ``read``, listing ``list_only``, nothing else.

    ``binding`` is a folder holding the ``landlock`` package only (on the path just for its import).
    """
    sys.path.insert(0, binding)
    try:
        import landlock
        from landlock import FSAccess
    finally:
        del sys.path[0]
    # The binding takes any non-zero errno after a call for a failure, even after a call that
    # succeeded (landlock 1.0.0.dev5, plumbing.syscall_errcheck): ctypes' errno must be clear
    # before its calls, and the capability calls above may have left EINVAL in it.
    ctypes.set_errno(0)
    ruleset = landlock.Ruleset()  # handles every filesystem right this kernel knows
    for path in read:
        ctypes.set_errno(0)
        rights = FSAccess.READ_FILE | FSAccess.READ_DIR if os.path.isdir(path) else FSAccess.READ_FILE
        ruleset.allow(path, rules=rights)
    for path in list_only:
        ctypes.set_errno(0)
        ruleset.allow(path, rules=FSAccess.READ_DIR)
    ctypes.set_errno(0)
    ruleset.apply()  # sets no_new_privs, then restricts this (single-threaded) process
    os.close(ruleset._fd)  # the binding keeps it open; the domain no longer needs it


def restrict_network_and_scope(abi: int) -> None:
    """Deny TCP bind/connect (ABI >= 4); scope signals and abstract Unix sockets (ABI >= 6)."""
    from landlock.plumbing import get_libc

    libc = get_libc()
    net = LANDLOCK_ACCESS_NET if abi >= 4 else 0
    scoped = LANDLOCK_SCOPE if abi >= 6 else 0
    if not (net or scoped):
        return
    attr = _NetScopeAttr(0, net, scoped)
    size = ctypes.sizeof(attr) if scoped else 16  # an older kernel refuses fields it does not know
    fd = _check(libc.syscall(444, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0)),
                "landlock_create_ruleset (network, scopes)")
    try:
        _check(libc.syscall(446, ctypes.c_int(fd), ctypes.c_uint32(0)), "landlock_restrict_self (network, scopes)")
    finally:
        os.close(fd)


def load_seccomp(libc: ctypes.CDLL, program: bytes) -> None:
    """Load a classic BPF program as this process's seccomp filter (all threads)."""
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    _check(libc.syscall(SYS_SECCOMP[_machine()], SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC,
                        ctypes.byref(fprog)), "seccomp")


def with_pid(template: bytes, pid: int) -> bytes:
    """The child filter ``template`` with its placeholder replaced by ``pid`` (every occurrence).

    Raises:
        ConfinementError: the template holds no placeholder (it would let signals through unchecked).
    """
    program = bytearray(template)
    replaced = 0
    for offset in range(0, len(program) - len(program) % 8, 8):
        code, jt, jf, k = struct.unpack_from(BPF_INSTRUCTION, program, offset)
        if k == PID_PLACEHOLDER:
            struct.pack_into(BPF_INSTRUCTION, program, offset, code, jt, jf, pid)
            replaced += 1
    if not replaced or len(program) % 8:
        raise ConfinementError("the child's seccomp filter is malformed")
    return bytes(program)


def confine_child(template: bytes, runner_pid: int) -> None:
    """Confine a freshly forked child further, before it imports any student code.

    It dies with the runner (the grader ends a sandbox by ending its runner), and loads the
    child's filter (``sandbox.seccomp.child_template``) with its own pid: no new process,
    no leaving the process group, signals to itself only.

    Args:
        template: the child filter, with ``PID_PLACEHOLDER`` for the pid.
        runner_pid: the runner's pid; if it is already gone, the child exits at once.
    """
    libc = _libc()
    _check(libc.prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")
    if os.getppid() != runner_pid:  # the runner died before the line above: nobody waits for us
        os._exit(1)
    load_seccomp(libc, with_pid(template, os.getpid()))


def apply(plan: dict | None, seccomp_program: bytes) -> None:
    """Confine this process for good (see the module's docstring).

    Args:
        plan: for the Landlock backend (``sandbox.landlock.plan``): "read" and
            "list_only" paths, the Landlock "abi" and the "binding" folder that holds
            the ``landlock`` package; None under bubblewrap (its namespaces do this part).
        seccomp_program: the filter built by the grader (``sandbox.seccomp.build``).
    """
    if _machine() not in SYS_SECCOMP:
        raise ConfinementError(f"no system call numbers known for {_machine()}")
    libc = _libc()
    if plan is not None:
        drop_capabilities(libc)
        restrict_filesystem(list(plan["read"]), list(plan["list_only"]), str(plan["binding"]))
        restrict_network_and_scope(int(plan["abi"]))
    elif libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS (bubblewrap has set it already)
        raise ConfinementError("no_new_privs could not be set")
    load_seccomp(libc, seccomp_program)
    # Not dumpable: the children, which run student code as the same user, cannot open the
    # runner's (or each other's) /proc entries or attach to them (the children inherit it).
    _check(libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "prctl(PR_SET_DUMPABLE)")
    for name in [m for m in sys.modules if m == "landlock" or m.startswith("landlock.")]:
        del sys.modules[name]  # its folder is no longer readable; nothing should find it loaded
    if libc.prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1 or libc.prctl(PR_GET_SECCOMP, 0, 0, 0, 0) != 2:
        raise ConfinementError("no_new_privs or the seccomp filter did not hold")
