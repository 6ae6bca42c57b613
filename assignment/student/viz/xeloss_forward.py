"""Question 1.4 (xeloss_forward): logits -> softmax probabilities -> the target's -log p ->
their mean, next to the student's CrossEntropyLoss.forward.

``probe`` runs question 1.4's own check on the view's seeded logits and on a large-logit
probe (±800, on which a log of softmax's output gives inf or NaN); ``student_loss`` and
``sweep`` are what the view's slider asks of the student's loss afterwards;
``xeloss_forward`` shows it all (``views/xeloss_forward.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from assignment.shared.questions import _definitions
from assignment.shared.questions._compare import matches
from assignment.student.viz import _safe
from assignment.student.viz._data import labels as seeded_labels
from assignment.student.viz._data import tenths
from assignment.student.viz._judge import Verdict, judge, listed
from assignment.student.viz._probe import Probe
from assignment.student.viz._show import entry

__all__ = ["XelossForwardProbe", "probe", "xeloss_forward", "student_loss", "sweep", "target_log_probs",
           "large_logits", "format_loss", "LARGE", "SWEEP"]

#: the values one logit takes on the view's curve
SWEEP = np.linspace(-4.0, 4.0, 33)

#: How large the probe's logits are: beyond 709, exp overflows float64; a probability of exp(-2 LARGE) is 0.
LARGE = 800.0


def target_log_probs(logits: np.ndarray, labels: np.ndarray) -> _safe.Outcome:
    """P = softmax(logits) and -log P[n, label_n] per row, by the course's trusted definitions (float64)."""
    return _safe.Outcome(True, (_definitions.softmax(logits), _definitions.target_losses(logits, labels)))


