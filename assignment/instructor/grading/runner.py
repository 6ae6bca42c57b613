"""Runs tests on the student's code, inside the sandbox. Never imported by the grader.

Started as ``python -I -S -B runner.py`` (no site-packages, no environment, no
current folder on the path) with the request as JSON on stdin. It limits
itself, puts NumPy, the course package and the student's files on the path,
imports its own trusted modules, and, under the Landlock backend, confines
itself (``assignment.instructor.grading.confine``) before any student code is imported.
Everything up to the ``ready`` message is trusted; nothing after it is.

The answers go back over an inherited pipe (``request["channel"]``), one line
per message, never through a file that another user could swap:

- ``ready``: the sandbox is set up; student code may run from here on;
- ``start <i>``: test i begins (the grader's per-test deadline starts now);
- ``result <json>``: the answer of the test last started.

Whatever happens, it exits without raising.
"""

import errno
import json
import math
import os
import resource
import sys

STARTUP_CPU_SECONDS = 10  # interpreter, NumPy and the trusted imports, before the first test


def _limit(request):
    memory = int(request["memory_bytes"])
    output = int(request["output_bytes"])
    total_cpu = STARTUP_CPU_SECONDS + int(request["cpu_seconds"]) * max(1, len(request["tests"]))
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    # The hard CPU limit covers the whole batch; each test lowers the soft one to its own share.
    resource.setrlimit(resource.RLIMIT_CPU, (total_cpu, total_cpu + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (output, output))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:  # binds a non-root grader (root is exempt; the seccomp filter refuses new processes anyway)
        resource.setrlimit(resource.RLIMIT_NPROC, (1, 1))
    except (ValueError, OSError):
        pass


def _cpu_used():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _test_cpu_limit(seconds):
    """Let the coming test use ``seconds`` of CPU time (SIGXCPU then ends the process)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    wanted = math.ceil(_cpu_used() + seconds)  # whole seconds: between ``seconds`` and one more
    resource.setrlimit(resource.RLIMIT_CPU, (min(wanted, hard), hard))


def main():
    request = json.loads(sys.stdin.read())
    channel = int(request["channel"])
    _limit(request)
    # The confinement is applied before the student's folder is even on the path.
    sys.path.insert(0, request["grader_path"])
    import base64
    from assignment.instructor.grading import confine
    confine.apply(request.get("confine"), base64.b64decode(request["seccomp"]))
    del sys.path[0]
    sys.path.extend(request["path"])
    # Trusted imports first, before any student code can change them.
    from assignment.instructor.grading import transport
    from assignment.shared.student_errors import student_error
    resource.setrlimit(resource.RLIMIT_NOFILE, (int(request["max_files"]), int(request["max_files"])))

    def send(line):
        data = line.encode("utf-8") + b"\n"
        while data:
            data = data[os.write(channel, data):]

    send("ready")  # proof that the sandbox started, before any student code runs
    cpu_seconds = int(request["cpu_seconds"])
    for index, test in enumerate(request["tests"]):
        method = "mytorch, while being imported,"
        _test_cpu_limit(cpu_seconds)
        send(f"start {index}")
        try:
            if test["kind"] == "import":
                __import__(test["module"])
                outputs = {}
            else:
                from assignment.shared.questions import question
                q = question(test["key"])
                import mytorch.nn as nn
                # A question that runs nn.py alone must not depend on optim.py importing.
                optim = __import__("mytorch.optim").optim if "mytorch.optim" in q.INFO.imports else None
                method = q.INFO.method
                outputs = q.run(nn, optim, test["case"])
            result = {"ok": True, "outputs": transport.encode(outputs)}
        except MemoryError:
            result = {"ok": False, "error": f"{method} ran out of memory (the grader allows "
                      f"{int(request['memory_bytes']) // 2**20} MiB)"}
        except BaseException as error:  # SystemExit and KeyboardInterrupt included
            try:
                if isinstance(error, OSError) and error.errno == errno.EFBIG:
                    # RLIMIT_FSIZE: Python ignores SIGXFSZ, so the write that goes past it fails.
                    where = (f"{method} wrote too much output (more than "
                             f"{int(request['output_bytes']) // 2**20} MiB: printing in a loop?)")
                else:
                    where = student_error(error, method)
            except BaseException:
                where = f"{method} raised {type(error).__name__}"
            result = {"ok": False, "error": where}
        try:
            text = json.dumps(result)
        except (TypeError, ValueError) as error:  # e.g. a NaN that slipped past encode
            text = json.dumps({"ok": False, "error": f"{method}'s answer cannot be reported ({error})"})
        if len(text) > int(request["max_answer_bytes"]):
            text = json.dumps({"ok": False, "error": f"{method}'s answer is too large to report "
                               f"(more than {int(request['max_answer_bytes']) // 2**20} MiB)"})
        send("result " + text)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
