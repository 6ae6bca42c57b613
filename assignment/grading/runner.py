"""Runs one test on the student's code, inside the sandbox. Never imported by the grader.

Started as ``python -I -S runner.py`` (no site-packages, no environment, no
current folder on the path) with the request as JSON on stdin. It puts NumPy,
the course package and the student's files on the path, limits itself, runs
the student's code through the question's ``run`` and writes the answers as
JSON to the report file, one result per test of the request, in order.
Whatever happens, it exits without raising.
"""

import errno
import json
import os
import resource
import sys


def _limit(request):
    memory = int(request["memory_bytes"])
    cpu = int(request["cpu_seconds"])
    output = int(request["output_bytes"])
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))  # SIGXCPU first (a clear message), then SIGKILL
    resource.setrlimit(resource.RLIMIT_FSIZE, (output, output))
    resource.setrlimit(resource.RLIMIT_NPROC, (64, 64))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def main():
    request = json.loads(sys.stdin.read())
    report_path = request["report"]
    sys.path.extend(request["path"])
    _limit(request)
    # Trusted imports first, before any student code can change them.
    from assignment.grading import transport
    from assignment.checks import student_error

    results = []

    def report():
        # Rewritten after every test: if a later test hangs, the earlier answers survive.
        with open(report_path, "w", encoding="utf-8") as handle:
            handle.write(json.dumps({"results": results}))

    report()  # proof that the sandbox started, before any student code runs
    for test in request["tests"]:
        method = "mytorch, while being imported,"
        try:
            if test["kind"] == "import":
                __import__(test["module"])
                outputs = {}
            elif test["kind"] == "training":
                from assignment.training_check import sandbox_outputs
                import mytorch.nn as nn
                import mytorch.optim as optim
                method = "training your MLP"
                outputs = sandbox_outputs(nn, optim, test["case"])
            else:
                from assignment.questions import question
                q = question(test["key"])
                import mytorch.nn as nn
                # A question of nn.py must not depend on optim.py importing.
                optim = __import__("mytorch.optim").optim if q.INFO.module.endswith("optim.py") else None
                method = q.INFO.method
                outputs = q.run(nn, optim, test["case"])
            results.append({"ok": True, "outputs": transport.encode(outputs)})
        except MemoryError:
            results.append({"ok": False, "error": f"{method} ran out of memory (the grader allows "
                            f"{int(request['memory_bytes']) // 2**20} MiB)"})
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
            results.append({"ok": False, "error": where})
        report()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
