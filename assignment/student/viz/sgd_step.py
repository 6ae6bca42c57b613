"""Question 3 (sgd_step): parameters, gradients and the parameters after the student's SGD.step,
at a learning rate a slider sets; and the paths the student's SGD takes on a two-parameter loss
surface for a too small, a good and a too large learning rate.

``probe`` gives question 3's verdict at the slider's learning rate on one step of a network
Linear, ReLU, Linear (float32: so an SGD.step that gives the ReLU parameters, stops at the
first Linear or changes the dtype shows it) and the surface's paths; ``at_lr`` probes a new
learning rate (what the slider asks); ``sgd_step`` shows it all (``views/sgd_step.py``).
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from assignment.shared.questions import _definitions
from assignment.shared.questions._compare import entry_differs
from assignment.student.viz import _safe
from assignment.student.viz._data import tenths
from assignment.student.viz._judge import Verdict, build_linear, judge, listed
from assignment.student.viz._probe import Probe, fmt
from assignment.student.viz._show import entry

__all__ = ["SgdStepProbe", "probe", "at_lr", "sgd_step", "bowl", "bowl_gradient", "paths_summary", "A", "C", "START",
           "STEPS", "PATHS", "BOX"]

# The loss surface: an elongated bowl f(w1, w2) = (A w1^2 + C w2^2) / 2, minimum at (0, 0).
A, C = 1.0, 8.0
START = (-2.6, 1.2)
STEPS = 25
PATHS = (("too small", 0.01, "#1f77b4"), ("good", 0.2, "#2ca02c"), ("too large", 0.26, "#d62728"))
BOX = (-3.0, 3.0, -2.0, 2.0)


def bowl(w1, w2):
    """The toy loss surface (not a mytorch loss)."""
    return 0.5 * (A * np.square(w1) + C * np.square(w2))


def bowl_gradient(w1: float, w2: float) -> tuple[float, float]:
    """Its gradient, by hand: (A w1, C w2)."""
    return A * w1, C * w2


@dataclass(kw_only=True)
class SgdStepProbe(Probe):
    """Question 3's verdict at one learning rate, and the student's SGD on the bowl.

    Fields:
        nn, optim: the student's modules (``at_lr`` asks them again).
        weight, grad_weight, bias, grad_bias: the first Linear's seeded parameters and gradients (float32);
            ``second`` the second Linear's.
        lr: the learning rate probed; ``judgement`` question 3's verdict there.
        new_weight, new_bias: the first Linear's parameters after the student's step (None if unusable);
            ``ratio_weight``, ``ratio_bias``: (new - old) / (-grad), which must equal lr everywhere;
            ``wrong``: name -> entries that differ from p - lr g; ``new_notes``: name -> a panel's note.
        paths: label -> (steps+1, 2) array of (w1, w2) visited by the student's SGD on the bowl (fewer
            rows if it stopped); ``path_lrs`` label -> lr; ``path_messages`` label -> why it stopped;
            the slider's path is labelled "slider".
        reload_warning: set when optim's Linear is not nn's (a module was reloaded).
        step_text: the verdict line under the figure.
    """

    nn: Any
    optim: Any
    weight: np.ndarray
    grad_weight: np.ndarray
    bias: np.ndarray
    grad_bias: np.ndarray
    second: dict
    lr: float = 0.1
    judgement: Verdict | None = None
    new_weight: np.ndarray | None = None
    new_bias: np.ndarray | None = None
    ratio_weight: np.ndarray | None = None
    ratio_bias: np.ndarray | None = None
    wrong: dict = field(default_factory=dict)
    new_notes: dict = field(default_factory=dict)
    paths: dict = field(default_factory=dict)
    path_lrs: dict = field(default_factory=dict)
    path_messages: dict = field(default_factory=dict)
    reload_warning: str = ""
    step_text: str = ""


def _case(found: SgdStepProbe, lr: float) -> dict:
    """Question 3's case: one step of Linear(3, 2), ReLU, Linear(2, 2) with learning rate ``lr``."""
    first = {"weight": found.weight, "bias": found.bias, "grad_weight": found.grad_weight,
             "grad_bias": found.grad_bias}
    linears = (first, found.second)
    return {
        "layers": [{"kind": "Linear", "weight": listed(first["weight"]), "bias": listed(first["bias"])},
                   {"kind": "ReLU"},
                   {"kind": "Linear", "weight": listed(found.second["weight"]), "bias": listed(found.second["bias"])}],
        "steps": [[{"grad_weight": listed(p["grad_weight"]), "grad_bias": listed(p["grad_bias"])} for p in linears]],
        "lr": float(lr), "dtype": "float32",
        "expected": [[{name: listed(_definitions.sgd_update(p[name], p["grad_" + name], lr))
                       for name in ("weight", "bias")} for p in linears]],
    }


