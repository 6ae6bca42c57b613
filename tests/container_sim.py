"""Running a command as if inside a default Docker container (a test helper, not a test module).

``run_in_simulated_container(argv, env, cwd)`` runs ``argv`` under the two
things of Docker's (and Kubernetes') default confinement that decide which
grading sandbox can work, so that tests can check that ``auto`` picks Landlock
where bubblewrap cannot run, and that the Landlock backend holds there:

- **Docker's default seccomp profile**, as far as namespaces go: ``unshare``
  and ``setns`` fail with EPERM, ``clone`` with any ``CLONE_NEW*`` flag fails
  with EPERM, ``clone3`` fails with ENOSYS (the profile cannot read its flags,
  so it refuses it whole and the C library falls back to ``clone``). So
  bubblewrap cannot create its user namespace: "No permissions to create new
  namespace".
- **Docker's masked /proc and /sys**, in a private mount namespace of the
  helper (nothing changes for the host): ``/proc/kcore``, ``/proc/keys``,
  ``/proc/timer_list``, ``/proc/sched_debug`` covered by ``/dev/null``;
  ``/proc/scsi`` and ``/sys/firmware`` by an empty read-only tmpfs;
  ``/proc/bus``, ``/proc/fs``, ``/proc/irq``, ``/proc/sys`` and
  ``/proc/sysrq-trigger`` read-only.
- **Docker's default capabilities** for root: the bounding set keeps only
  CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, SETGID, SETUID, SETPCAP,
  NET_BIND_SERVICE, NET_RAW, SYS_CHROOT, MKNOD, AUDIT_WRITE and SETFCAP (no
  CAP_SYS_ADMIN), so the command, run as root, has those and no others.

Not simulated (on purpose): a container's own pid and network namespaces. The
command shares the test's processes and loopback, which makes the isolation
tests harder, not easier: a victim process and a listener outside the
"container" are still within reach of anything the sandbox fails to stop.

Needs root (mount namespaces and bind mounts); the filter comes from
``pyseccomp``, the same binding the grader uses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# Docker's default capability set (moby/oci/caps/defaults.go), by number.
DOCKER_CAPABILITIES = {0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 27, 29, 31}
CLONE_NEW_FLAGS = (0x00000080, 0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000,
                   0x40000000)  # TIME, NS, CGROUP, UTS, IPC, USER, PID, NET
MASKED_FILES = ("/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug")
MASKED_DIRS = ("/proc/scsi", "/sys/firmware")
READ_ONLY = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")

# Run by the helper's own interpreter: set the container up, then exec the command.
_BOOTSTRAP = r"""
import ctypes, errno, json, os, sys
import pyseccomp

spec = json.loads(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
MS_RDONLY, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 32, 4096, 16384, 1 << 18

def check(result, what):
    if result != 0:
        raise OSError(ctypes.get_errno(), f"{what}: {os.strerror(ctypes.get_errno())}")

def mount(source, target, fstype, flags, data=None):
    check(libc.mount(source.encode() if source else None, target.encode(), fstype.encode() if fstype else None,
                     ctypes.c_ulong(flags), data.encode() if data else None), f"mount {target}")

check(libc.unshare(0x00020000), "unshare(CLONE_NEWNS)")
mount(None, "/", None, MS_REC | MS_PRIVATE)
for path in spec["masked_files"]:
    if os.path.exists(path):
        mount("/dev/null", path, None, MS_BIND)
for path in spec["masked_dirs"]:
    if os.path.isdir(path):
        mount("tmpfs", path, "tmpfs", MS_RDONLY, "size=0")
for path in spec["read_only"]:
    if os.path.exists(path):
        mount(path, path, None, MS_BIND | MS_REC)
        mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY)

policy = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
policy.add_rule(pyseccomp.ERRNO(errno.EPERM), "unshare")
policy.add_rule(pyseccomp.ERRNO(errno.EPERM), "setns")
policy.add_rule(pyseccomp.ERRNO(errno.ENOSYS), "clone3")
for flag in spec["clone_new_flags"]:
    policy.add_rule(pyseccomp.ERRNO(errno.EPERM), "clone", pyseccomp.Arg(0, pyseccomp.MASKED_EQ, flag, flag))

for cap in range(64):
    if cap not in spec["capabilities"] and libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
        if ctypes.get_errno() == errno.EINVAL:
            break
        raise OSError(ctypes.get_errno(), f"PR_CAPBSET_DROP {cap}")
policy.load()
os.chdir(spec["cwd"])
os.execvpe(spec["argv"][0], spec["argv"], spec["env"])
"""


def run_in_simulated_container(argv: list[str], env: dict[str, str], cwd: str | Path,
                               timeout: float | None = None, input: str | None = None
                               ) -> subprocess.CompletedProcess:
    """Run ``argv`` as in a default Docker container (see the module's docstring); wait for it.

    Args:
        argv: the command; ``argv[0]`` is looked up on ``env["PATH"]`` if it has no slash.
        env: its whole environment (nothing of the caller's is added).
        cwd: where it starts.
        timeout: seconds before it is killed (``subprocess.TimeoutExpired``), if any.
        input: text for its standard input, if any.

    Returns:
        The finished process, stdout and stderr captured as text. A failure to set the
        container up shows as a non-zero exit and a traceback in stderr.
    """
    if os.geteuid() != 0:
        raise PermissionError("the simulated container needs root (a mount namespace and bind mounts)")
    spec = {"argv": [str(a) for a in argv], "env": dict(env), "cwd": str(cwd),
            "masked_files": MASKED_FILES, "masked_dirs": MASKED_DIRS, "read_only": READ_ONLY,
            "clone_new_flags": CLONE_NEW_FLAGS, "capabilities": sorted(DOCKER_CAPABILITIES)}
    # The helper's interpreter (the test venv's, which has pyseccomp), without the caller's environment.
    helper_env = {"PATH": env.get("PATH", os.defpath)}
    return subprocess.run([sys.executable, "-c", _BOOTSTRAP, json.dumps(spec)], env=helper_env, cwd=str(cwd),
                          capture_output=True, text=True, timeout=timeout, input=input)
