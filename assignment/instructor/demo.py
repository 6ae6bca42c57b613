"""``make demo``: the instructor's whole flow on the example submissions.

In a scratch copy of the course (so the real gradebook is never touched):
release with ``nbgrader generate_assignment``, collect the example students'
work into ``submitted/``, ``nbgrader autograde``, ``nbgrader generate_feedback``,
then print each student's score per question from the gradebook.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from assignment import PACKAGE_DIR
from assignment.instructor.gradebook_table import grade_table, format_table
from assignment.instructor.nbgrader_command import nbgrader_env  # noqa: F401  (also used from here)

COURSE_ROOT = PACKAGE_DIR.parent
ASSIGNMENT = "mlp"
COURSE_FILES = ("nbgrader_config.py", "source", "mytorch")


def run_nbgrader(course: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` in ``course``; output goes to ``course/logs``."""
    log_dir = course / "logs"
    log_dir.mkdir(exist_ok=True)
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=nbgrader_env(),
                            capture_output=True, text=True)
    (log_dir / f"{args[0]}.log").write_text(result.stdout + result.stderr, encoding="utf-8")
    print(f"  nbgrader {' '.join(args)}: exit {result.returncode} in {time.perf_counter() - started:.1f} s"
          f" (log: {(log_dir / f'{args[0]}.log').relative_to(course.parent)})")
    if check and result.returncode != 0:
        raise SystemExit(f"nbgrader {args[0]} failed; see {log_dir / f'{args[0]}.log'}:\n{result.stderr[-3000:]}")
    return result


def make_course(course: Path) -> None:
    """A fresh scratch course: the config, the sources and the reference."""
    if course.exists():
        shutil.rmtree(course)
    course.mkdir(parents=True)
    for name in COURSE_FILES:
        source = COURSE_ROOT / name
        if source.is_dir():
            shutil.copytree(source, course / name, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
        else:
            shutil.copy2(source, course / name)


def collect(course: Path, examples: Path, students: list[str] | None = None) -> list[str]:
    """Put each example student's work where ``nbgrader collect`` would: the
    released notebooks, overlaid with the student's own files."""
    release = course / "release" / ASSIGNMENT
    collected = []
    for example in sorted(p for p in examples.iterdir() if p.is_dir()):
        if students and example.name not in students:
            continue
        target = course / "submitted" / example.name / ASSIGNMENT
        shutil.copytree(release, target)
        shutil.copytree(example / ASSIGNMENT, target, dirs_exist_ok=True)
        (target / "timestamp.txt").write_text("2026-11-29 09:00:00.000000 UTC\n", encoding="utf-8")
        collected.append(example.name)
    return collected


def run_demo(workdir: Path, examples: Path) -> str:
    course = workdir / "course"
    print(f"scratch course: {course}")
    make_course(course)
    print("1. release")
    run_nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    print("2. collect")
    students = collect(course, examples)
    print(f"  collected {len(students)} submissions: {', '.join(students)}")
    print("3. autograde")
    run_nbgrader(course, "autograde", ASSIGNMENT, "--force")
    print("4. feedback")
    run_nbgrader(course, "generate_feedback", ASSIGNMENT, "--force")
    table = format_table(grade_table(course, ASSIGNMENT))
    print("\nScores per question (from the gradebook):\n")
    print(table)
    print(f"\nfeedback: {course / 'feedback'}")
    return table


def main(workdir: Path | None = None) -> int:
    workdir = workdir or COURSE_ROOT / ".artifacts" / "demo"
    if os.environ.pop("MYTORCH_GRADEBOOK_URL", None):  # the demo must never write to a real gradebook
        print("MYTORCH_GRADEBOOK_URL ignored: the demo's scratch course keeps its own SQLite gradebook")
    run_demo(workdir, COURSE_ROOT / "examples" / "submissions")
    return 0
