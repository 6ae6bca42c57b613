"""The view of question 1.3: the pipeline X → layer → ... with every stage's shape, for the
stand-in layers (judged) and for the student's own layers (notes)."""

from __future__ import annotations

from assignment.student.viz._base import ModesViz, guarded
from assignment.student.viz._plots import HIGHLIGHT, SECOND, Op, Panel, fixed_panel, matrix_rows, shape_title
from assignment.student.viz.sequential_forward import Pipeline, SequentialForwardProbe

__all__ = ["SequentialForwardViz"]

_CELL = 0.4


class SequentialForwardViz(ModesViz):
    """The student's Sequential.forward against calling its layers one by one.

    Fields read by tests (besides the probe's and ``ModesViz``'s):
        pipeline: the ``Pipeline`` shown (``stages``, ``output``, ``differs``...).
        stepper: walks the stages (0 = X, k = after layer k, last = the comparison).
    """

    heading = "Question 1.3 · Sequential.forward: each layer's output is the next layer's input"
    picture = ("The pipeline from X through each layer to the output, every stage as a heatmap with its shape, "
               "your Sequential.forward output beside the layers called one by one")

    def __init__(self, probe: SequentialForwardProbe) -> None:
        super().__init__(probe)
        for pipeline in probe.pipelines.values():
            self._draw(pipeline)
        self._start(probe.pipelines, probe.default, "stage")

    @property
    def pipeline(self) -> Pipeline:
        return self.shown

    def _draw(self, p: Pipeline) -> None:
        """Draw run ``p``: its stages in a row, your Sequential's output under the last one."""
        row = [Panel("s0", p.shapes[0])]
        for k, name in enumerate(p.names):
            row += [Op(f"{name}\n⟶", 1.05, 8.5), Panel(f"s{k + 1}", p.shapes[k + 1])]
        offset = sum(0.25 + item.shape[1] * _CELL if isinstance(item, Panel) else item.width for item in row[:-1])
        label_width = min(2.4, offset)
        second = [Op("", offset - label_width), Op("your Sequential.forward(X)  ⟶", label_width, 9),
                  Panel("seq", p.shapes[-1])]
        figure, axes = matrix_rows([row, second], cell=_CELL)
        panels = self.panel_sets[p.mode] = {}
        self.figures[p.mode] = figure
        for k, shape in enumerate(p.shapes):
            title = "X (input)" if k == 0 else f"after layer {k}"
            panel = fixed_panel(figure, axes[f"s{k}"], shape, shape_title(title, shape), fontsize=7.5)
            panel.set(p.stages[k], message=p.stage_notes[k])
            panels[f"s{k}"] = panel
        seq = fixed_panel(figure, axes["seq"], p.shapes[-1], shape_title("Sequential.forward(X)", p.shapes[-1]),
                          fontsize=7.5)
        seq.set(p.output, message=p.output_note)
        seq.mark(p.differs)
        panels["seq"] = seq

    @guarded
    def _show(self, position: int) -> None:
        p, panels = self.shown, self.panels
        last = len(p.shapes) - 1
        position = int(position) % (last + 2)
        self.stage = position
        for panel in panels.values():
            panel.clear_outlines()
        self.highlight = {}
        if position == 0:
            panels["s0"].outline("now", "all", color=HIGHLIGHT)
            self.highlight = {"current": "s0"}
            text = f"X, shape {p.shapes[0]}, goes into layer 1 ({p.names[0] if p.names else '?'})."
        elif position <= last:
            panels[f"s{position - 1}"].outline("in", "all", color=SECOND)
            panels[f"s{position}"].outline("now", "all", color=HIGHLIGHT)
            self.highlight = {"input": f"s{position - 1}", "current": f"s{position}"}
            name = p.names[position - 1]
            text = (f"layer {position}: {name}.forward maps {p.shapes[position - 1]} (green) to "
                    f"{p.shapes[position]} (orange).")
            if p.stages[position] is None:
                text += f"\nthis stage has no value: {p.stage_notes[position]}."
            if position == last:
                text += "\nthis is the network's output: Sequential.forward(X) must return it."
        else:
            panels[f"s{last}"].outline("in", "all", color=SECOND)
            panels["seq"].outline("now", "all", color=HIGHLIGHT)
            self.highlight = {"input": f"s{last}", "current": "seq"}
            verdict = p.messages[0].text if p.messages else ""
            text = "your Sequential.forward(X) (orange) against the layers called one by one (green):\n" + verdict
        self._say(text)
