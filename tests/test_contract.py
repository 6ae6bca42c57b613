"""What the sandbox may import and what a verdict depends on are derived from the imports."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from assignment.instructor.grading import contract
from assignment.shared.questions import GRADED_KEYS

PACKAGE = contract.PACKAGE_DIR


def names(paths) -> set[str]:
    return {str(p.relative_to(PACKAGE)) for p in paths}


def test_the_sandbox_holds_the_runner_and_what_it_imports_and_nothing_of_the_instructor_or_the_views():
    inside = names(contract.sandbox_files())
    assert {"instructor/grading/runner.py", "instructor/grading/confine.py", "instructor/grading/transport.py",
            "shared/training.py", "shared/questions/__init__.py", "shared/data/README.md"} <= inside
    assert {f"shared/questions/{key}.py" for key in GRADED_KEYS} <= inside  # imported by name by the registry
    for outside in ("instructor/grading/grader.py", "instructor/grading/verdicts.py", "instructor/grading/nbgrader_plugin.py",
                    "instructor/parallel.py", "instructor/release/leaks.py", "instructor/report.py",
                    "instructor/demo.py", "instructor/doctor.py", "shared/data/digits.npz"):
        assert outside not in inside, outside
    assert not any(name.startswith(("student/viz/", "instructor/release/", "instructor/jupyter/")) for name in inside), sorted(inside)


def test_every_module_the_runner_loads_is_in_the_copy():
    """Import the runner's roots in a fresh interpreter and compare with what it really loaded."""
    roots = contract.SANDBOX_ROOTS + tuple(f"assignment.shared.questions.{key}" for key in GRADED_KEYS)
    code = ("import sys\n"
            f"sys.path.insert(0, {str(PACKAGE.parent)!r})\n"
            "import assignment.instructor.grading.confine, assignment.instructor.grading.transport\n"
            "import assignment.shared.student_errors\n"
            f"for name in {list(roots)!r}: __import__(name)\n"
            "print('\\n'.join(m.__file__ for n, m in sorted(sys.modules.items())\n"
            "                 if n.split('.')[0] == 'assignment' and getattr(m, '__file__', None)))\n")
    result = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    loaded = {str(Path(line).resolve().relative_to(PACKAGE)) for line in result.stdout.split()}
    assert loaded <= names(contract.sandbox_files()), loaded - names(contract.sandbox_files())


def test_verdicts_depend_on_the_judging_too_and_the_digest_follows_any_of_those_files(tmp_path):
    judged = names(contract.verdict_files())
    assert names(contract.sandbox_files()) <= judged
    assert {"instructor/grading/verdicts.py", "instructor/grading/grader.py", "instructor/grading/sandbox/process.py",
            "shared/data/digits.npz"} <= judged
    assert "student/viz/linear_forward.py" not in judged and "instructor/report.py" not in judged

    copy = tmp_path / "assignment"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = contract.verdict_digest(copy)
    assert before == contract.verdict_digest(PACKAGE)  # names and contents, not the folder's location
    (copy / "instructor" / "report.py").write_text("# a change no verdict depends on\n", encoding="utf-8")
    assert contract.verdict_digest(copy) == before
    check = copy / "shared" / "questions" / "relu_forward.py"
    check.write_text(check.read_text(encoding="utf-8") + "\n# judged differently\n", encoding="utf-8")
    assert contract.verdict_digest(copy) != before


def test_an_import_inside_a_function_counts(tmp_path):
    package = tmp_path / "assignment"
    (package / "part").mkdir(parents=True)
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "part" / "__init__.py").write_text("", encoding="utf-8")
    (package / "part" / "runner.py").write_text(
        "def main():\n    from assignment.helper import tool\n    return tool\n", encoding="utf-8")
    (package / "helper.py").write_text("import json\n\ndef tool():\n    return 1\n", encoding="utf-8")
    (package / "unrelated.py").write_text("", encoding="utf-8")
    found = {str(p.relative_to(package)) for p in contract.package_files(("assignment.part.runner",), package)}
    assert found == {"__init__.py", "part/__init__.py", "part/runner.py", "helper.py"}


def _module_names(part: str) -> list[str]:
    names = []
    for path in sorted((PACKAGE / part).rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _imports_across(part: str) -> dict[str, set[str]]:
    """Other part -> the imports of it made by modules of ``part`` (every import, functions included)."""
    across: dict[str, set[str]] = {}
    for module in _module_names(part):
        for name in contract._imported_names(contract._file_of(module, PACKAGE)):
            pieces = name.split(".")
            if pieces[0] == "assignment" and len(pieces) > 1 and pieces[1] != part \
                    and contract._file_of(name, PACKAGE) is not None:
                across.setdefault(pieces[1], set()).add(f"{module} imports {name}")
    return across


def test_the_three_parts_import_only_downwards():
    """shared imports neither student nor instructor; instructor never imports student: the
    grader and its sandbox run nothing of the notebooks' side, and the shared contract is all
    that both sides hold in common."""
    assert _imports_across("shared") == {}
    assert set(_imports_across("student")) <= {"shared"}
    assert set(_imports_across("instructor")) <= {"shared"}, _imports_across("instructor").get("student")
    top_level = sorted(p.name for p in PACKAGE.iterdir() if p.name != "__pycache__")
    assert top_level == ["__init__.py", "__main__.py", "instructor", "shared", "student"], top_level
