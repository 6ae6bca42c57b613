"""Question 1.3 (sequential_forward): the pipeline X -> layer 1 -> ... -> output, each stage
with its shape.

``probe`` gives question 1.3's verdict on the view's case (the student's Sequential wired to the
questions' computing stand-in layers, whose every stage the grader's code recomputes) and a
second run of the student's own Linear and ReLU through their Sequential (notes only);
``sequential_forward`` shows both (``views/sequential_forward.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from assignment.shared.questions._compare import entry_differs
from assignment.shared.questions._standins import network
from assignment.student.viz import _safe
from assignment.student.viz._data import tenths
from assignment.student.viz._judge import Verdict, judge
from assignment.student.viz._layers import (STANDIN_TEXT, STANDINS, YOURS, calls_note, combine, layer_name, role_names,
                                    stage_shapes, standin_case, student_layers)
from assignment.student.viz._probe import Message, Probe, level_of, shape_note, unusable_note
from assignment.student.viz._show import entry

__all__ = ["Pipeline", "SequentialForwardProbe", "probe", "sequential_forward", "YOURS", "STANDINS"]


@dataclass
class Pipeline:
    """One run of the chain and of the student's Sequential on the same input.

    Fields:
        mode: ``YOURS`` or ``STANDINS``.
        names, shapes: each layer's name; each stage's expected shape (stage 0 = X).
        stages: each stage's value (None where it has none) and ``stage_notes`` why.
        output: the student's Sequential.forward(X) (None if unusable; ``output_note`` says why).
        differs: entries of the output that differ from the last stage.
        messages: the run's status lines.
    """

    mode: str
    names: list[str] = field(default_factory=list)
    shapes: list[tuple] = field(default_factory=list)
    stages: list = field(default_factory=list)
    stage_notes: list = field(default_factory=list)
    output: np.ndarray | None = None
    output_note: str | None = None
    differs: np.ndarray | None = None
    messages: list[Message] = field(default_factory=list)


@dataclass(kw_only=True)
class SequentialForwardProbe(Probe):
    """Question 1.3's verdict and both runs.

    Fields:
        x: the seeded input (float32); ``params`` the (weight, bias) of each Linear; ``sizes`` the widths.
        judgement: question 1.3's verdict on the stand-in case.
        pipelines: both runs, by mode; ``default`` the mode shown first.
    """

    x: np.ndarray
    params: list
    sizes: tuple
    judgement: Verdict
    pipelines: dict[str, Pipeline] = field(default_factory=dict)
    default: str = STANDINS


def _standins(case: dict, judgement: Verdict, rows: int) -> Pipeline:
    """The judged run: the stand-ins' stages as the grader recomputes them, and your Sequential's output."""
    p = Pipeline(STANDINS)
    wanted = network(case, rows=rows).activations(np.asarray(case["x"], dtype=np.float64))
    p.names = [f"{name} stand-in" for name in case["layers"]]
    p.shapes = [tuple(stage.shape) for stage in wanted]
    p.stages, p.stage_notes = wanted, [None] * len(wanted)
    if judgement.outputs is None:
        p.output_note = "not implemented yet" if judgement.kind == _safe.NOT_IMPLEMENTED else "failed"
        return p
    checked = _safe.check_array(judgement.outputs["output"], "Sequential.forward", p.shapes[-1])
    if checked.ok or checked.kind == _safe.NAN:
        p.output = np.asarray(checked.value, dtype=float)
        p.differs = entry_differs(p.output, wanted[-1])
    else:
        p.output_note = (shape_note(np.shape(checked.value), p.shapes[-1]) if checked.kind == _safe.SHAPE
                         else "returned None" if checked.kind == _safe.NONE else "unusable")
    p.messages += calls_note("sequential_forward", case, judgement.outputs, "forward")
    return p


def _yours(nn, x: np.ndarray, params: list, sizes: tuple) -> Pipeline:
    """The student's own layers called one by one, then through their Sequential (notes only)."""
    p = Pipeline(YOURS, shapes=stage_shapes(sizes, x.shape[0]), stages=[x.astype(np.float32)], stage_notes=[None])
    chain, again = student_layers(nn, params), student_layers(nn, params)
    if not chain.ok:
        p.messages.append(Message(level_of(chain.kind), chain.message, chain.kind))
        p.names = ["?"] * (len(p.shapes) - 1)
        p.stages += [None] * (len(p.shapes) - 1)
        p.stage_notes += ["no layer"] * (len(p.shapes) - 1)
        return p
    roles = role_names(chain.value, YOURS)
    p.names = [layer_name(layer, role) for layer, role in zip(chain.value, roles)]
    current = p.stages[0]
    for k, layer in enumerate(chain.value):
        label = f"{roles[k]}.forward (layer {k + 1})"
        if current is None:
            p.stages.append(None)
            p.stage_notes.append("not reached")
            continue
        result = _safe.call(label, _safe.method(layer, "forward"), current.copy())
        if result.ok:
            result = _safe.check_array(result.value, label, p.shapes[k + 1])
        if not result.ok:
            p.messages.append(Message(level_of(result.kind), result.message, result.kind))
            p.stages.append(None)
            p.stage_notes.append("not implemented yet" if result.kind == _safe.NOT_IMPLEMENTED else "failed")
            current = None
            continue
        current = result.value
        p.stages.append(current)
        p.stage_notes.append(None)
    # The student's Sequential on fresh copies of the same layers.
    final_shape = p.shapes[-1]
    seq = _safe.construct(nn, "Sequential", *again.value, label="Sequential(...)")
    result = seq if not seq.ok else _safe.call("Sequential.forward", _safe.method(seq.value, "forward"), x.copy())
    if result.ok:
        result = _safe.check_array(result.value, "Sequential.forward", final_shape,
                                   shape_hint="the last layer's output shape")
    if not result.ok:
        p.messages.append(Message(level_of(result.kind), _diagnose_shape(p, result), result.kind))
        p.output_note = (shape_note(result.value.shape, final_shape) if result.kind == _safe.SHAPE
                         else unusable_note(result.kind))
        return p
    p.output = result.value
    last = p.stages[-1]
    if last is None:
        p.messages.append(Message("info", "Sequential.forward returned shape "
                                  f"{final_shape}; it cannot be compared because a layer failed (see above)."))
        return p
    p.differs = ~np.isclose(p.output.astype(float), last.astype(float), rtol=1e-5, atol=1e-6)
    if not p.differs.any():
        p.messages.append(Message("ok", f"Sequential.forward equals calling the {len(p.names)} layers one by one "
                                  f"(shape {final_shape})."))
    else:
        p.messages.append(Message("error", _diagnose_values(p), _safe.MISMATCH))
    return p


