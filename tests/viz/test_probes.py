"""The visualizers' probes, without widgets: each question's probe blames its own question only.

Every bug of the project's catalogue (``test_source_cases.BUGS``: the reference with one
method's solution replaced by a classic mistake) is planted alone, and pairs of a forward bug
and a backward bug that cancel out in finite differences of the student's own forward are
planted together; then all nine probes (``assignment.student.viz.<key>.probe``) run on the variant.
Exactly the questions whose code is wrong must fail: a forward bug never costs a backward view
(nor a Sequential view, judged with stand-ins), and cancelling bugs never pass.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the catalogue's harness lives in tests/

from assignment.shared.questions import KEYS  # noqa: E402
from test_source_cases import BUGS, bug, load_variant  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BY_ID = {b.id: b for b in BUGS}

# Backward mistakes that agree with a forward mistake: finite differences of that wrong forward
# would call them right. (The catalogue's own bugs where it has them; the others written here.)
EXTRA = {b.id: b for b in [
    bug("linear_backward-grad-bias-zero", "linear_backward", "Linear.backward",
        """
        self.grad_weight = self.x.T @ grad
        self.grad_bias = np.zeros_like(self.bias)
        return grad @ self.weight.T
        """),
    bug("linear_backward-grad-bias-doubled", "linear_backward", "Linear.backward",
        """
        self.grad_weight = self.x.T @ grad
        self.grad_bias = 2 * grad.sum(axis=0, keepdims=True)
        return grad @ self.weight.T
        """),
    bug("relu_backward-sign", "relu_backward", "ReLU.backward", "return grad * np.sign(self.x)"),
    bug("relu_backward-negative-gate", "relu_backward", "ReLU.backward", "return grad * (self.x < 0)"),
]}

CANCELLING = [
    ("xeloss_forward-sum-not-mean", "xeloss_backward-missing-1/N"),  # N L and N dL/dI
    ("xeloss_forward-missing-minus", "xeloss_backward-wrong-sign"),  # -L and -dL/dI
    ("linear_forward-missing-bias", "linear_backward-grad-bias-zero"),  # no b, so no dL/db
    ("linear_forward-bias-twice", "linear_backward-grad-bias-doubled"),  # 2 b, so 2 dL/db
    ("relu_forward-abs", "relu_backward-sign"),  # |x| has slope sign(x)
    ("relu_forward-minimum", "relu_backward-negative-gate"),  # min(x, 0) has slope 1[x < 0]
    ("sequential_forward-reversed", "sequential_backward-wrong-order"),  # both walk the other way
]


def _bug(bug_id: str):
    return BY_ID.get(bug_id) or EXTRA[bug_id]


@pytest.fixture(scope="module")
def variants(tmp_path_factory):
    folder = tmp_path_factory.mktemp("probe_variants")
    sys.path.insert(0, str(folder))
    yield folder
    sys.path.remove(str(folder))


def probe_of(key: str):
    """Question ``key``'s probe function."""
    return importlib.import_module(f"assignment.student.viz.{key}").probe


def blamed(nn, optim) -> dict[str, list[str]]:
    """The questions whose probe does not pass on these modules, with the check's problems."""
    found = {key: probe_of(key)(nn, optim) for key in KEYS}
    return {key: probe.problems for key, probe in found.items() if not probe.passed}


def test_every_probe_passes_the_reference():
    from mytorch import nn, optim

    assert blamed(nn, optim) == {}


@pytest.mark.parametrize("b", BUGS, ids=lambda b: b.id)
def test_a_catalogue_bug_is_blamed_on_its_own_question_only(b, variants):
    nn, optim = load_variant(variants, [b])
    found = blamed(nn, optim)
    assert set(found) == {b.key}, f"{b.id}: the probes blame {found}"


@pytest.mark.parametrize("pair", CANCELLING, ids=lambda pair: " + ".join(pair))
def test_bugs_that_cancel_are_each_blamed_on_their_own_question(pair, variants):
    forward, backward = (_bug(bug_id) for bug_id in pair)
    nn, optim = load_variant(variants, [forward, backward])
    found = blamed(nn, optim)
    assert set(found) == {forward.key, backward.key}, f"{pair}: the probes blame {found}"


@pytest.mark.parametrize("bug_id", sorted(EXTRA))
def test_the_extra_backward_bugs_are_blamed_alone_too(bug_id, variants):
    b = EXTRA[bug_id]
    nn, optim = load_variant(variants, [b])
    assert set(blamed(nn, optim)) == {b.key}


def test_a_backward_probe_names_the_forward_it_does_not_trust(variants):
    """With both bugs of a cancelling pair, the backward probe shows the definition's differences."""
    nn, optim = load_variant(variants, [_bug("linear_forward-missing-bias"), _bug("linear_backward-grad-bias-zero")])
    found = probe_of("linear_backward")(nn)
    assert found.fd_source == "the definition"
    assert found.source_note[0] == "warn" and "Linear.forward (question 1.1) is off" in found.source_note[1]
    assert not found.comparisons["bias"].ok and found.comparisons["weight"].ok and found.comparisons["input"].ok


def test_probes_run_without_widgets_or_matplotlib():
    """Importing ``assignment.student.viz`` and calling every probe imports neither ipywidgets nor matplotlib."""
    script = textwrap.dedent("""
        import sys
        from assignment.student import viz
        from assignment.shared.questions import KEYS
        from mytorch import nn, optim
        import importlib
        for key in KEYS:
            found = importlib.import_module(f"assignment.student.viz.{key}").probe(nn, optim)
            assert found.passed, (key, found.status_text)
        importlib.import_module("assignment.student.viz.training_dashboard").settings(nn, optim)
        heavy = sorted(name for name in sys.modules if name.split(".")[0] in ("ipywidgets", "matplotlib", "anywidget"))
        print(heavy)
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", result.stdout


def test_a_probe_is_plain_data(variants):
    """A probe holds arrays, numbers, strings and verdicts: it can be deep-copied and compared."""
    import copy

    from mytorch import nn

    found = probe_of("linear_forward")(nn, batch_size=2, in_features=3, out_features=2, seed=4)
    twin = copy.deepcopy(found)
    assert twin.case == found.case and twin.status_text == found.status_text
    assert found.x.shape == (2, 3) and found.output.shape == (2, 2) and not found.differs.any()
    assert found.judgement.key == "linear_forward" and found.judgement.passed
