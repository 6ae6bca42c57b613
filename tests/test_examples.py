"""The example submissions are exactly what ``examples/make_examples.py`` writes today.

The demo and the pipeline tests grade ``examples/submissions/*``; they are
generated from the reference ``mytorch`` (solved, stubbed, with planted bugs),
so they go stale whenever the reference changes. Each example is also graded
here directly with the question modules (fast), to the scores it stands for.
"""

from __future__ import annotations

import importlib.util

import pytest

from assignment.shared.questions import KEYS
from course_tools import ASSIGNMENT, EXAMPLES, RELEASE, ROOT, evaluate, import_student_package, test_cases

STALE = "the example submissions are stale: run python examples/make_examples.py"


def _generated() -> dict[str, dict[str, str]]:
    spec = importlib.util.spec_from_file_location("make_examples", ROOT / "examples" / "make_examples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        return module.examples()
    except SystemExit as error:  # a planted bug no longer matches the reference
        pytest.fail(f"examples/make_examples.py cannot build the examples: {error}")


@pytest.fixture(scope="module")
def generated():
    return _generated()


def test_the_examples_are_what_make_examples_produces(generated):
    students = sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir())
    assert students == sorted(generated), f"{STALE} (students {students}, expected {sorted(generated)})"
    for student, files in generated.items():
        folder = EXAMPLES / student / ASSIGNMENT / "mytorch"
        on_disk = sorted(str(p.relative_to(EXAMPLES / student)) for p in (EXAMPLES / student).rglob("*")
                         if p.is_file() and "__pycache__" not in p.parts)
        assert on_disk == sorted(f"{ASSIGNMENT}/mytorch/{name}" for name in files), f"{STALE} ({student})"
        for name, text in files.items():
            assert (folder / name).read_text(encoding="utf-8") == text, f"{STALE} ({student}/{ASSIGNMENT}/mytorch/{name})"


def test_the_untouched_student_holds_the_release_stubs(generated):
    for name, text in generated["ben_untouched"].items():
        assert (RELEASE / "mytorch" / name).read_text(encoding="utf-8") == text


# Which questions each example fails, all three tests of each (see make_examples.py).
FAILS = {
    "ada_correct": set(),
    "ben_untouched": set(KEYS),
    "cy_buggy": {"linear_forward", "relu_backward", "xeloss_forward"},
    "dee_forward_only": set(KEYS) - {"linear_forward", "relu_forward", "sequential_forward", "xeloss_forward"},
}


@pytest.mark.parametrize("student", sorted(FAILS))
def test_each_example_fails_exactly_its_questions(student, tmp_path):
    nn, optim = import_student_package(EXAMPLES / student / ASSIGNMENT / "mytorch", tmp_path)
    failed = {tc.grade_id for tc in test_cases() if evaluate(nn, optim, tc)}
    assert failed == {f"{key}_{n}" for key in FAILS[student] for n in (1, 2, 3)}
