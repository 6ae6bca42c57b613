"""Question 1.3 (sequential_forward): the pipeline X -> layer 1 -> ... -> output,
each stage with its shape.

The verdict is question 1.3's check on this view's case: the student's
Sequential wired to the questions' computing stand-in layers
(``questions/_standins.py``, the ones the tests use), whose every stage the
grader's code recomputes. A second picture runs the student's own Linear and ReLU
through their Sequential, for the shapes; its remarks are notes, not the verdict
(the layers are judged by their own questions)."""

from __future__ import annotations

from dataclasses import dataclass, field

import ipywidgets as widgets
import numpy as np

from assignment.viz import _safe
from assignment.viz._base import Message, Stepper, Visualizer, guarded, level_of, safely, text_block
from assignment.viz._data import tenths
from assignment.viz._plots import HIGHLIGHT, SECOND, Op, Panel, fixed_panel, matrix_rows, shape_note, shape_title
from assignment.questions import question
from assignment.questions._compare import entry_differs
from assignment.questions._standins import network
from assignment.viz._judge import Verdict, build_linear, judge, listed

__all__ = ["SequentialForwardViz", "sequential_forward", "YOURS", "STANDINS", "layer_name", "role_names",
           "student_layers"]

YOURS = "your Linear and ReLU"
STANDINS = "stand-in layers"
#: what the judged picture says its layers are
STANDIN_TEXT = ("stand-in layers (as in the tests: each computes a seeded map of its own, so your Sequential "
                "is judged on its own)")
_CELL = 0.4


def student_layers(nn, params: list[tuple[np.ndarray, np.ndarray]]) -> _safe.Outcome:
    """Fresh student layers Linear, ReLU, ..., Linear with the given parameters."""
    layers = []
    for k, (weight, bias) in enumerate(params):
        made = build_linear(nn, weight, bias)
        if not made.ok:
            return made
        layers.append(made.value)
        if k < len(params) - 1:
            relu = _safe.construct(nn, "ReLU", label="ReLU()")
            if not relu.ok:
                return relu
            layers.append(relu.value)
    return _safe.Outcome(True, layers)


def standin_case(sizes: tuple, x: np.ndarray, seed: int, *, batch: bool = False) -> dict:
    """The case of the Sequential questions that stands for the MLP ``sizes``: Linear, ReLU, ..., Linear.

    Args:
        sizes: the MLP's widths, input first.
        x: the input (question 1.3) or, with ``batch``, only its number of rows (question 2.4).
    """
    names, widths = [], [int(sizes[0])]
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        names.append(f"Linear({a}, {b})")
        widths.append(int(b))
        if k < len(sizes) - 2:
            names.append("ReLU()")
            widths.append(int(b))
    case = {"layers": names, "sizes": widths, "seed": int(seed)}
    if batch:
        case["batch"] = int(x.shape[0])
    else:
        case["x"] = listed(x)
    return case


def role_names(layers: list, mode: str) -> list[str]:
    """What each layer is: Linear, ReLU, ... (for the student's layers, whatever their classes are called)."""
    if mode == YOURS:
        return ["Linear" if k % 2 == 0 else "ReLU" for k in range(len(layers))]
    return [type(layer).__name__ for layer in layers]


def layer_name(layer, role: str | None = None) -> str:
    """'Linear(3, 4)', 'ReLU', 'Double' ... without trusting the student's __repr__."""
    kind = role or type(layer).__name__
    weight = _safe.attribute(layer, "weight")
    if kind == "Linear" and isinstance(weight, np.ndarray) and weight.ndim == 2:
        return f"Linear({weight.shape[0]}, {weight.shape[1]})"
    if kind == "FirstColumns":
        return f"FirstColumns({layer.k})"
    return kind


@dataclass
class Pipeline:
    """One run of the chain and of the student's Sequential on the same input."""

    mode: str
    names: list[str] = field(default_factory=list)
    shapes: list[tuple] = field(default_factory=list)  # expected shape of each stage (stage 0 = X)
    stages: list = field(default_factory=list)  # arrays or None, stage 0 = X
    stage_notes: list = field(default_factory=list)  # panel message per stage (None if fine)
    output: np.ndarray | None = None  # the student's Sequential.forward(X)
    output_note: str | None = None
    differs: np.ndarray | None = None
    messages: list[Message] = field(default_factory=list)
    figure: object = None
    panels: dict = field(default_factory=dict)


