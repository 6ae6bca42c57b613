"""Question 2.4 (sequential_backward): the gradient flowing back from the loss
through every layer, each stage with its shape.

The verdict is question 2.4's check on this view's case: the student's Sequential
wired to the questions' computing stand-in layers and loss (``questions/_standins.py``,
the tests' own), each layer's received gradient held against what the grader's code
recomputes. A second picture runs the student's own Linear, ReLU and
CrossEntropyLoss through their Sequential (the chain by hand, the stored gradients,
finite differences of the whole network); its remarks are notes, not the verdict
(the layers and the loss are judged by their own questions)."""

from __future__ import annotations

from dataclasses import dataclass, field

import ipywidgets as widgets
import numpy as np

from assignment.viz import _safe
from assignment.viz._base import Message, Stepper, Visualizer, guarded, level_of, safely, text_block
from assignment.viz._data import labels as seeded_labels
from assignment.viz._data import tenths
from assignment.viz._fd import central_differences
from assignment.questions._compare import entry_differs as compare
from assignment.viz._plots import HIGHLIGHT, MUTED, SECOND, Op, Panel, fixed_panel, matrix_rows, shape_note, shape_title
from assignment.questions import question
from assignment.questions._compare import entry_differs
from assignment.questions._standins import network
from assignment.viz._judge import judge
from assignment.viz.sequential_forward import (STANDIN_TEXT, STANDINS, YOURS, layer_name, role_names, standin_case,
                                              student_layers)

__all__ = ["SequentialBackwardViz", "sequential_backward"]

_CELL = 0.38
_OP = 1.0


@dataclass
class BackwardRun:
    """Everything one mode (your layers / stand-ins) produced."""

    mode: str
    names: list[str] = field(default_factory=list)
    shapes: list[tuple] = field(default_factory=list)  # stage k's shape (0 = X, last = network output)
    stages: list = field(default_factory=list)  # forward values per stage
    grads: list = field(default_factory=list)  # gradient of the loss w.r.t. each stage (chained by hand)
    grad_notes: list = field(default_factory=list)
    returned: np.ndarray | None = None  # what Sequential.backward returned
    returned_note: str | None = None
    returned_nothing: bool = False  # Sequential.backward ran and returned None (allowed)
    differs: np.ndarray | None = None
    estimate: np.ndarray | None = None  # finite differences of the network's loss w.r.t. X
    estimate_differs: np.ndarray | None = None
    kinks: np.ndarray | None = None  # entries of X where the loss has a kink (not compared)
    loss_label: str = ""
    received: list = field(default_factory=list)  # stand-ins: what each layer's backward received (None: nothing)
    received_differs: list = field(default_factory=list)  # stand-ins: where that differs from what it must receive
    received_notes: list = field(default_factory=list)  # stand-ins: why a layer shows no received gradient
    messages: list[Message] = field(default_factory=list)
    figure: object = None
    panels: dict = field(default_factory=dict)


