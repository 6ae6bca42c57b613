"""Runs one test on the student's code, inside the sandbox. Never imported by the grader.

Started as ``python -I -S runner.py`` (no site-packages, no environment, no
current folder on the path) with the request as JSON on stdin. It puts NumPy,
the course package and the student's files on the path, limits itself, runs
the student's code through the question's ``run`` and writes the answers as
JSON to the report file. Whatever happens, it exits without raising.
"""

import json
import os
import resource
import sys


def _limit(request):
    memory = int(request["memory_bytes"])
    cpu = int(request["cpu_seconds"])
    output = int(request["output_bytes"])
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
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

    def report(payload):
        with open(report_path, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(payload))

    method = "mytorch, while being imported,"
    try:
        if request["kind"] == "training":
            from assignment.training_check import training_accuracy
            import mytorch.nn as nn
            import mytorch.optim as optim
            method = "training your MLP"
            outputs = {"accuracy": training_accuracy(nn, optim, **request["case"])}
        else:
            from assignment.questions import question
            q = question(request["key"])
            import mytorch.nn as nn
            import mytorch.optim as optim
            method = q.INFO.method
            outputs = q.run(nn, optim, request["case"])
        report({"ok": True, "outputs": transport.encode(outputs)})
    except MemoryError:
        report({"ok": False, "error": "ran out of memory (the grader allows "
                f"{int(request['memory_bytes']) // 2**20} MiB)"})
    except BaseException as error:  # SystemExit and KeyboardInterrupt included
        try:
            where = student_error(error, method)
        except BaseException:
            where = f"{type(error).__name__}"
        report({"ok": False, "error": where})
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
