"""What every question module shares: its description and the case helpers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

# The warnings a run reports: the first few, each cut short (a check quotes two).
MAX_WARNINGS = 5
MAX_WARNING_CHARS = 300


#: The time allowances a question's tests may get. "test": a few calls on tiny arrays
#: (milliseconds); "training": a network trained for epochs (up to a second or so). Whatever
#: runs tests (a notebook's test cell, the progress cell, the grader) has one limit per allowance.
ALLOWANCES = ("test", "training")


@dataclass(frozen=True)
class Info:
    """A graded question's identity, and what makes it differ from the others (data, not code).

    Fields:
        key: the key used in grade ids, test names and reports, e.g. "linear_forward".
        number: the question's number in the notebooks, e.g. "1.1" ("4" for the training check).
        method: the method a student writes, e.g. "Linear.forward"; for the training check, what
            is checked ("training check"). Errors of its tests name it.
        notebook: the notebook that asks it, e.g. "01_forward".
        module: the student file that holds it, "mytorch/nn.py" or "mytorch/optim.py".
        uses: other student files its tests run, whose problems zero it as well (the training
            check runs optim.py beside nn.py).
        allowance: its tests' time allowance, one of ``ALLOWANCES``.
        tests: how many graded tests it has; a question of one test has its key as grade id.
        heading: its verdicts' title when it is not "Test n of question ..." (the training check).
        column: its column in the grade table when that is not its number ("train").
        after: the questions that must pass first before the progress cell runs it (it would tell
            little before, and cost the most).
    """

    key: str
    number: str
    method: str
    notebook: str
    module: str = "mytorch/nn.py"
    uses: tuple[str, ...] = ()
    allowance: str = "test"
    tests: int = 3
    heading: str = ""
    column: str = ""
    after: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.allowance not in ALLOWANCES:
            raise ValueError(f"{self.key}: unknown allowance {self.allowance!r}; one of {', '.join(ALLOWANCES)}")

    @property
    def files(self) -> tuple[str, ...]:
        """The student files its tests run: a problem in any of them zeroes it."""
        return (self.module, *self.uses)

    @property
    def imports(self) -> tuple[str, ...]:
        """The student modules its tests import: ``mytorch.nn`` always (every test builds its layers
        with nn's constructors), then those of its other files, e.g. ("mytorch.nn", "mytorch.optim")."""
        names = ["mytorch.nn"] + [file.removesuffix(".py").replace("/", ".") for file in self.files]
        return tuple(dict.fromkeys(names))

    @property
    def short(self) -> str:
        """Its column heading in the grade table: "1.1", ..., "train"."""
        return self.column or self.number

    def grade_id(self, number: int) -> str:
        """The grade id of its test ``number`` ("linear_forward_2"; the key itself for a single test)."""
        return self.key if self.tests == 1 else f"{self.key}_{number}"

    def title(self, number: int, *, hidden: bool = False) -> str:
        """What test ``number`` is called in verdicts and test cells, e.g.
        "Test 2 of question 1.1 (Linear.forward, hidden)" (``hidden`` adds the mark to tests after 1)."""
        if self.heading:
            return self.heading
        mark = ", hidden" if hidden and number != 1 else ""
        return f"Test {number} of question {self.number} ({self.method}{mark})"


def linear_layer(nn: Any, weight: np.ndarray, bias: np.ndarray) -> Any:
    """The student's ``nn.Linear(in, out)`` holding ``weight`` and ``bias`` (these very arrays).

    The course's one way of building a Linear with given parameters: the questions' ``run``
    and the visualizers use it, so a constructor that ignores its arguments or keeps other
    attributes behaves the same everywhere. Only the given constructor runs.
    """
    layer = nn.Linear(weight.shape[0], weight.shape[1])
    layer.weight, layer.bias = weight, bias
    return layer


def array(case: dict, name: str) -> np.ndarray:
    """A case's field as a fresh array in the case's dtype (float64 unless it says)."""
    return np.array(case[name], dtype=case.get("dtype", "float64"))


def labels(case: dict, name: str = "labels") -> np.ndarray:
    """A case's integer labels, in the integer dtype it names (int64 unless it says)."""
    return np.array(case[name], dtype=case.get("labels_dtype", "int64"))


def dtype_problem(value: Any, case: dict, what: str) -> list[str]:
    """Complain if a float32 case got an answer of another float dtype."""
    wanted = np.dtype(case.get("dtype", "float64"))
    got = getattr(value, "dtype", None)
    if wanted == np.float32 and got is not None and got != wanted:
        return [f"{what} has dtype {got}, but the inputs were float32: keep the input's dtype "
                f"(avoid creating float64 arrays, e.g. with np.array(..., dtype=float))"]
    return []


def unchanged(before: np.ndarray, after: Any) -> bool:
    """True if ``after`` still holds exactly ``before``'s values."""
    return isinstance(after, np.ndarray) and after.shape == before.shape and bool(np.array_equal(after, before))


def warnings_of(caught: list) -> list[str]:
    """The first MAX_WARNINGS caught warnings as short "Category: message" strings."""
    return [f"{w.category.__name__}: {w.message}"[:MAX_WARNING_CHARS] for w in caught[:MAX_WARNINGS]]