def _same_stage(p: Pipeline, value: np.ndarray) -> str | None:
    """What ``value`` equals among the stages before the last: 'its input X' or 'the output of layer k (...)'."""
    for k, stage in enumerate(p.stages[:-1]):
        if stage is not None and stage.shape == value.shape and np.allclose(stage, value):
            return "its input X" if k == 0 else f"the output of layer {k} ({p.names[k - 1]})"
    return None


def _diagnose_shape(p: Pipeline, result: _safe.Outcome) -> str:
    if result.kind != _safe.SHAPE:
        return result.message
    what = _same_stage(p, result.value)
    return result.message + (f" It equals {what}: does the loop stop early or skip layers?" if what else "")


def _diagnose_values(p: Pipeline) -> str:
    text = (f"Sequential.forward differs from calling the layers one by one in {int(p.differs.sum())} of "
            f"{p.differs.size} entries (outlined in red and marked ✘).")
    what = _same_stage(p, p.output)
    if what and what != "its input X":
        return text + f" It equals {what}: is the last layer skipped?"
    return text + " Is every layer applied once, in order, each to the previous layer's output?"


def probe(nn, optim=None, *, sizes: tuple = (3, 4, 2), batch_size: int = 2, seed: int = 0) -> SequentialForwardProbe:
    """Question 1.3's check on a stand-in network of ``sizes``, and a run of the student's own layers.

    Args:
        nn: the student's ``mytorch.nn`` module; ``optim`` is not used.
        sizes: layer widths of the MLP, input first (Linear, ReLU, ..., Linear).
        batch_size: rows of X.
        seed: seed of the input, the weights and the stand-ins.

    Returns:
        A ``SequentialForwardProbe``.
    """
    sizes = tuple(int(s) for s in sizes)
    rng = np.random.default_rng(seed)
    x = tenths(rng, (int(batch_size), sizes[0]), low=-2, high=2)
    params = [(tenths(rng, (a, b)), tenths(rng, (1, b))) for a, b in zip(sizes[:-1], sizes[1:])]
    case = standin_case(sizes, x.astype(np.float64), seed)
    judgement = judge("sequential_forward", nn, None, case)
    found = SequentialForwardProbe(x=x, params=params, sizes=sizes, case=case, judgement=judgement,
                                   judgements=[judgement])
    yours, standins = _yours(nn, x, params, sizes), _standins(case, judgement, x.shape[0])
    ready = all(s is not None for s in yours.stages) and len(yours.stages) == len(yours.shapes)
    found.pipelines = combine(
        found, yours, standins, ready, f"Sequential.forward passes question 1.3's check on a network of "
        f"{len(case['layers'])} {STANDIN_TEXT}: every layer got the previous one's output, in order, and the last "
        "one's output was returned.", "With your own Linear and ReLU: ",
        "Your layers cannot run yet, so the picture shows the stand-in layers the tests use.")
    return found


sequential_forward = entry("sequential_forward", "SequentialForwardViz", probe, takes_optim=False,
                           what="the student's ``Sequential.forward``")
