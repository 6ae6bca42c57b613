"""Question 3 (sgd_step): parameters, gradients and the parameters after the
student's SGD.step side by side, with a learning-rate slider; and the paths
the student's SGD takes on a two-parameter loss surface for a too small, a
good and a too large learning rate.

The verdict is question 3's check on this view's case at the slider's learning
rate: one step of a network Linear, ReLU, Linear (float32), so an SGD.step that
gives the ReLU parameters, stops at the first Linear or changes the dtype shows it."""

from __future__ import annotations

import types

import ipywidgets as widgets
import numpy as np

from assignment.viz import _safe
from assignment.viz._controls import RangeSlider
from assignment.viz._base import Visualizer, guarded, level_of, safely, text_block
from assignment.viz._data import tenths
from assignment.viz._plots import FastText, MatrixPanel, Op, Panel, fixed_panel, fmt, matrix_rows, shape_title
from assignment.questions import _definitions
from assignment.questions._compare import entry_differs
from assignment.viz._judge import build_linear, judge, listed

__all__ = ["SgdStepViz", "sgd_step", "bowl", "bowl_gradient"]

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


class SgdStepViz(Visualizer):
    """The student's SGD.step on a tiny Linear layer and on a toy loss surface.

    Fields read by tests:
        lr_slider: the named log-scale slider (RangeSlider) of the learning rate used in the side-by-side view.
        weight, grad_weight, bias, grad_bias: the seeded parameters and gradients (float32).
        new_weight, new_bias: the parameters after the student's step (None if unusable).
        ratio_weight, ratio_bias: (new - old) / (-grad), which must equal lr everywhere.
        paths: label -> (steps+1, 2) array of (w1, w2) visited by the student's SGD on the bowl
            (fewer rows if it stopped); ``path_lrs`` label -> lr; the slider's path is labelled "slider".
        step_text: the verdict line under the figure.
    """

    heading = "Question 3 · SGD.step: W ← W − lr · ∂L/∂W,  b ← b − lr · ∂L/∂b"
    picture = ("W, its gradient, W after your SGD.step and (W_new − W)/(−grad), which must read lr, as labelled heatmaps; beside them a two-weight loss surface with the paths of your SGD.step for a too small, a good, a too large and the slider's learning rate")

    def __init__(self, nn, optim, *, lr: float = 0.1, seed: int = 0) -> None:
        super().__init__()
        self.nn, self.optim = nn, optim
        rng = np.random.default_rng(seed)
        self.weight = tenths(rng, (3, 2))
        self.bias = tenths(rng, (1, 2))
        self.grad_weight = tenths(rng, (3, 2), avoid_zero=0.1)
        self.grad_bias = tenths(rng, (1, 2), avoid_zero=0.1)
        # The network's second Linear, after a ReLU: the picture shows the first one.
        self.second = {"weight": tenths(rng, (2, 2)), "bias": tenths(rng, (1, 2)),
                       "grad_weight": tenths(rng, (2, 2), avoid_zero=0.1), "grad_bias": tenths(rng, (1, 2), avoid_zero=0.1)}
        self.judgement = None
        self._reload_warning = ""
        self.new_weight = self.new_bias = None
        self.ratio_weight = self.ratio_bias = None
        self.paths: dict[str, np.ndarray] = {}
        self.path_lrs: dict[str, float] = {}
        self.step_text = ""
        self._path_messages: dict[str, str] = {}

        self.lr_slider = RangeSlider(value=float(lr), min=-3, max=0.5, step=0.05, log=True,
                                     description="learning rate lr", readout_format="3g")
        self.step_html = widgets.HTML()
        self._layout()
        self._check_reload()
        for label, value, _ in PATHS:
            self.paths[label], self._path_messages[label] = self._descend(value)
            self.path_lrs[label] = value
        self._update(float(lr), first=True)
        self.lr_slider.observe(self._lr_changed, names="value")
        legend = widgets.HTML(
            '<span style="color:#777">right column: how far each entry moved per unit of −gradient; SGD moves every '
            'entry by exactly lr × its gradient, so it should read lr everywhere (red outline where it does not).'
            '</span>')
        self.children = [self.header, self.status, self.lr_slider, self.image, self.step_html, legend]

    # -- layout -----------------------------------------------------------
    def _layout(self) -> None:
        rows = [
            [Panel("W", (3, 2)), Op("", 0.35), Panel("gW", (3, 2)), Op("⟶ step ⟶", 1.1, 9), Panel("nW", (3, 2)),
             Op("", 0.5), Panel("rW", (3, 2))],
            [Panel("b", (1, 2)), Op("", 0.35), Panel("gb", (1, 2)), Op("⟶ step ⟶", 1.1, 9), Panel("nb", (1, 2)),
             Op("", 0.5), Panel("rb", (1, 2))],
        ]
        self.figure, axes = matrix_rows(rows, extra_height=3.5, min_width=8.6)
        f = self.figure
        self.panels = {
            "W": fixed_panel(f, axes["W"], (3, 2), shape_title("W = weight", (3, 2))),
            "gW": fixed_panel(f, axes["gW"], (3, 2), shape_title("grad_weight", (3, 2))),
            "nW": MatrixPanel(f, axes["nW"], (3, 2), shape_title("W after your step", (3, 2))),
            "rW": MatrixPanel(f, axes["rW"], (3, 2), "(W_new − W) / (−grad)\nshould be lr", cmap="Greens",
                              symmetric=False, limits=(0, 2.0), digits=3),
            "b": fixed_panel(f, axes["b"], (1, 2), shape_title("b = bias", (1, 2))),
            "gb": fixed_panel(f, axes["gb"], (1, 2), shape_title("grad_bias", (1, 2))),
            "nb": MatrixPanel(f, axes["nb"], (1, 2), shape_title("b after your step", (1, 2))),
            "rb": MatrixPanel(f, axes["rb"], (1, 2), "(b_new − b) / (−grad)", cmap="Greens", symmetric=False,
                              limits=(0, 2.0), digits=3),
        }
        for name, value in (("W", self.weight), ("gW", self.grad_weight), ("b", self.bias), ("gb", self.grad_bias)):
            self.panels[name].set(value)
        width, height = f.fig.get_size_inches()
        ax = f.fig.add_axes((0.65 / width, 0.45 / height, 4.3 / width, 2.75 / height))
        x1, x2, y1, y2 = BOX
        g1, g2 = np.meshgrid(np.linspace(x1, x2, 121), np.linspace(y1, y2, 81))
        ax.contourf(g1, g2, bowl(g1, g2), levels=np.geomspace(0.02, 40, 16), cmap="Greys", alpha=0.35)
        ax.contour(g1, g2, bowl(g1, g2), levels=np.geomspace(0.02, 40, 16), colors="#999999", linewidths=0.5)
        ax.plot([0], [0], marker="*", color="black", ms=10)
        ax.plot([START[0]], [START[1]], marker="o", color="black", ms=5)
        ax.set_xlim(x1, x2)
        ax.set_ylim(y1, y2)
        ax.set_xlabel("w1 = weight[0, 0]", fontsize=8)
        ax.set_ylabel("w2 = weight[1, 0]", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_title(f"your SGD on the loss (w1² + {C:g}·w2²) / 2, {STEPS} steps from {START}", fontsize=8.5)
        self.surface_axes = ax
        self._lines = {}
        for label, value, colour in PATHS:
            (line,) = ax.plot([], [], "-o", color=colour, lw=1.6, ms=2.5, label=f"lr = {value:g} ({label})")
            self._lines[label] = f.value(line)
        (line,) = ax.plot([], [], "--", color="black", lw=1.2, label="lr = slider")
        self._lines["slider"] = f.value(line)
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)
        # One single-line text per path: single lines take the fast (cached bitmap) way.
        self._path_texts = []
        for k in range(len(PATHS) + 1):
            text = FastText(5.2 / width, (1.3 - 0.22 * k) / height, "", fontsize=8, ha="left", va="center",
                            color="#333333", transform=f.fig.transFigure)
            f.fig.add_artist(text)
            self._path_texts.append(f.value(text))

    # -- the student's code -----------------------------------------------
    def _check_reload(self) -> None:
        optim_linear = _safe.attribute(self.optim, "Linear")
        nn_linear = _safe.attribute(self.nn, "Linear")
        if isinstance(optim_linear, type) and isinstance(nn_linear, type) and optim_linear is not nn_linear:
            self._reload_warning = ("mytorch.optim refers to a different Linear class than the nn module given "
                                    "here (was one of them reloaded?). SGD would skip these layers: restart the "
                                    "kernel, or reload mytorch.nn and then mytorch.optim.")

    def _optimizer(self, layer, lr: float) -> _safe.Outcome:
        # All the given SGD.__init__ reads is model.layers; a ReLU after the Linear, as in any network.
        relu = _safe.construct(self.nn, "ReLU", label="ReLU()")
        model = types.SimpleNamespace(layers=[layer] + ([relu.value] if relu.ok else []))
        return _safe.call(f"optim.SGD(model, lr={lr:.3g})", _safe.attribute(self.optim, "SGD"), model, lr=lr)

    def case(self, lr: float) -> dict:
        """Question 3's case of this view: one step of Linear(3, 2), ReLU, Linear(2, 2) with learning rate ``lr``."""
        first = {"weight": self.weight, "bias": self.bias, "grad_weight": self.grad_weight, "grad_bias": self.grad_bias}
        linears = (first, self.second)
        return {
            "layers": [{"kind": "Linear", "weight": listed(first["weight"]), "bias": listed(first["bias"])},
                       {"kind": "ReLU"},
                       {"kind": "Linear", "weight": listed(self.second["weight"]), "bias": listed(self.second["bias"])}],
            "steps": [[{"grad_weight": listed(p["grad_weight"]), "grad_bias": listed(p["grad_bias"])} for p in linears]],
            "lr": float(lr), "dtype": "float32",
            "expected": [[{name: listed(_definitions.sgd_update(p[name], p["grad_" + name], lr))
                           for name in ("weight", "bias")} for p in linears]],
        }

    def _descend(self, lr: float) -> tuple[np.ndarray, str]:
        """The points the student's SGD visits on the bowl, from START, with learning rate lr."""
        weight = np.array([[START[0]], [START[1]]])
        made = build_linear(self.nn, weight, np.zeros((1, 1)))
        if not made.ok:
            return np.array([START]), made.message
        layer = made.value
        optimizer = self._optimizer(layer, lr)
        if not optimizer.ok:
            return np.array([START]), optimizer.message
        step = _safe.method(optimizer.value, "step")
        points = [START]
        for _ in range(STEPS):
            w1, w2 = points[-1]
            d1, d2 = bowl_gradient(w1, w2)
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

    # -- updating ----------------------------------------------------------
    def _update(self, lr: float, first: bool = False) -> None:
        self.judgement = judge("sgd_step", self.nn, self.optim, self.case(lr))
        self.new_weight = self.new_bias = self.ratio_weight = self.ratio_bias = None
        after = self.judgement.outputs["after"][0][0] if self.judgement.outputs is not None else None
        for key, old, grad, new_name, ratio_name in (("weight", self.weight, self.grad_weight, "nW", "rW"),
                                                     ("bias", self.bias, self.grad_bias, "nb", "rb")):
            checked = _safe.check_array(after[key] if after else None, f"Linear.{key} after SGD.step", old.shape,
                                        verb="is")
            if not checked.ok and checked.kind != _safe.NAN:
                note = "not implemented yet" if self.judgement.kind == _safe.NOT_IMPLEMENTED else (
                    "failed" if after is None else "unusable")
                self.panels[new_name].set(None, message=note)
                self.panels[new_name].mark(None)
                self.panels[ratio_name].set(None, message="")
                self.panels[ratio_name].mark(None)
                continue
            new = np.asarray(checked.value)
            wrong = entry_differs(new, _definitions.sgd_update(old, grad, lr))
            with np.errstate(all="ignore"):
                ratio = (new.astype(float) - old.astype(float)) / (-grad.astype(float))
            setattr(self, f"new_{key}", new)
            setattr(self, f"ratio_{key}", ratio)
            self.panels[new_name].set(new)
            self.panels[new_name].mark(wrong)
            self.panels[ratio_name].set(ratio)
            self.panels[ratio_name].mark(wrong)
        if self.judgement.passed:
            self.step_text = ("every parameter of both Linear layers moved by lr × its gradient, against it; the ReLU "
                              "was left alone and the dtype float32 kept (question 3's check passes).")
        else:
            self.step_text = " ".join(self.judgement.problems)
        self.step_html.value = text_block(f"lr = {lr:.3g}:  " + self.step_text, colour="#2ca02c")
        self.messages, self.judgements = [], []
        self.note_verdict(self.judgement, f"SGD.step passes question 3's check at lr = {lr:.3g} on a network "
                          "Linear(3, 2), ReLU, Linear(2, 2): every parameter moved by lr × its gradient, against it; "
                          "the ReLU left alone; float32 kept.")
        if self._reload_warning:
            self.note("warn", self._reload_warning)
        self.paths["slider"], self._path_messages["slider"] = self._descend(lr)
        self.path_lrs["slider"] = lr
        for label, line in self._lines.items():
            points = self.paths.get(label)
            if points is not None:
                line.set_data(points[:, 0], points[:, 1])
        lines = self._paths_summary().split("\n")
        for k, text in enumerate(self._path_texts):
            text.set_text(lines[k] if k < len(lines) else "")
        problems = {m for m in self._path_messages.values() if m}
        for text in sorted(problems):
            self.note("info", "On the surface: " + text)
        self.show_messages()
        self.render()

    def _paths_summary(self) -> str:
        lines = []
        for label in [p[0] for p in PATHS] + ["slider"]:
            points = self.paths.get(label)
            lr = self.path_lrs.get(label)
            if points is None or lr is None:
                continue
            start, end = bowl(*points[0]), bowl(*points[-1])
            if self._path_messages.get(label):
                how = "stopped: see above"
            elif not np.isfinite(end) or end > start:
                how = f"diverges: loss {fmt(start)} → {fmt(end)}"
            elif end > 0.1 * start:
                how = f"crawls: loss {fmt(start)} → {fmt(end)}"
            else:
                how = f"converges: loss {fmt(start)} → {fmt(end, 3)}"
            name = "slider" if label == "slider" else label
            lines.append(f"lr = {lr:.3g} ({name}): {how}")
        return "\n".join(lines)

    @guarded
    def _lr_changed(self, change: dict) -> None:
        self._update(float(change["new"]))


def sgd_step(nn, optim, *, lr: float = 0.1, seed: int = 0) -> widgets.Widget:
    """Visualize the student's ``SGD.step``: ``viz.sgd_step(nn, optim)``.

    Args:
        nn: the student's ``mytorch.nn`` module (its ``Linear`` holds the parameters).
        optim: the student's ``mytorch.optim`` module.
        lr: the slider's initial learning rate.
        seed: seed of the parameters and gradients.

    Returns:
        An ``SgdStepViz`` (an ``ipywidgets.VBox``); never raises.
    """
    return safely("sgd_step", SgdStepViz, nn, optim, lr=lr, seed=seed)
