"""Benchmark: the long-lived writer's CPU per student, with and without its shortcuts, side by side.

    python bench/writer.py                          # 12 students, 3 rounds: before, new
    python bench/writer.py --students 12 48         # and how the cost per student scales with the class
    python bench/writer.py --variants stock before new
    python bench/writer.py --ignore-scaling         # only find_all_files, nbgrader's is_ignored vs the exact one

One synthetic class per size (``bench/autograde.py``'s honest kinds, every submission's files
distinct) is collected into copies of one generated course, one per variant:

- ``new``: the shipped configuration;
- ``before``: the writer as it was before its latest shortcuts: nbconvert's three deep copies per
  conversion (``c.SandboxCheckedExporter.copy_once = False``), nbgrader's own ``is_ignored``
  (``exact_ignore = False``), and every gradebook opening asking for its tables and course again
  (``writer._remember_opened_gradebooks`` not installed, as it was not, in effect, before);
- ``stock``: ``before`` without the run cache either (``reuse_within_run = False``: nbgrader's
  queries per notebook and per cell).

The sandboxes run once, in ``new``; the others get a copy of its verdict cache, so every measured
run is writing alone. Each measurement is one fresh process, as a writer is: it imports nbgrader,
installs the writer's speed-ups, writes the whole class once (warm-up: SQLAlchemy's statement
cache, the schemas, the parsed config), then again, measured (``time.process_time``: this
process's CPU, user and system). Rounds alternate the variants' order; the medians are reported,
with the ratio to the first variant.
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

BEFORE = ("c.SandboxCheckedExporter.copy_once = False\n"
          "c.SandboxCheckedExporter.exact_ignore = False\n")
CONFIGS = {
    "new": "",
    "before": "\n# bench/writer.py: the writer before its latest shortcuts\n" + BEFORE,
    "stock": "\n# bench/writer.py: the writer without any shortcut\n" + BEFORE
             + "c.SandboxCheckedExporter.reuse_within_run = False\n",
}
LIMITS = "c.GradeInSandbox.timeout = 3\nc.GradeInSandbox.training_timeout = 8\n"


def measure(course: Path, variant: str) -> dict[str, float]:
    """In this process: write ``course``'s class twice with the writer's in-process nbgrader; the CPU seconds
    of each run (``first``, ``steady``)."""
    os.chdir(course)
    from assignment.instructor import writer

    import nbgrader.apps.nbgraderapp  # noqa: F401  (the writer imports nbgrader before its first batch)

    if variant in ("before", "stock"):
        writer._remember_opened_gradebooks = lambda: None  # every opening asks again, as before
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


def prepare(workdir: Path, students: int, variants: list[str]) -> dict[str, Path]:
    """One course per variant, graded once (verdict cache filled), in ``workdir``."""
    import autograde as bench  # bench/autograde.py

    plan = bench.class_plan(students, 0)
    submissions = bench.make_class(workdir / "submissions", plan)
    base = bench.prepare_base(workdir, LIMITS)
    courses = {name: bench.fresh_course(base, workdir / name, submissions) for name in dict.fromkeys(["new", *variants])}
    for name, course in courses.items():
        with open(course / "nbgrader_config.py", "a", encoding="utf-8") as handle:
            handle.write(CONFIGS[name])
    bench.run_parallel(courses["new"], 2)
    for name, course in courses.items():
        if name != "new":
            shutil.copytree(courses["new"] / ".grading_cache", course / ".grading_cache", dirs_exist_ok=True)
    return courses


SUBMISSION = ["01_forward.ipynb", "02_backward.ipynb", "03_step.ipynb", "04_training.ipynb", "README.md",
              "timestamp.txt", "mytorch/__init__.py", "mytorch/nn.py", "mytorch/optim.py"]


def ignore_scaling(workdir: Path, sizes: list[int], sample: int = 12, repeat: int = 5) -> None:
    """Print the CPU per student of autograde's two ``find_all_files`` walks (the submission, the
    source), with nbgrader's ``is_ignored`` and with ``ignore_patterns.is_ignored``, for classes of
    each size in ``sizes`` (empty files in the shape of a submission; the course's real ignore list)."""
    from nbgrader import utils
    from traitlets.config.loader import PyFileConfigLoader

    from assignment.instructor.grading import ignore_patterns

    print(f"find_all_files per student (submission + source walks), {sample} students timed, best of {repeat}")
    print(f"{'students':>10}{'nbgrader ms':>14}{'exact ms':>12}{'ratio':>9}")
    for size in sizes:
        course = workdir / f"ignore_{size}"
        if not (course / "source").exists():
            for student in range(size):
                for entry in SUBMISSION:
                    path = course / "submitted" / f"s{student:05d}" / "mlp" / entry
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.touch()
            for entry in SUBMISSION + ["data/x.csv", "mytorch/__pycache__/nn.cpython-311.pyc"]:
                path = course / "source" / "mlp" / entry
                path.parent.mkdir(parents=True, exist_ok=True)
                path.touch()
        shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
        ignore = list(PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config().CourseDirectory.ignore)
        ignore += ["*.ipynb"]  # as autograde adds it
        students = [course / "submitted" / f"s{i:05d}" / "mlp" for i in range(0, size, max(1, size // sample))][:sample]
        per_student = {}
        for name, function in (("nbgrader", ignore_patterns.NBGRADER_IS_IGNORED), ("exact", ignore_patterns.is_ignored)):
            utils.is_ignored = function
            best = float("inf")
            found = None
            for _ in range(repeat):
                started = time.process_time()
                found = [(utils.find_all_files(str(s), ignore), utils.find_all_files(str(course / "source" / "mlp"), ignore))
                         for s in students]
                best = min(best, time.process_time() - started)
            per_student[name] = (best / len(students) * 1000, found)
        ignore_patterns.install()
        assert per_student["nbgrader"][1] == per_student["exact"][1], "the walks found different files"
        old, new = per_student["nbgrader"][0], per_student["exact"][0]
        print(f"{size:>10}{old:14.3f}{new:12.3f}{old / new:8.0f}x", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, nargs="+", default=[12], help="class sizes (default 12)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", nargs="+", choices=sorted(CONFIGS), default=["before", "new"],
                        help="what to compare, the first the reference (default: before new)")
    parser.add_argument("--workdir", default=str(ROOT / ".artifacts" / "bench_writer"))
    parser.add_argument("--ignore-scaling", nargs="*", type=int, metavar="STUDENTS",
                        help="only time autograde's find_all_files walks with nbgrader's is_ignored and the exact "
                             "one, for classes of these sizes (default 12 48 300 3000), and stop")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # internal: one measurement, in a fresh process
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(Path(args.measure), args.variant)))
        return 0
    workdir = Path(args.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    if args.ignore_scaling is not None:
        ignore_scaling(workdir, args.ignore_scaling or [12, 48, 300, 3000])
        return 0

    os.environ.pop("MYTORCH_GRADEBOOK_URL", None)  # scratch courses keep their own SQLite gradebooks
    from assignment.instructor.demo import nbgrader_env

    variants = list(dict.fromkeys(args.variants))
    medians: dict[int, dict[str, dict[str, float]]] = {}
    for n in args.students:
        courses = prepare(workdir / f"class_{n}", n, variants)
        results: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
        for round_ in range(args.rounds):
            shift = round_ % len(variants)
            for name in variants[shift:] + variants[:shift]:
                run = subprocess.run([sys.executable, __file__, "--measure", str(courses[name]), "--variant", name],
                                     env=nbgrader_env(), capture_output=True, text=True, cwd=ROOT)
                if run.returncode != 0:
                    raise SystemExit(f"{name} failed:\n{run.stdout[-2000:]}{run.stderr[-3000:]}")
                results[name].append(json.loads(run.stdout.strip().splitlines()[-1]))
                print(f"{n} students, round {round_ + 1} {name}: "
                      + ", ".join(f"{k} {v:.2f} CPU s" for k, v in results[name][-1].items()), flush=True)
        medians[n] = {name: {kind: statistics.median(r[kind] for r in results[name]) / n for kind in ("steady", "first")}
                      for name in variants}
        print(f"\n{n} students x 4 notebooks, {args.rounds} rounds alternated, medians; load average "
              f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        reference = variants[0]
        print(f"{'':28}" + "".join(f"{name:>10}" for name in variants)
              + "".join(f"{name + '/' + reference:>16}" for name in variants[1:]))
        for kind in ("steady", "first"):
            row = medians[n]
            print(f"{'CPU s per student, ' + kind:28}" + "".join(f"{row[name][kind]:10.3f}" for name in variants)
                  + "".join(f"{row[name][kind] / row[reference][kind]:15.2f}x" for name in variants[1:]), flush=True)
    if len(args.students) > 1:
        small, large = min(args.students), max(args.students)
        print(f"\nscaling, steady CPU s per student at {large} students / at {small}: "
              + ", ".join(f"{name} {medians[large][name]['steady'] / medians[small][name]['steady']:.2f}x"
                          for name in variants))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