def large_logits(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Logits a trained network can give: each row's target at -LARGE, another class at +LARGE.

    softmax then gives the target a probability of exp(-2 LARGE), which is 0 in floating point,
    and exp(LARGE) overflows: only a loss computed as a log-softmax (the logits shifted by their
    row maximum) stays finite here.
    """
    n = len(labels)
    logits = np.zeros((n, num_classes))
    rows = np.arange(n)
    logits[rows, labels] = -LARGE
    logits[rows, (labels + 1) % num_classes] = LARGE
    return logits


def format_loss(value: Any) -> str:
    """A student's loss as printed beside the definition (inf and nan as such)."""
    try:
        number = float(np.asarray(value, dtype=np.float64).reshape(()))
    except Exception:  # noqa: BLE001 - not one number: the check says what it is
        return f"a {type(value).__name__}"
    return f"{number:.4f}" if np.isfinite(number) else str(number)


@dataclass(kw_only=True)
class XelossForwardProbe(Probe):
    """What question 1.4's check found on the view's logits and on the large-logit probe.

    Fields:
        initial_logits, labels: the seeded logits (float32) and targets (int64).
        judgement: question 1.4's verdict on them; ``probe_judgement`` on ``probe_logits``.
        probe_case: the large-logit case; ``probe_loss`` what the student's forward returned on it.
        loss_function: the student's CrossEntropyLoss (None when it cannot be built): the
            slider asks it again (``student_loss``).
        initial_loss: the student's loss on the seeded logits (an Outcome).
    """

    initial_logits: np.ndarray
    labels: np.ndarray
    judgement: Verdict
    probe_logits: np.ndarray
    probe_case: dict
    probe_judgement: Verdict
    probe_loss: Any = None
    loss_function: Any = None
    initial_loss: _safe.Outcome | None = None


def student_loss(found: XelossForwardProbe, logits: np.ndarray) -> _safe.Outcome:
    """The student's loss on ``logits`` (and the probe's labels), checked to be one number."""
    if found.loss_function is None:
        return _safe.Outcome(False, None, _safe.MISSING, "no CrossEntropyLoss")
    result = _safe.call("CrossEntropyLoss.forward", _safe.method(found.loss_function, "forward"),
                        logits.copy(), found.labels.copy())
    if not result.ok:
        return result
    return _safe.check_number(result.value, "CrossEntropyLoss.forward", what="one number: the mean over the batch")


def sweep(found: XelossForwardProbe, logits: np.ndarray, row: int, cls: int) -> tuple[np.ndarray, np.ndarray]:
    """(the student's loss, the definition's) as ``logits[row, cls]`` runs over ``SWEEP`` (NaN where unusable)."""
    yours, defined = [], []
    trial = logits.copy()
    student_runs = True
    for value in SWEEP:
        trial[row, cls] = value
        if student_runs:
            outcome = student_loss(found, trial)
            # No point asking again when the method is missing, unfinished or too slow.
            student_runs = outcome.ok or outcome.kind not in (_safe.NOT_IMPLEMENTED, _safe.MISSING, _safe.TIMEOUT)
            yours.append(outcome.value if outcome.ok else np.nan)
        else:
            yours.append(np.nan)
        defined.append(float(np.mean(target_log_probs(trial, found.labels).value[1])))
    return np.array(yours, dtype=float), np.array(defined, dtype=float)


def sweep_ends(logits: np.ndarray, labels: np.ndarray) -> list[float]:
    """The definition's loss at both ends of every logit's sweep (to fix the curve's y range once)."""
    ends = []
    for r, c in np.ndindex(logits.shape):
        for value in (SWEEP[0], SWEEP[-1]):
            trial = logits.copy()
            trial[r, c] = value
            ends.append(float(np.mean(target_log_probs(trial, labels).value[1])))
    return ends


def probe(nn, optim=None, *, batch_size: int = 3, num_classes: int = 4, seed: int = 0) -> XelossForwardProbe:
    """Question 1.4's check on seeded logits and on the large-logit probe.

    Args:
        nn: the student's ``mytorch.nn`` module; ``optim`` is not used.
        batch_size, num_classes: shape of the logits.
        seed: seed of the logits and labels.

    Returns:
        An ``XelossForwardProbe``.
    """
    n, c = int(batch_size), int(num_classes)
    rng = np.random.default_rng(seed)
    logits = tenths(rng, (n, c), low=-2, high=2)
    labels = seeded_labels(rng, n, c)
    probe_logits = large_logits(labels, c)
    case = {"logits": listed(logits), "labels": labels.tolist(), "dtype": "float32",
            "expected": _definitions.cross_entropy(logits, labels)}
    probe_case = {"logits": listed(probe_logits), "labels": labels.tolist(),
                  "expected": _definitions.cross_entropy(probe_logits, labels)}
    made = _safe.construct(nn, "CrossEntropyLoss", label="CrossEntropyLoss()")
    found = XelossForwardProbe(initial_logits=logits, labels=labels, case=case,
                               judgement=judge("xeloss_forward", nn, None, case), probe_logits=probe_logits,
                               probe_case=probe_case, probe_judgement=judge("xeloss_forward", nn, None, probe_case),
                               loss_function=made.value if made.ok else None)
    found.probe_loss = (found.probe_judgement.outputs or {}).get("loss")
    found.note_verdict(found.judgement, "CrossEntropyLoss.forward passes question 1.4's check on these logits: "
                       "one number, the mean of −log p(target).")
    if found.judgement.passed:
        found.note_verdict(found.probe_judgement, f"With large logits (±{LARGE:g}, as a trained network can give) "
                           "your loss stays finite and right: a log-softmax, as it should be.",
                           prefix=f"With large logits (±{LARGE:g}, as a trained network can give): ")
    found.initial_loss = student_loss(found, logits)
    definition = case["expected"]
    if found.initial_loss.ok and not found.judgement.passed and not matches(found.initial_loss.value, definition):
        # The two numbers behind a wrong loss (the verdict itself is the check's, above).
        found.note("info", f"Your CrossEntropyLoss.forward returned {found.initial_loss.value:.4f}; the mean of "
                   f"−log p(target) is {definition:.4f}.")
    return found


xeloss_forward = entry("xeloss_forward", "XelossForwardViz", probe, takes_optim=False,
                       what="the student's ``CrossEntropyLoss.forward``")