def _descend(found: SgdStepProbe, lr: float) -> tuple[np.ndarray, str]:
    """The points the student's SGD visits on the bowl, from START, with learning rate lr (and why it stopped)."""
    made = build_linear(found.nn, np.array([[START[0]], [START[1]]]), np.zeros((1, 1)))
    if not made.ok:
        return np.array([START]), made.message
    layer = made.value
    # All the given SGD.__init__ reads is model.layers; a ReLU after the Linear, as in any network.
    relu = _safe.construct(found.nn, "ReLU", label="ReLU()")
    model = types.SimpleNamespace(layers=[layer] + ([relu.value] if relu.ok else []))
    optimizer = _safe.call(f"optim.SGD(model, lr={lr:.3g})", _safe.attribute(found.optim, "SGD"), model, lr=lr)
    if not optimizer.ok:
        return np.array([START]), optimizer.message
    step = _safe.method(optimizer.value, "step")
    points = [START]
    for _ in range(STEPS):
        d1, d2 = bowl_gradient(*points[-1])
        layer.grad_weight = np.array([[d1], [d2]])
        layer.grad_bias = np.zeros((1, 1))
        result = _safe.call("SGD.step", step)
        if not result.ok:
            return np.array(points), result.message
        checked = _safe.check_array(_safe.attribute(layer, "weight"), "Linear.weight after SGD.step", (2, 1),
                                    verb="is")
        if not checked.ok:
            return np.array(points), checked.message
        w = np.asarray(checked.value, dtype=float).ravel()
        points.append((float(w[0]), float(w[1])))
        if np.max(np.abs(w)) > 1e6:
            break
    return np.array(points), ""


def at_lr(found: SgdStepProbe, lr: float) -> SgdStepProbe:
    """Probe the learning rate ``lr``: question 3's verdict, the step's picture and the slider's path (in place).

    Returns:
        ``found``, now at ``lr``.
    """
    found.lr = float(lr)
    found.judgement = judge("sgd_step", found.nn, found.optim, _case(found, lr))
    found.new_weight = found.new_bias = found.ratio_weight = found.ratio_bias = None
    found.wrong, found.new_notes = {}, {}
    after = found.judgement.outputs["after"][0][0] if found.judgement.outputs is not None else None
    for key, old, grad in (("weight", found.weight, found.grad_weight), ("bias", found.bias, found.grad_bias)):
        checked = _safe.check_array(after[key] if after else None, f"Linear.{key} after SGD.step", old.shape,
                                    verb="is")
        if not checked.ok and checked.kind != _safe.NAN:
            found.new_notes[key] = "not implemented yet" if found.judgement.kind == _safe.NOT_IMPLEMENTED else (
                "failed" if after is None else "unusable")
            continue
        new = np.asarray(checked.value)
        found.wrong[key] = entry_differs(new, _definitions.sgd_update(old, grad, lr))
        with np.errstate(all="ignore"):
            ratio = (new.astype(float) - old.astype(float)) / (-grad.astype(float))
        setattr(found, f"new_{key}", new)
        setattr(found, f"ratio_{key}", ratio)
    if found.judgement.passed:
        found.step_text = ("every parameter of both Linear layers moved by lr × its gradient, against it; the ReLU "
                           "was left alone and the dtype float32 kept (question 3's check passes).")
    else:
        found.step_text = " ".join(found.judgement.problems)
    found.messages, found.judgements = [], []
    found.note_verdict(found.judgement, f"SGD.step passes question 3's check at lr = {lr:.3g} on a network "
                       "Linear(3, 2), ReLU, Linear(2, 2): every parameter moved by lr × its gradient, against it; "
                       "the ReLU left alone; float32 kept.")
    if found.reload_warning:
        found.note("warn", found.reload_warning)
    found.paths["slider"], found.path_messages["slider"] = _descend(found, lr)
    found.path_lrs["slider"] = lr
    for text in sorted({m for m in found.path_messages.values() if m}):
        found.note("info", "On the surface: " + text)
    return found


