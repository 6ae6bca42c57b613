"""Benchmark: the long-lived writer's CPU per student, without and with the run cache, side by side.

    python bench/writer.py                  # 12 students, 3 rounds
    python bench/writer.py --students 8 --rounds 5

One synthetic class (``bench/autograde.py``'s honest kinds, every submission's files distinct)
is collected into two copies of one generated course: ``old`` with
``c.SandboxCheckedExporter.reuse_within_run = False`` (the writer as it was: nbgrader's queries
per notebook and per cell) and ``new`` (the shipped configuration, ``run_cache.py``). The
sandboxes run once, in ``new``; ``old`` gets a copy of its verdict cache, so every measured run
is writing alone. Each measurement is one fresh process, as a writer is: it imports nbgrader,
installs the writer's speed-ups, writes the whole class once (warm-up: SQLAlchemy's statement
cache, the schemas, the parsed config), then again, measured (``time.process_time``: this
process's CPU, user and system). Rounds alternate which variant goes first; the medians are
reported, with the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

OLD_PATH = "\n# bench/writer.py: the writer without the run cache\nc.SandboxCheckedExporter.reuse_within_run = False\n"
LIMITS = "c.GradeInSandbox.timeout = 3\nc.GradeInSandbox.training_timeout = 8\n"


def measure(course: Path) -> dict[str, float]:
    """In this process: write ``course``'s class twice with the writer's in-process nbgrader; the CPU seconds
    of each run (``first``, ``steady``)."""
    os.chdir(course)
    from assignment.instructor import writer

    import nbgrader.apps.nbgraderapp  # noqa: F401  (the writer imports nbgrader before its first batch)

    writer.install_speedups()
    cache = next((course / ".grading_cache" / "mlp").iterdir())
    args = ["autograde", "mlp", "--force", f"--GradeInSandbox.cache_dir={cache}"]
    (course / "logs").mkdir(exist_ok=True)
    times = []
    for _ in range(2):
        restore = writer._redirected(str(course / "logs" / "bench-writer.log"))
        started = time.process_time()
        try:
            code = writer.run_nbgrader(list(args))
        finally:
            restore()
        times.append(time.process_time() - started)
        if code != 0:
            raise SystemExit(f"nbgrader autograde failed in {course}; see {course / 'logs' / 'bench-writer.log'}")
    return {"first": times[0], "steady": times[1]}


def prepare(workdir: Path, students: int) -> dict[str, Path]:
    """The two courses, graded once (verdict cache filled), in ``workdir``."""
    import autograde as bench  # bench/autograde.py

    plan = bench.class_plan(students, 0)
    submissions = bench.make_class(workdir / "submissions", plan)
    base = bench.prepare_base(workdir, LIMITS)
    courses = {name: bench.fresh_course(base, workdir / name, submissions) for name in ("new", "old")}
    with open(courses["old"] / "nbgrader_config.py", "a", encoding="utf-8") as handle:
        handle.write(OLD_PATH)
    bench.run_parallel(courses["new"], 2)
    shutil.copytree(courses["new"] / ".grading_cache", courses["old"] / ".grading_cache", dirs_exist_ok=True)
    return courses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workdir", default=str(ROOT / ".artifacts" / "bench_writer"))
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # internal: one measurement, in a fresh process
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(Path(args.measure))))
        return 0

    os.environ.pop("MYTORCH_GRADEBOOK_URL", None)  # scratch courses keep their own SQLite gradebooks
    from assignment.instructor.demo import nbgrader_env

    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    courses = prepare(workdir, args.students)
    results: dict[str, list[dict[str, float]]] = {"old": [], "new": []}
    for round_ in range(args.rounds):
        order = ("old", "new") if round_ % 2 == 0 else ("new", "old")
        for name in order:
            run = subprocess.run([sys.executable, __file__, "--measure", str(courses[name])], env=nbgrader_env(),
                                 capture_output=True, text=True, cwd=ROOT)
            if run.returncode != 0:
                raise SystemExit(f"{name} failed:\n{run.stdout[-2000:]}{run.stderr[-3000:]}")
            results[name].append(json.loads(run.stdout.strip().splitlines()[-1]))
            print(f"round {round_ + 1} {name}: " + ", ".join(f"{k} {v:.2f} CPU s" for k, v in results[name][-1].items()),
                  flush=True)
    n = args.students
    print(f"\n{n} students x 4 notebooks, {args.rounds} rounds alternated, medians; load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{'':28}{'old':>10}{'new':>10}{'new/old':>10}")
    for kind in ("steady", "first"):
        old = statistics.median(r[kind] for r in results["old"]) / n
        new = statistics.median(r[kind] for r in results["new"]) / n
        print(f"{'CPU s per student, ' + kind:28}{old:10.3f}{new:10.3f}{new / old:9.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
