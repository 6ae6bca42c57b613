"""Question 2.4 (sequential_backward): the gradient flowing back from the loss through every
layer, each stage with its shape.

``probe`` gives question 2.4's verdict on the view's case (the student's Sequential wired to the
questions' computing stand-in layers and loss, each layer's received gradient held against what
the grader's code recomputes) and a second run of the student's own Linear, ReLU and
CrossEntropyLoss through their Sequential (the chain by hand, the stored gradients, finite
differences of the whole network: notes only, the layers and the loss are judged by their own
questions); ``sequential_backward`` shows both (``views/sequential_backward.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from assignment.shared.questions._compare import entry_differs
from assignment.shared.questions._standins import network
from assignment.student.viz import _safe
from assignment.student.viz._data import labels as seeded_labels
from assignment.student.viz._data import tenths
from assignment.student.viz._fd import central_differences
from assignment.student.viz._judge import Verdict, judge
from assignment.student.viz._layers import (STANDIN_TEXT, STANDINS, YOURS, calls_note, combine, layer_name, role_names,
                                    stage_shapes, standin_case, student_layers)
from assignment.student.viz._probe import Message, Probe, level_of, shape_note
from assignment.student.viz._show import entry

__all__ = ["BackwardRun", "SequentialBackwardProbe", "probe", "sequential_backward"]


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


@dataclass(kw_only=True)
class SequentialBackwardProbe(Probe):
    """Question 2.4's verdict and both runs.

    Fields:
        x, labels: the seeded input (float64) and labels; ``params`` each Linear's (weight, bias).
        judgement: question 2.4's verdict on the stand-in case.
        runs: both runs, by mode; ``default`` the mode shown first.
    """

    x: np.ndarray
    labels: np.ndarray
    params: list
    sizes: tuple
    judgement: Verdict
    runs: dict[str, BackwardRun] = field(default_factory=dict)
    default: str = STANDINS


class _Runs:
    """Both runs of the probe on one network (the student's code is called through ``_safe`` only)."""

    def __init__(self, nn: Any, found: SequentialBackwardProbe) -> None:
        self.nn, self.x, self.labels, self.params = nn, found.x, found.labels, found.params
        self.sizes, self.case, self.judgement = found.sizes, found.case, found.judgement

    def _layers(self, nn, mode: str) -> _safe.Outcome:
        return student_layers(nn, self.params)

    def _loss(self, nn, mode: str) -> _safe.Outcome:
        return _safe.construct(nn, "CrossEntropyLoss", label="CrossEntropyLoss()")

    def run_standins(self) -> BackwardRun:
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
            r.messages += calls_note("sequential_backward", self.case, outputs, "backward")
        return r

    def run(self, nn, mode: str) -> BackwardRun:
        r = BackwardRun(mode)
        r.shapes, r.loss_label = stage_shapes(self.sizes, self.x.shape[0]), "CrossEntropyLoss"
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
            if (entry_differs(r.grads[0], r.estimate) & ~r.kinks).any():
                r.messages.append(Message(
                    "info", "Finite differences of the whole network disagree with the chained gradient ∂L/∂X: "
                    "the layers' or the loss's backward is off (questions 2.1 to 2.3)."))
            else:
                r.messages.append(Message("ok", "The chained gradient ∂L/∂X matches finite differences of the "
                                          "network's loss with respect to X."))
        elif r.returned is not None:
            r.estimate_differs = entry_differs(r.returned, r.estimate) & ~r.kinks
            if r.estimate_differs.any() and r.differs is not None and not r.differs.any():
                r.messages.append(Message(
                    "info", "Finite differences of the whole network disagree with the chained gradient: the "
                    "layers' or the loss's backward is off (questions 2.1 to 2.3), not your Sequential."))
            elif not r.estimate_differs.any():
                r.messages.append(Message("ok", "The returned gradient also matches finite differences of the "
                                          "network's loss with respect to X."))


def _same(got, expected: np.ndarray) -> bool:
    """``got`` is an array equal to ``expected`` (never raises)."""
    try:
        return (isinstance(got, np.ndarray) and got.shape == expected.shape
                and bool(np.allclose(got, expected, rtol=1e-6, atol=1e-9)))
    except Exception:  # noqa: BLE001 - e.g. an array of objects
        return False


def probe(nn, optim=None, *, sizes: tuple = (3, 4, 2), batch_size: int = 2, seed: int = 0) -> SequentialBackwardProbe:
    """Question 2.4's check on a stand-in network of ``sizes``, and a run of the student's own layers and loss.

    Args:
        nn: the student's ``mytorch.nn`` module; ``optim`` is not used.
        sizes: layer widths of the MLP, input first (Linear, ReLU, ..., Linear).
        batch_size: rows of X.
        seed: seed of the input, the labels, the weights and the stand-ins.

    Returns:
        A ``SequentialBackwardProbe``.
    """
    sizes = tuple(int(s) for s in sizes)
    # Offset 1: with it no hidden value of the default network sits near ReLU's kink and no gradient
    # row vanishes by a coincidence of the tenths (kinks are detected and skipped anyway).
    rng = np.random.default_rng(seed + 1)
    n = int(batch_size)
    x = tenths(rng, (n, sizes[0]), low=-2, high=2, avoid_zero=0.1, dtype=np.float64)
    params = [(tenths(rng, (a, b), dtype=np.float64), tenths(rng, (1, b), dtype=np.float64))
              for a, b in zip(sizes[:-1], sizes[1:])]
    labels = seeded_labels(rng, n, sizes[-1])
    case = standin_case(sizes, x, seed, batch=True)
    judgement = judge("sequential_backward", nn, None, case)
    found = SequentialBackwardProbe(x=x, labels=labels, params=params, sizes=sizes, case=case, judgement=judgement,
                                    judgements=[judgement])
    runs = _Runs(nn, found)
    yours, standins = runs.run(nn, YOURS), runs.run_standins()
    ready = all(g is not None for g in yours.grads) and bool(yours.grads)
    found.runs = combine(
        found, yours, standins, ready, f"Sequential.backward passes question 2.4's check on a network of "
        f"{len(case['layers'])} {STANDIN_TEXT}: loss_function.backward() once, then every layer's backward, last to "
        "first, each given the gradient the layer after it returned.", "With your own layers: ",
        "Your layers cannot run backward yet, so the picture shows the stand-in layers the tests use.")
    return found


sequential_backward = entry("sequential_backward", "SequentialBackwardViz", probe, takes_optim=False,
                            what="the student's ``Sequential.backward``")
