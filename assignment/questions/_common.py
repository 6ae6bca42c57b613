"""What every question module shares: its description and the case helpers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

# The warnings a run reports: the first few, each cut short (a check quotes two).
MAX_WARNINGS = 5
MAX_WARNING_CHARS = 300


@dataclass(frozen=True)
class Info:
    """A question's identity.

    Fields:
        key: the key used in grade ids, test names and reports, e.g. "linear_forward".
        number: the question's number in the notebooks, e.g. "1.1".
        method: the method a student writes, e.g. "Linear.forward".
        notebook: the notebook that asks it, e.g. "01_forward".
        module: the student file that holds it, "mytorch/nn.py" or "mytorch/optim.py".
    """

    key: str
    number: str
    method: str
    notebook: str
    module: str = "mytorch/nn.py"


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