class SequentialBackwardViz(Visualizer):
    """The backward pass of the student's Sequential, stage by stage.

    Fields read by tests:
        x, labels: the seeded input (float64) and labels.
        mode_buttons: ToggleButtons between ``YOURS`` and ``STANDINS`` layers.
        run: the ``BackwardRun`` of the current mode (``grads``, ``returned``, ``differs``, ``estimate``...);
            ``runs`` holds both.
        stepper: walks back: 0 = loss.backward(), k = the k-th layer from the end, last = the comparison.
        stage, highlight, arithmetic, arithmetic_text: what the current step shows.
    """

    heading = "Question 2.4 · Sequential.backward: from the loss back to the input, one layer at a time"
    picture = ("The forward stages of the network and, under them, the gradient flowing back stage by stage with its shapes; your Sequential.backward result beside finite differences of the whole network")

    def __init__(self, nn, *, sizes: tuple = (3, 4, 2), batch_size: int = 2, seed: int = 0) -> None:
        super().__init__()
        sizes = tuple(int(s) for s in sizes)
        # Offset 1: with it no hidden value of the default network sits near ReLU's kink and no gradient
        # row vanishes by a coincidence of the tenths (kinks are detected and skipped anyway).
        rng = np.random.default_rng(seed + 1)
        n = int(batch_size)
        self.sizes = sizes
        self.x = tenths(rng, (n, sizes[0]), low=-2, high=2, avoid_zero=0.1, dtype=np.float64)
        self.params = [(tenths(rng, (a, b), dtype=np.float64), tenths(rng, (1, b), dtype=np.float64))
                       for a, b in zip(sizes[:-1], sizes[1:])]
        self.labels = seeded_labels(rng, n, sizes[-1])
        self.case = standin_case(sizes, self.x, seed, batch=True)
        self.judgement = judge("sequential_backward", nn, None, self.case)
        self.judgements = [self.judgement]
        self.arithmetic = widgets.HTML()
        self.arithmetic_text = ""
        self.stage = 0
        self.highlight: dict = {}

        self.runs = {YOURS: self._run(nn, YOURS), STANDINS: self._run_standins()}
        yours = self.runs[YOURS]
        ready = all(g is not None for g in yours.grads) and bool(yours.grads)
        default = YOURS if ready else STANDINS
        verdict = self._verdict_messages()
        notes = [Message("info", "With your own layers: " + _safe.clause(m.text) + ".", _safe.OK)
                 for m in yours.messages]
        yours.messages = verdict + notes
        self.runs[STANDINS].messages = verdict + self.runs[STANDINS].messages
        if not ready:
            self.runs[STANDINS].messages.append(Message(
                "info", "Your layers cannot run backward yet, so the picture shows the stand-in layers the tests use."))
        for run in self.runs.values():
            (self._draw if run.mode == YOURS else self._draw_standins)(run)
            run.figure.draw()
        self.mode_buttons = widgets.ToggleButtons(options=[YOURS, STANDINS], value=default, description="layers:",
                                                  style={"button_width": "170px"})
        self.run = self.runs[default]
        self.stepper = Stepper(len(self.run.shapes) + 1, self._show, description="step", interval=1200)
        self.mode_buttons.observe(self._switch, names="value")
        self.children = [self.header, self.status, self.mode_buttons, self.image, self.stepper, self.arithmetic]
        self._activate(self.run)

    # -- the student's code ---------------------------------------------
    def _layers(self, nn, mode: str) -> _safe.Outcome:
        return student_layers(nn, self.params)

    def _loss(self, nn, mode: str) -> _safe.Outcome:
        return _safe.construct(nn, "CrossEntropyLoss", label="CrossEntropyLoss()")

    def _verdict_messages(self) -> list[Message]:
        """Question 2.4's check on the stand-in case, in its words (the verdict of both pictures)."""
        j = self.judgement
        if j.passed:
            return [Message("ok", f"Sequential.backward passes question 2.4's check on a network of "
                            f"{len(self.case['layers'])} {STANDIN_TEXT}: loss_function.backward() once, then every "
                            "layer's backward, last to first, each given the gradient the layer after it returned.")]
        return [Message(level_of(kind), problem, kind) for problem, kind in zip(j.problems, j.kinds)]

    def _run_standins(self) -> BackwardRun:
        """The judged picture: what each stand-in layer must receive (the grader's) and what it received."""
        r = BackwardRun(STANDINS)
        net = network(self.case, rows=self.x.shape[0])
        must = net.gradients()
        r.names = [f"{name} stand-in" for name in self.case["layers"]]
        r.shapes = [(net.rows, width) for width in net.sizes]
        r.loss_label = "the stand-in loss"
        # grads[k]: the gradient of stage k (0 = X); layer k - 1 must receive grads[k] (k >= 1).
        r.grads = [net.backward_map(0, must[0])] + list(must)
        r.grad_notes = [None] * len(r.grads)
        r.received = [None] * len(must)
        r.received_differs = [None] * len(must)
        r.received_notes = ["nothing"] * len(must)
        outputs = self.judgement.outputs
        if outputs is not None:
            for k, kept in enumerate(outputs["received"]):
                checked = _safe.check_array(kept[0] if kept else None, "received", r.shapes[k + 1])
                if checked.ok or checked.kind == _safe.NAN:
                    r.received[k] = np.asarray(checked.value, dtype=float)
                    r.received_differs[k] = entry_differs(r.received[k], must[k])
                elif checked.kind == _safe.SHAPE:
                    r.received_notes[k] = shape_note(np.shape(checked.value), r.shapes[k + 1])
            calls = question("sequential_backward").shown(self.case, outputs)
            if calls:
                r.messages.append(Message("info", f"Your backward calls: {calls[0][1]} (expected {calls[0][2]})."))
        return r

    def _run(self, nn, mode: str) -> BackwardRun:
        r = BackwardRun(mode)
        n = self.x.shape[0]
        if mode == YOURS:
            r.shapes = [self.x.shape]
            for k, width in enumerate(self.sizes[1:]):
                r.shapes.append((n, width))
                if k < len(self.sizes) - 2:
                    r.shapes.append((n, width))
            r.loss_label = "CrossEntropyLoss"
        depth = len(r.shapes) - 1
        r.grads = [None] * (depth + 1)
        r.grad_notes = ["not reached"] * (depth + 1)
        chain, loss = self._layers(nn, mode), self._loss(nn, mode)
        for made in (chain, loss):
            if not made.ok:
                r.messages.append(Message(level_of(made.kind), made.message, made.kind))
                r.names = ["?"] * depth
                r.stages = [self.x] + [None] * depth
                r.returned_note = "no layers"
                return r
        roles = role_names(chain.value, mode)
        r.names = [layer_name(layer, role) for layer, role in zip(chain.value, roles)]

        # 1. forward, then backward, one layer at a time (what Sequential should do)
        r.stages = [self.x]
        for k, layer in enumerate(chain.value):
            previous = r.stages[-1]
            if previous is None:
                r.stages.append(None)
                continue
            label = f"{roles[k]}.forward (layer {k + 1})"
            out = _safe.call(label, _safe.method(layer, "forward"), previous.copy())
            if out.ok:
                out = _safe.check_array(out.value, label, r.shapes[k + 1])
            if not out.ok:
                r.messages.append(Message(level_of(out.kind), out.message, out.kind))
            r.stages.append(np.asarray(out.value, dtype=float) if out.ok else None)
        if r.stages[-1] is not None:
            step = self._loss_backward(loss.value, r.stages[-1], r)
            if step is not None:
                r.grads[depth] = step
                r.grad_notes[depth] = None
                current = step
                for k in range(depth, 0, -1):
                    layer = chain.value[k - 1]
                    label = f"{roles[k - 1]}.backward (layer {k})"
                    back = _safe.call(label, _safe.method(layer, "backward"), current.copy())
                    if back.ok:
                        back = _safe.check_array(back.value, label, r.shapes[k - 1])
                    if not back.ok:
                        r.messages.append(Message(level_of(back.kind), back.message, back.kind))
                        r.grad_notes[k - 1] = "not implemented yet" if back.kind == _safe.NOT_IMPLEMENTED else "failed"
                        break
                    current = np.asarray(back.value, dtype=float)
                    r.grads[k - 1] = current
                    r.grad_notes[k - 1] = None

        # 2. the student's Sequential on fresh copies of the same layers
        self._run_sequential(nn, mode, r, chain.value)
        # 3. finite differences of the whole network's loss w.r.t. X
        self._estimate(nn, mode, r)
        return r

    def _loss_backward(self, loss, logits: np.ndarray, r: BackwardRun) -> np.ndarray | None:
        name = "CrossEntropyLoss"
        forward = _safe.call(f"{name}.forward", _safe.method(loss, "forward"), logits.copy(),
                             self.labels.copy())
        if not forward.ok and forward.kind != _safe.NOT_IMPLEMENTED:
            r.messages.append(Message(level_of(forward.kind), forward.message, forward.kind))
        back = _safe.call(f"{name}.backward", _safe.method(loss, "backward"))
        if back.ok:
            back = _safe.check_array(back.value, f"{name}.backward", logits.shape)
        if not back.ok:
            r.messages.append(Message(level_of(back.kind), back.message, back.kind))
            r.grad_notes[-1] = "failed"
            return None
        return np.asarray(back.value, dtype=float)

    def _run_sequential(self, nn, mode: str, r: BackwardRun, chain_layers: list) -> None:
        layers, loss = self._layers(nn, mode), self._loss(nn, mode)
        if not (layers.ok and loss.ok):
            return
        seq = _safe.construct(nn, "Sequential", *layers.value, label="Sequential(...)")
        if not seq.ok:
            r.messages.append(Message(level_of(seq.kind), seq.message, seq.kind))
            r.returned_note = "no Sequential"
            return
        out = _safe.call("Sequential.forward", _safe.method(seq.value, "forward"), self.x.copy())
        if out.ok:
            out = _safe.check_array(out.value, "Sequential.forward", r.shapes[-1])
        if not out.ok:
            # Not this question: run the layers by hand so that each one stores its input.
            r.messages.append(Message("info", "Your Sequential.forward is not usable (" + _safe.clause(out.message) +
                                      ") so the layers were run one by one before Sequential.backward."))
            value = self.x.copy()
            for layer in layers.value:
                step = _safe.call("forward", _safe.method(layer, "forward"), value)
                if not step.ok:
                    r.returned_note = "forward failed"
                    return
                value = np.asarray(step.value, dtype=float)
            out = _safe.Outcome(True, value)
        # The loss's backward works from what its forward stored, whether or not forward returned a loss.
        _safe.call("loss forward", _safe.method(loss.value, "forward"), np.asarray(out.value).copy(),
                   self.labels.copy())
        result = _safe.call("Sequential.backward", _safe.method(seq.value, "backward"), loss.value)
        if result.ok and result.value is None:
            # Allowed: Sequential.backward need not return anything. Its work is the gradients it leaves
            # in the layers, checked below.
            r.returned_nothing, r.returned_note = True, "returned None"
            r.messages.append(Message("info", "Your Sequential.backward returned None: fine, it need not return "
                                      "anything. It is judged by the gradients it left in each layer."))
        else:
            if result.ok:
                result = _safe.check_array(result.value, "Sequential.backward", self.x.shape,
                                           shape_hint="the input X's shape")
            if not result.ok:
                self._unusable_return(r, result)
                return
            self._compare_returned(r, np.asarray(result.value, dtype=float))
        self._compare_stored(r, layers.value, chain_layers)

    def _unusable_return(self, r: BackwardRun, result: _safe.Outcome) -> None:
        message = result.message
        if result.kind == _safe.SHAPE:
            for k, grad in enumerate(r.grads[1:], start=1):
                if grad is not None and grad.shape == np.shape(result.value) and np.allclose(grad, result.value):
                    message += f" It equals the gradient of layer {k}'s output: is layer {k} skipped?"
                    break
        r.messages.append(Message(level_of(result.kind), message, result.kind))
        r.returned_note = "not implemented yet" if result.kind == _safe.NOT_IMPLEMENTED else "failed"
        if result.kind == _safe.SHAPE:
            r.returned_note = shape_note(np.shape(result.value), self.x.shape)

    def _compare_returned(self, r: BackwardRun, returned: np.ndarray) -> None:
        r.returned = returned
        chained = r.grads[0]
        if chained is None:
            r.messages.append(Message("info", f"Sequential.backward returned shape {self.x.shape}; it cannot be "
                                      "compared with the layers called one by one, which failed (see above)."))
            return
        r.differs = ~np.isclose(r.returned, chained, rtol=1e-6, atol=1e-9)
        if r.differs.any():
            r.messages.append(Message("error", self._diagnose(r), _safe.MISMATCH))
        else:
            r.messages.append(Message("ok", f"Sequential.backward returned the same {self.x.shape} gradient as "
                                      f"calling {r.loss_label}.backward() and then the {len(r.names)} layers' "
                                      "backward one by one, last layer first."))

    @staticmethod
    def _compare_stored(r: BackwardRun, layers: list, chain_layers: list) -> None:
        """Every layer must hold what its own backward, called by hand, left: grad_weight and grad_bias
        for a Linear, the gradient it received for a stand-in."""
        compared = 0
        for k, (mine, reference) in enumerate(zip(layers, chain_layers)):
            for attribute in ("grad_weight", "grad_bias", "received"):
                expected = _safe.attribute(reference, attribute)
                if not isinstance(expected, np.ndarray):
                    continue  # this layer keeps no such gradient
                compared += 1
                got = _safe.attribute(mine, attribute)
                what = "received gradient" if attribute == "received" else attribute
                if got is None:
                    r.messages.append(Message(
                        "error", f"After Sequential.backward, layer {k + 1} ({r.names[k]}) has no {what} "
                        "(None): was its backward called?", _safe.NONE))
                    return
                if not _same(got, expected):
                    r.messages.append(Message(
                        "error", f"After Sequential.backward, layer {k + 1} ({r.names[k]}) holds a different "
                        f"{what} than calling the layers one by one gives: was every layer's backward called once, "
                        "with the gradient from the layer after it?", _safe.MISMATCH))
                    return
        if compared and r.returned_nothing:
            r.messages.append(Message("ok", "After Sequential.backward every layer holds the same gradients as "
                                      "when the layers' backward are called one by one, last layer first."))

    @staticmethod
    def _diagnose(r: BackwardRun) -> str:
        wrong = int(r.differs.sum())
        text = (f"Sequential.backward returned a gradient that differs in {wrong} of {r.differs.size} entries from "
                "calling the loss's and the layers' backward one by one (outlined in red and marked ✘).")
        for k, grad in enumerate(r.grads[1:], start=1):
            if grad is not None and grad.shape == r.returned.shape and np.allclose(grad, r.returned):
                return text + f" It equals the gradient of layer {k}'s output: is layer {k} (or one before it) skipped?"
        return text + " Is every layer's backward called once, last layer first, each with the previous result?"

    def _estimate(self, nn, mode: str, r: BackwardRun) -> None:
        layers, loss = self._layers(nn, mode), self._loss(nn, mode)
        if not (layers.ok and loss.ok):
            return
        x = self.x.copy()

        def network_loss() -> float:
            value = x.copy()
            for layer in layers.value:
                value = np.asarray(layer.forward(value), dtype=float)
            checked = _safe.check_number(loss.value.forward(value, self.labels.copy()), "loss", what="a number")
            if not checked.ok:
                raise _safe.Unusable(checked)
            return checked.value

        outcome = _safe.call("the forward pass (for the finite differences)", central_differences, network_loss, x)
        if not outcome.ok:
            return
        r.estimate = outcome.value.estimate
        r.kinks = outcome.value.kinks
        if r.returned_nothing and r.grads[0] is not None:
            # Nothing returned: finite differences still check the chain the view draws.
            if (compare(r.grads[0], r.estimate) & ~r.kinks).any():
                r.messages.append(Message(
                    "info", "Finite differences of the whole network disagree with the chained gradient ∂L/∂X: "
                    "the layers' or the loss's backward is off (questions 2.1 to 2.3)."))
            else:
                r.messages.append(Message("ok", "The chained gradient ∂L/∂X matches finite differences of the "
                                          "network's loss with respect to X."))
        elif r.returned is not None:
            r.estimate_differs = compare(r.returned, r.estimate) & ~r.kinks
            if r.estimate_differs.any() and r.differs is not None and not r.differs.any():
                r.messages.append(Message(
                    "info", "Finite differences of the whole network disagree with the chained gradient: the "
                    "layers' or the loss's backward is off (questions 2.1 to 2.3), not your Sequential."))
            elif not r.estimate_differs.any():
                r.messages.append(Message("ok", "The returned gradient also matches finite differences of the "
                                          "network's loss with respect to X."))

    # -- drawing --------------------------------------------------------
    def _draw(self, r: BackwardRun) -> None:
        depth = len(r.shapes) - 1
        top = [Panel("s0", r.shapes[0])]
        bottom = [Panel("g0", r.shapes[0])]
        for k in range(1, depth + 1):
            name = r.names[k - 1]
            top += [Op(f"{name}\n⟶", _OP, 8), Panel(f"s{k}", r.shapes[k])]
            bottom += [Op(f"⟵\n{name}\n.backward", _OP, 8), Panel(f"g{k}", r.shapes[k])]
        loss_name = "loss" if r.mode == YOURS else "probe\nloss"
        top.append(Op(f"⟶ {loss_name}", _OP, 9))
        bottom.append(Op("⟵ loss\n.backward()", _OP, 8))
        third = [Panel("ret", r.shapes[0]), Op("vs", _OP, 10), Panel("fd", r.shapes[0])]
        r.figure, axes = matrix_rows([top, bottom, third], cell=_CELL, title_height=0.45, bottom=0.2)
        f = r.figure
        for k in range(depth + 1):
            title = "X (input)" if k == 0 else f"after layer {k}"
            panel = fixed_panel(f, axes[f"s{k}"], r.shapes[k], shape_title(title, r.shapes[k]), fontsize=7)
            panel.set(r.stages[k] if k < len(r.stages) else None, message=None if (
                k < len(r.stages) and r.stages[k] is not None) else "not reached")
            r.panels[f"s{k}"] = panel
            gtitle = "∂L/∂X" if k == 0 else f"∂L/∂(after {k})"
            gpanel = fixed_panel(f, axes[f"g{k}"], r.shapes[k], shape_title(gtitle, r.shapes[k]), fontsize=7)
            gpanel.set(r.grads[k], message=r.grad_notes[k] if r.grads[k] is None else None)
            r.panels[f"g{k}"] = gpanel
        ret = fixed_panel(f, axes["ret"], r.shapes[0], shape_title("Sequential.backward", r.shapes[0]), fontsize=7)
        ret.set(r.returned, message=r.returned_note or (None if r.returned is not None else "not available"))
        ret.mark(r.differs)
        r.panels["ret"] = ret
        fd = fixed_panel(f, axes["fd"], r.shapes[0], shape_title("finite differences", r.shapes[0]), fontsize=7)
        fd.set(r.estimate, message=None if r.estimate is not None else "needs a working forward")
        fd.mark(r.kinks, MUTED)
        r.panels["fd"] = fd

    def _draw_standins(self, r: BackwardRun) -> None:
        """Two rows, right to left as the gradient flows: what each layer must receive (the grader's),
        and what your Sequential.backward handed it (mismatches marked)."""
        depth = len(r.shapes) - 1
        top = [Op("must\nreceive", _OP, 9)]
        bottom = [Op("your\nSequential\nhanded", _OP, 9)]
        for k in range(1, depth + 1):
            after = r.names[k].replace(" stand-in", "") if k < depth else ""  # layer k maps m{k+1} to m{k}
            top += [Panel(f"m{k}", r.shapes[k]), Op(f"⟵\n{after}\n.backward", _OP, 8) if k < depth else
                    Op("⟵ loss\n.backward()", _OP, 8)]
            bottom += [Panel(f"y{k}", r.shapes[k]), Op("", _OP)]
        r.figure, axes = matrix_rows([top, bottom], cell=_CELL, title_height=0.45, bottom=0.2)
        f = r.figure
        for k in range(1, depth + 1):
            title = f"layer {k - 1} ({r.names[k - 1].replace(' stand-in', '')})"
            must = fixed_panel(f, axes[f"m{k}"], r.shapes[k], shape_title(title, r.shapes[k]), fontsize=7)
            must.set(r.grads[k])
            r.panels[f"m{k}"] = must
            yours = fixed_panel(f, axes[f"y{k}"], r.shapes[k], shape_title(f"to layer {k - 1}", r.shapes[k]), fontsize=7)
            got = r.received[k - 1] if r.received else None
            yours.set(got, message=None if got is not None else r.received_notes[k - 1])
            yours.mark(r.received_differs[k - 1] if r.received_differs else None)
            r.panels[f"y{k}"] = yours

    def _show_standins(self, r: BackwardRun, position: int) -> str:
        """Highlight the step ``position`` of the judged picture; return its text."""
        depth = len(r.shapes) - 1
        if position == 0:
            r.panels[f"m{depth}"].outline("now", "all", color=HIGHLIGHT)
            self.highlight = {"current": f"m{depth}"}
            return (f"the stand-in loss's backward() gives ∂L/∂(network output), shaped {r.shapes[depth]}: "
                    f"layer {depth - 1}, the last, must receive it.")
        if position <= depth:
            k = depth - position + 1
            r.panels[f"m{k}"].outline("now", "all", color=HIGHLIGHT)
            r.panels[f"y{k}"].outline("in", "all", color=SECOND)
            self.highlight = {"current": f"m{k}", "input": f"y{k}"}
            got = r.received[k - 1] if r.received else None
            wrong = r.received_differs[k - 1] if r.received_differs else None
            state = (f"nothing usable ({r.received_notes[k - 1]})" if got is None else
                     "✘ a different gradient" if wrong is None or wrong.any() else "✔ the right gradient")
            source = "the loss" if k == depth else f"layer {k}'s backward"
            return (f"layer {k - 1} ({r.names[k - 1]}) must receive what {source} returned, shaped {r.shapes[k]} "
                    f"(orange); your Sequential.backward handed it {state} (green).")
        return "the verdict:\n" + (r.messages[0].text if r.messages else "")

    def _activate(self, r: BackwardRun) -> None:
        self.run = r
        self.figure = r.figure
        self.messages = list(r.messages)
        self.show_messages()
        self.stepper.set_count(len(r.shapes) + 1)  # the modes may have different numbers of layers

    @guarded
    def _switch(self, change: dict) -> None:
        self._activate(self.runs[change["new"]])

    @guarded
    def _show(self, position: int) -> None:
        r = self.run
        depth = len(r.shapes) - 1
        position = int(position) % (depth + 2)
        self.stage = position
        for panel in r.panels.values():
            panel.clear_outlines()
        if r.mode == STANDINS:
            self.arithmetic_text = self._show_standins(r, position)
            self.arithmetic.value = text_block(self.arithmetic_text)
            self.render()
            return
        if position == 0:
            r.panels[f"s{depth}"].outline("in", "all", color=SECOND)
            r.panels[f"g{depth}"].outline("now", "all", color=HIGHLIGHT)
            self.highlight = {"input": f"s{depth}", "current": f"g{depth}"}
            text = (f"{r.loss_label}.backward() gives ∂L/∂(network output) (orange), shaped like the output "
                    f"{r.shapes[depth]} (green).")
        elif position <= depth:
            k = depth - position + 1  # the layer whose backward runs now
            r.panels[f"g{k}"].outline("in", "all", color=SECOND)
            r.panels[f"g{k - 1}"].outline("now", "all", color=HIGHLIGHT)
            self.highlight = {"input": f"g{k}", "current": f"g{k - 1}"}
            text = (f"layer {k}: {r.names[k - 1]}.backward maps the gradient {r.shapes[k]} (green) to "
                    f"{r.shapes[k - 1]} (orange), the shape of its own input.")
            if r.grads[k - 1] is None:
                text += f"\nthis gradient has no value: {r.grad_notes[k - 1]}."
        else:
            r.panels["g0"].outline("in", "all", color=SECOND)
            r.panels["ret"].outline("now", "all", color=HIGHLIGHT)
            r.panels["fd"].outline("fd", "all", color=SECOND)
            self.highlight = {"input": "g0", "current": "ret"}
            verdicts = [m.text for m in r.messages if "Sequential.backward" in m.text or "Finite" in m.text
                        or "finite differences" in m.text]
            text = "your Sequential.backward (orange) against the chained gradient and finite differences (green):\n" \
                + ("\n".join(verdicts) if verdicts else "nothing to compare (see above)")
        self.arithmetic_text = text
        self.arithmetic.value = text_block(text)
        self.render()


def _same(got, expected: np.ndarray) -> bool:
    """``got`` is an array equal to ``expected`` (never raises)."""
    try:
        return (isinstance(got, np.ndarray) and got.shape == expected.shape
                and bool(np.allclose(got, expected, rtol=1e-6, atol=1e-9)))
    except Exception:  # noqa: BLE001 - e.g. an array of objects
        return False


def sequential_backward(nn, *, sizes: tuple = (3, 4, 2), batch_size: int = 2, seed: int = 0) -> widgets.Widget:
    """Visualize the student's ``Sequential.backward``: ``viz.sequential_backward(nn)``.

    Args:
        nn: the student's ``mytorch.nn`` module.
        sizes: layer widths of the MLP, input first (Linear, ReLU, ..., Linear).
        batch_size: rows of X.
        seed: seed of the input, the labels and the weights.

    Returns:
        A ``SequentialBackwardViz`` (an ``ipywidgets.VBox``); never raises.
    """
    return safely("sequential_backward", SequentialBackwardViz, nn, sizes=sizes, batch_size=batch_size, seed=seed)
