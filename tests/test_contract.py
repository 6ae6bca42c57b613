"""What the sandbox may import and what a verdict depends on are derived from the imports."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from assignment.grading import contract
from assignment.questions import GRADED_KEYS

PACKAGE = contract.PACKAGE_DIR


def names(paths) -> set[str]:
    return {str(p.relative_to(PACKAGE)) for p in paths}


def test_the_sandbox_holds_the_runner_and_what_it_imports_and_nothing_of_the_instructor_or_the_views():
    inside = names(contract.sandbox_files())
    assert {"grading/runner.py", "grading/confine.py", "grading/transport.py", "training.py",
            "questions/__init__.py", "data/README.md"} <= inside
    assert {f"questions/{key}.py" for key in GRADED_KEYS} <= inside  # imported by name by the registry
    for outside in ("grading/grader.py", "grading/verdicts.py", "grading/nbgrader_plugin.py", "parallel.py",
                    "release/leaks.py", "report.py", "demo.py", "doctor.py", "data/digits.npz"):
        assert outside not in inside, outside
    assert not any(name.startswith(("viz/", "release/", "jupyter/")) for name in inside), sorted(inside)


def test_every_module_the_runner_loads_is_in_the_copy():
    """Import the runner's roots in a fresh interpreter and compare with what it really loaded."""
    roots = contract.SANDBOX_ROOTS + tuple(f"assignment.questions.{key}" for key in GRADED_KEYS)
    code = ("import sys\n"
            f"sys.path.insert(0, {str(PACKAGE.parent)!r})\n"
            "import assignment.grading.confine, assignment.grading.transport, assignment.checks\n"
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
    assert {"grading/verdicts.py", "grading/grader.py", "grading/sandbox/process.py", "data/digits.npz"} <= judged
    assert "viz/linear_forward.py" not in judged and "report.py" not in judged

    copy = tmp_path / "assignment"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = contract.verdict_digest(copy)
    assert before == contract.verdict_digest(PACKAGE)  # names and contents, not the folder's location
    (copy / "report.py").write_text("# a change no verdict depends on\n", encoding="utf-8")
    assert contract.verdict_digest(copy) == before
    check = copy / "questions" / "relu_forward.py"
    check.write_text(check.read_text(encoding="utf-8") + "\n# judged differently\n", encoding="utf-8")
    assert contract.verdict_digest(copy) != before


def test_an_import_inside_a_function_counts(tmp_path):
    package = tmp_path / "assignment"
    (package / "grading").mkdir(parents=True)
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "grading" / "__init__.py").write_text("", encoding="utf-8")
    (package / "grading" / "runner.py").write_text(
        "def main():\n    from assignment.helper import tool\n    return tool\n", encoding="utf-8")
    (package / "helper.py").write_text("import json\n\ndef tool():\n    return 1\n", encoding="utf-8")
    (package / "unrelated.py").write_text("", encoding="utf-8")
    found = {str(p.relative_to(package)) for p in contract.package_files(contract.SANDBOX_ROOTS, package)}
    assert found == {"__init__.py", "grading/__init__.py", "grading/runner.py", "helper.py"}