def paths_summary(found: SgdStepProbe) -> list[str]:
    """One line per path: 'lr = 0.2 (good): converges: loss 5.14 → 0.001' (or diverges, crawls, stopped)."""
    lines = []
    for label in [p[0] for p in PATHS] + ["slider"]:
        points, lr = found.paths.get(label), found.path_lrs.get(label)
        if points is None or lr is None:
            continue
        start, end = bowl(*points[0]), bowl(*points[-1])
        if found.path_messages.get(label):
            how = "stopped: see above"
        elif not np.isfinite(end) or end > start:
            how = f"diverges: loss {fmt(start)} → {fmt(end)}"
        elif end > 0.1 * start:
            how = f"crawls: loss {fmt(start)} → {fmt(end)}"
        else:
            how = f"converges: loss {fmt(start)} → {fmt(end, 3)}"
        lines.append(f"lr = {lr:.3g} ({label}): {how}")
    return lines


def probe(nn, optim, *, lr: float = 0.1, seed: int = 0) -> SgdStepProbe:
    """Question 3's check at ``lr`` on seeded parameters and gradients, and the paths on the bowl.

    Args:
        nn: the student's ``mytorch.nn`` module (its ``Linear`` holds the parameters).
        optim: the student's ``mytorch.optim`` module.
        lr: the learning rate of the check (the slider's first value).
        seed: seed of the parameters and gradients.

    Returns:
        An ``SgdStepProbe``.
    """
    rng = np.random.default_rng(seed)
    found = SgdStepProbe(nn=nn, optim=optim, weight=tenths(rng, (3, 2)), bias=tenths(rng, (1, 2)),
                         grad_weight=tenths(rng, (3, 2), avoid_zero=0.1), grad_bias=tenths(rng, (1, 2), avoid_zero=0.1),
                         second={"weight": tenths(rng, (2, 2)), "bias": tenths(rng, (1, 2)),
                                 "grad_weight": tenths(rng, (2, 2), avoid_zero=0.1),
                                 "grad_bias": tenths(rng, (1, 2), avoid_zero=0.1)})
    optim_linear, nn_linear = _safe.attribute(optim, "Linear"), _safe.attribute(nn, "Linear")
    if isinstance(optim_linear, type) and isinstance(nn_linear, type) and optim_linear is not nn_linear:
        found.reload_warning = ("mytorch.optim refers to a different Linear class than the nn module given here (was "
                                "one of them reloaded?). SGD would skip these layers: restart the kernel, or reload "
                                "mytorch.nn and then mytorch.optim.")
    for label, value, _ in PATHS:
        found.paths[label], found.path_messages[label] = _descend(found, value)
        found.path_lrs[label] = value
    found.case = _case(found, lr)
    return at_lr(found, lr)


sgd_step = entry("sgd_step", "SgdStepViz", probe, takes_optim=True,
                 what="the student's ``SGD.step``")
