"""The view of question 2.4: the gradient flowing back stage by stage, for the stand-in layers
(judged: what each must receive above what your Sequential.backward handed it) and for the
student's own layers (the chain by hand and finite differences: notes)."""

from __future__ import annotations

from assignment.student.viz._base import ModesViz, guarded
from assignment.student.viz._layers import STANDINS, YOURS
from assignment.student.viz._plots import HIGHLIGHT, MUTED, SECOND, Op, Panel, fixed_panel, matrix_rows, shape_title
from assignment.student.viz.sequential_backward import BackwardRun, SequentialBackwardProbe

__all__ = ["SequentialBackwardViz"]

_CELL = 0.38
_OP = 1.0


class SequentialBackwardViz(ModesViz):
    """The backward pass of the student's Sequential, stage by stage.

    Fields read by tests (besides the probe's and ``ModesViz``'s):
        run: the ``BackwardRun`` shown (``grads``, ``returned``, ``differs``, ``estimate``...);
            the probe's ``runs`` holds both.
        stepper: walks back: 0 = loss.backward(), k = the k-th layer from the end, last = the comparison.
    """

    heading = "Question 2.4 · Sequential.backward: from the loss back to the input, one layer at a time"
    picture = ("The forward stages of the network and, under them, the gradient flowing back stage by stage with "
               "its shapes; your Sequential.backward result beside finite differences of the whole network")

    def __init__(self, probe: SequentialBackwardProbe) -> None:
        super().__init__(probe)
        for run in probe.runs.values():
            (self._draw if run.mode == YOURS else self._draw_standins)(run)
        self._start(probe.runs, probe.default, "step")

    @property
    def run(self) -> BackwardRun:
        return self.shown

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
        f, axes = matrix_rows([top, bottom, third], cell=_CELL, title_height=0.45, bottom=0.2)
        self.figures[r.mode], panels = f, self.panel_sets.setdefault(r.mode, {})
        for k in range(depth + 1):
            title = "X (input)" if k == 0 else f"after layer {k}"
            panel = fixed_panel(f, axes[f"s{k}"], r.shapes[k], shape_title(title, r.shapes[k]), fontsize=7)
            panel.set(r.stages[k] if k < len(r.stages) else None, message=None if (
                k < len(r.stages) and r.stages[k] is not None) else "not reached")
            panels[f"s{k}"] = panel
            gtitle = "∂L/∂X" if k == 0 else f"∂L/∂(after {k})"
            gpanel = fixed_panel(f, axes[f"g{k}"], r.shapes[k], shape_title(gtitle, r.shapes[k]), fontsize=7)
            gpanel.set(r.grads[k], message=r.grad_notes[k] if r.grads[k] is None else None)
            panels[f"g{k}"] = gpanel
        ret = fixed_panel(f, axes["ret"], r.shapes[0], shape_title("Sequential.backward", r.shapes[0]), fontsize=7)
        ret.set(r.returned, message=r.returned_note or (None if r.returned is not None else "not available"))
        ret.mark(r.differs)
        panels["ret"] = ret
        fd = fixed_panel(f, axes["fd"], r.shapes[0], shape_title("finite differences", r.shapes[0]), fontsize=7)
        fd.set(r.estimate, message=None if r.estimate is not None else "needs a working forward")
        fd.mark(r.kinks, MUTED)
        panels["fd"] = fd

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
        f, axes = matrix_rows([top, bottom], cell=_CELL, title_height=0.45, bottom=0.2)
        self.figures[r.mode], panels = f, self.panel_sets.setdefault(r.mode, {})
        for k in range(1, depth + 1):
            title = f"layer {k - 1} ({r.names[k - 1].replace(' stand-in', '')})"
            must = fixed_panel(f, axes[f"m{k}"], r.shapes[k], shape_title(title, r.shapes[k]), fontsize=7)
            must.set(r.grads[k])
            panels[f"m{k}"] = must
            yours = fixed_panel(f, axes[f"y{k}"], r.shapes[k], shape_title(f"to layer {k - 1}", r.shapes[k]), fontsize=7)
            got = r.received[k - 1] if r.received else None
            yours.set(got, message=None if got is not None else r.received_notes[k - 1])
            yours.mark(r.received_differs[k - 1] if r.received_differs else None)
            panels[f"y{k}"] = yours

    def _show_standins(self, r: BackwardRun, position: int) -> str:
        """Highlight the step ``position`` of the judged picture; return its text."""
        panels = self.panels
        depth = len(r.shapes) - 1
        if position == 0:
            panels[f"m{depth}"].outline("now", "all", color=HIGHLIGHT)
            self.highlight = {"current": f"m{depth}"}
            return (f"the stand-in loss's backward() gives ∂L/∂(network output), shaped {r.shapes[depth]}: "
                    f"layer {depth - 1}, the last, must receive it.")
        if position <= depth:
            k = depth - position + 1
            panels[f"m{k}"].outline("now", "all", color=HIGHLIGHT)
            panels[f"y{k}"].outline("in", "all", color=SECOND)
            self.highlight = {"current": f"m{k}", "input": f"y{k}"}
            got = r.received[k - 1] if r.received else None
            wrong = r.received_differs[k - 1] if r.received_differs else None
            state = (f"nothing usable ({r.received_notes[k - 1]})" if got is None else
                     "✘ a different gradient" if wrong is None or wrong.any() else "✔ the right gradient")
            source = "the loss" if k == depth else f"layer {k}'s backward"
            return (f"layer {k - 1} ({r.names[k - 1]}) must receive what {source} returned, shaped {r.shapes[k]} "
                    f"(orange); your Sequential.backward handed it {state} (green).")
        return "the verdict:\n" + (r.messages[0].text if r.messages else "")

    @guarded
    def _show(self, position: int) -> None:
        r, panels = self.shown, self.panels
        depth = len(r.shapes) - 1
        position = int(position) % (depth + 2)
        self.stage = position
        for panel in panels.values():
            panel.clear_outlines()
        if r.mode == STANDINS:
            self._say(self._show_standins(r, position))
            return
        if position == 0:
            panels[f"s{depth}"].outline("in", "all", color=SECOND)
            panels[f"g{depth}"].outline("now", "all", color=HIGHLIGHT)
            self.highlight = {"input": f"s{depth}", "current": f"g{depth}"}
            text = (f"{r.loss_label}.backward() gives ∂L/∂(network output) (orange), shaped like the output "
                    f"{r.shapes[depth]} (green).")
        elif position <= depth:
            k = depth - position + 1  # the layer whose backward runs now
            panels[f"g{k}"].outline("in", "all", color=SECOND)
            panels[f"g{k - 1}"].outline("now", "all", color=HIGHLIGHT)
            self.highlight = {"input": f"g{k}", "current": f"g{k - 1}"}
            text = (f"layer {k}: {r.names[k - 1]}.backward maps the gradient {r.shapes[k]} (green) to "
                    f"{r.shapes[k - 1]} (orange), the shape of its own input.")
            if r.grads[k - 1] is None:
                text += f"\nthis gradient has no value: {r.grad_notes[k - 1]}."
        else:
            panels["g0"].outline("in", "all", color=SECOND)
            panels["ret"].outline("now", "all", color=HIGHLIGHT)
            panels["fd"].outline("fd", "all", color=SECOND)
            self.highlight = {"input": "g0", "current": "ret"}
            verdicts = [m.text for m in r.messages if "Sequential.backward" in m.text or "Finite" in m.text
                        or "finite differences" in m.text]
            text = "your Sequential.backward (orange) against the chained gradient and finite differences (green):\n" \
                + ("\n".join(verdicts) if verdicts else "nothing to compare (see above)")
        self._say(text)