class SequentialForwardViz(Visualizer):
    """The student's Sequential.forward against calling its layers one by one.

    Fields read by tests:
        x: the seeded input.
        mode_buttons: ToggleButtons between ``YOURS`` and ``STANDINS`` layers.
        pipeline: the ``Pipeline`` of the current mode (``stages``, ``output``, ``differs``...).
        pipelines: both pipelines, by mode.
        stepper: walks the stages (0 = X, k = after layer k, last = the comparison).
        stage: the stepper's position; ``highlight`` names the outlined panels.
        arithmetic / arithmetic_text: what the current step says.
    """

    heading = "Question 1.3 · Sequential.forward: each layer's output is the next layer's input"
    picture = ("The pipeline from X through each layer to the output, every stage as a heatmap with its shape, your Sequential.forward output beside the layers called one by one")

    def __init__(self, nn, *, sizes: tuple = (3, 4, 2), batch_size: int = 2, seed: int = 0) -> None:
        super().__init__()
        sizes = tuple(int(s) for s in sizes)
        rng = np.random.default_rng(seed)
        self.x = tenths(rng, (int(batch_size), sizes[0]), low=-2, high=2)
        self.params = [(tenths(rng, (a, b)), tenths(rng, (1, b))) for a, b in zip(sizes[:-1], sizes[1:])]
        self.sizes = sizes
        self.arithmetic = widgets.HTML()
        self.arithmetic_text = ""
        self.stage = 0
        self.highlight: dict = {}

        self.case = standin_case(sizes, self.x.astype(np.float64), seed)
        self.judgement = judge("sequential_forward", nn, None, self.case)
        self.judgements = [self.judgement]
        yours = self._run(nn, YOURS)
        standins = self._run_standins()
        self.pipelines = {YOURS: yours, STANDINS: standins}
        layers_ready = all(s is not None for s in yours.stages) and len(yours.stages) == len(yours.shapes)
        default = YOURS if layers_ready else STANDINS
        verdict = self._verdict_messages()
        notes = [Message("info", "With your own Linear and ReLU: " + _safe.clause(m.text) + ".", _safe.OK)
                 for m in yours.messages]
        yours.messages = verdict + notes
        standins.messages = verdict + standins.messages
        if not layers_ready:
            standins.messages.append(Message(
                "info", "Your layers cannot run yet, so the picture shows the stand-in layers the tests use."))
        self.mode_buttons = widgets.ToggleButtons(options=[YOURS, STANDINS], value=default,
                                                  description="layers:", style={"button_width": "170px"})
        self.pipeline = self.pipelines[default]
        for pipeline in self.pipelines.values():
            self._draw(pipeline)
            pipeline.figure.draw()  # draw the static layer now: switching modes is then quick
        self.stepper = Stepper(len(self.pipeline.shapes) + 1, self._show, description="stage", interval=1200)
        self.mode_buttons.observe(self._switch, names="value")
        self.children = [self.header, self.status, self.mode_buttons, self.image, self.stepper, self.arithmetic]
        self._activate(self.pipeline)

    # -- running the student's code ------------------------------------
    def _verdict_messages(self) -> list[Message]:
        """Question 1.3's check on the stand-in case, in its words (the verdict of both pictures)."""
        j = self.judgement
        if j.passed:
            return [Message("ok", f"Sequential.forward passes question 1.3's check on a network of "
                            f"{len(self.case['layers'])} {STANDIN_TEXT}: every layer got the previous one's "
                            "output, in order, and the last one's output was returned.")]
        return [Message(level_of(kind), problem, kind) for problem, kind in zip(j.problems, j.kinds)]

    def _run_standins(self) -> Pipeline:
        """The judged picture: the stand-ins' stages as the grader recomputes them, and your Sequential's output."""
        p = Pipeline(STANDINS)
        net = network(self.case, rows=self.x.shape[0])
        wanted = net.activations(np.asarray(self.case["x"], dtype=np.float64))
        p.names = [f"{name} stand-in" for name in self.case["layers"]]
        p.shapes = [tuple(stage.shape) for stage in wanted]
        p.stages = wanted
        p.stage_notes = [None] * len(wanted)
        outputs = self.judgement.outputs
        if outputs is None:
            p.output_note = "not implemented yet" if self.judgement.kind == _safe.NOT_IMPLEMENTED else "failed"
            return p
        checked = _safe.check_array(outputs["output"], "Sequential.forward", p.shapes[-1])
        if checked.ok or checked.kind == _safe.NAN:
            p.output = np.asarray(checked.value, dtype=float)
            p.differs = entry_differs(p.output, wanted[-1])
        else:
            p.output_note = (shape_note(np.shape(checked.value), p.shapes[-1]) if checked.kind == _safe.SHAPE
                             else "returned None" if checked.kind == _safe.NONE else "unusable")
        calls = question("sequential_forward").shown(self.case, outputs)
        if calls:
            p.messages.append(Message("info", f"Your forward calls: {calls[0][1]} (expected {calls[0][2]})."))
        return p

    def _run(self, nn, mode: str) -> Pipeline:
        p = Pipeline(mode)
        n = self.x.shape[0]
        if mode == YOURS:  # the only mode run here: the stand-ins' picture is the judged case's
            chain = student_layers(nn, self.params)
            again = student_layers(nn, self.params)
            p.shapes = [self.x.shape]
            for k, width in enumerate(self.sizes[1:]):
                p.shapes.append((n, width))  # after Linear
                if k < len(self.sizes) - 2:
                    p.shapes.append((n, width))  # after ReLU
        p.stages = [self.x.astype(np.float32)]
        p.stage_notes = [None]
        if not chain.ok:
            p.messages.append(Message(level_of(chain.kind), chain.message, chain.kind))
            p.names = ["?"] * (len(p.shapes) - 1)
            p.stages += [None] * (len(p.shapes) - 1)
            p.stage_notes += ["no layer"] * (len(p.shapes) - 1)
            return p
        roles = role_names(chain.value, mode)
        p.names = [layer_name(layer, role) for layer, role in zip(chain.value, roles)]
        # 1. the layers called one by one
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
        # 2. the student's Sequential on fresh copies of the same layers
        final_shape = p.shapes[-1]
        seq = _safe.construct(nn, "Sequential", *again.value, label="Sequential(...)")
        result = seq if not seq.ok else _safe.call("Sequential.forward", _safe.method(seq.value, "forward"),
                                                     self.x.copy())
        if result.ok:
            result = _safe.check_array(result.value, "Sequential.forward", final_shape,
                                       shape_hint="the last layer's output shape")
        if not result.ok:
            p.messages.append(Message(level_of(result.kind), self._diagnose_shape(p, result), result.kind))
            p.output_note = ("not implemented yet" if result.kind == _safe.NOT_IMPLEMENTED else
                             "returned None" if result.kind == _safe.NONE else "failed")
            if result.kind == _safe.SHAPE:
                p.output_note = shape_note(result.value.shape, final_shape)
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
            p.messages.append(Message("error", self._diagnose_values(p), _safe.MISMATCH))
        return p

    @staticmethod
    def _diagnose_shape(p: Pipeline, result: _safe.Outcome) -> str:
        if result.kind != _safe.SHAPE:
            return result.message
        got = tuple(result.value.shape)
        for k, stage in enumerate(p.stages[:-1]):
            if stage is not None and stage.shape == got and np.allclose(stage, result.value):
                what = "its input X" if k == 0 else f"the output of layer {k} ({p.names[k - 1]})"
                return result.message + f" It equals {what}: does the loop stop early or skip layers?"
        return result.message

    @staticmethod
    def _diagnose_values(p: Pipeline) -> str:
        wrong = int(p.differs.sum())
        text = (f"Sequential.forward differs from calling the layers one by one in {wrong} of {p.differs.size} "
                "entries (outlined in red and marked ✘).")
        for k, stage in enumerate(p.stages[:-1]):
            if stage is not None and stage.shape == p.output.shape and np.allclose(stage, p.output):
                return text + f" It equals the output of layer {k} ({p.names[k - 1]}): is the last layer skipped?"
        return text + " Is every layer applied once, in order, each to the previous layer's output?"

    # -- drawing --------------------------------------------------------
    def _draw(self, p: Pipeline) -> None:
        row = [Panel("s0", p.shapes[0])]
        for k, name in enumerate(p.names):
            row += [Op(f"{name}\n⟶", 1.05, 8.5), Panel(f"s{k + 1}", p.shapes[k + 1])]
        offset = sum(0.25 + item.shape[1] * _CELL if isinstance(item, Panel) else item.width for item in row[:-1])
        label_width = min(2.4, offset)
        second = [Op("", offset - label_width), Op("your Sequential.forward(X)  ⟶", label_width, 9),
                  Panel("seq", p.shapes[-1])]
        p.figure, axes = matrix_rows([row, second], cell=_CELL)
        for k, shape in enumerate(p.shapes):
            title = "X (input)" if k == 0 else f"after layer {k}"
            panel = fixed_panel(p.figure, axes[f"s{k}"], shape, shape_title(title, shape), fontsize=7.5)
            panel.set(p.stages[k], message=p.stage_notes[k])
            p.panels[f"s{k}"] = panel
        seq = fixed_panel(p.figure, axes["seq"], p.shapes[-1], shape_title("Sequential.forward(X)", p.shapes[-1]),
                          fontsize=7.5)
        seq.set(p.output, message=p.output_note)
        seq.mark(p.differs)
        p.panels["seq"] = seq

    def _activate(self, p: Pipeline) -> None:
        self.pipeline = p
        if p.figure is None:
            self._draw(p)
        self.figure = p.figure
        self.messages = list(p.messages)
        self.show_messages()
        self.stepper.set_count(len(p.shapes) + 1)  # the modes may have different numbers of layers

    @guarded
    def _switch(self, change: dict) -> None:
        self._activate(self.pipelines[change["new"]])

    @guarded
    def _show(self, position: int) -> None:
        p = self.pipeline
        last = len(p.shapes) - 1
        position = int(position) % (last + 2)
        self.stage = position
        for panel in p.panels.values():
            panel.clear_outlines()
        self.highlight = {}
        if position == 0:
            p.panels["s0"].outline("now", "all", color=HIGHLIGHT)
            self.highlight = {"current": "s0"}
            text = f"X, shape {p.shapes[0]}, goes into layer 1 ({p.names[0] if p.names else '?'})."
        elif position <= last:
            p.panels[f"s{position - 1}"].outline("in", "all", color=SECOND)
            p.panels[f"s{position}"].outline("now", "all", color=HIGHLIGHT)
            self.highlight = {"input": f"s{position - 1}", "current": f"s{position}"}
            name = p.names[position - 1]
            text = (f"layer {position}: {name}.forward maps {p.shapes[position - 1]} (green) to "
                    f"{p.shapes[position]} (orange).")
            if p.stages[position] is None:
                text += f"\nthis stage has no value: {p.stage_notes[position]}."
            if position == last:
                text += "\nthis is the network's output: Sequential.forward(X) must return it."
        else:
            p.panels[f"s{last}"].outline("in", "all", color=SECOND)
            p.panels["seq"].outline("now", "all", color=HIGHLIGHT)
            self.highlight = {"input": f"s{last}", "current": "seq"}
            verdict = p.messages[0].text if p.messages else ""
            text = "your Sequential.forward(X) (orange) against the layers called one by one (green):\n" + verdict
        self.arithmetic_text = text
        self.arithmetic.value = text_block(text)
        self.render()


def sequential_forward(nn, *, sizes: tuple = (3, 4, 2), batch_size: int = 2, seed: int = 0) -> widgets.Widget:
    """Visualize the student's ``Sequential.forward``: ``viz.sequential_forward(nn)``.

    Args:
        nn: the student's ``mytorch.nn`` module.
        sizes: layer widths of the MLP, input first (Linear, ReLU, ..., Linear).
        batch_size: rows of X.
        seed: seed of the input and the weights.

    Returns:
        A ``SequentialForwardViz`` (an ``ipywidgets.VBox``); never raises.
    """
    return safely("sequential_forward", SequentialForwardViz, nn, sizes=sizes, batch_size=batch_size, seed=seed)
