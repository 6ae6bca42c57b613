"""Regenerate the example submissions from the reference mytorch.

    python examples/make_examples.py

Each example is a student's ``mytorch/`` folder; the demo and the tests pair it
with the current release notebooks. tests/test_examples.py fails when these
files are stale.

- ada_correct: the reference solution (markers removed): full marks.
- ben_untouched: the release stubs as handed out: zero.
- cy_buggy: three classic bugs, each in its own method (bias forgotten in
  Linear.forward, ReLU.backward gating on x >= 0, the loss summed instead of
  averaged): each costs its own question only.
- dee_forward_only: the forward questions done, the rest still stubs.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assignment.instructor.release import stubs  # noqa: E402

FILES = ("__init__.py", "nn.py", "optim.py")
BUGS = [
    ("        return x @ self.weight + self.bias\n", "        return x @ self.weight  # forgot the bias\n"),
    ("        return grad * (self.x > 0)\n", "        return grad * (self.x >= 0)\n"),
    ("        return float(-np.vdot(one_hot, log_probs) / n)\n", "        return float(-np.vdot(one_hot, log_probs))\n"),
]


def with_bugs(source: str) -> str:
    for right, wrong in BUGS:
        if source.count(right) != 1:
            raise SystemExit(f"cannot plant a bug: {right.strip()!r} is not in the reference exactly once")
        source = source.replace(right, wrong)
    return source


def examples() -> dict[str, dict[str, str]]:
    """Each example student's mytorch files, by name."""
    ref = {name: (ROOT / "mytorch" / name).read_text(encoding="utf-8") for name in FILES}
    # The reference with every solution kept and its markers gone: what a perfect student writes.
    correct = {name: stubs.derive_stub(text, f"mytorch/{name}", solve=lambda hint: True) for name, text in ref.items()}
    untouched = {name: stubs.derive_stub(text, name) for name, text in ref.items()}
    return {
        "ada_correct": correct,
        "ben_untouched": untouched,
        "cy_buggy": {**correct, "nn.py": with_bugs(correct["nn.py"])},
        "dee_forward_only": {
            **untouched,
            "nn.py": stubs.derive_stub(ref["nn.py"], "mytorch/nn.py", solve=lambda hint: "forward" in hint.split(":")[0]),
        },
    }


def main() -> None:
    for student, files in examples().items():
        folder = ROOT / "examples" / "submissions" / student / "mlp" / "mytorch"
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (folder / name).write_text(text, encoding="utf-8")
        print(f"wrote {folder.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
