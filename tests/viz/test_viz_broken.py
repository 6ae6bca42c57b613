"""Every visualizer on broken student code: a clear state in the widget, never an exception.

The fakes (``viz_fakes``) break every student-written method in one way at a time:
not implemented, raising, returning None, returning the wrong shape, returning NaN.
A view's verdict is its question's check, so its state and words are the check's.
After construction every control of the widget is driven once more: still no exception.
"""

from __future__ import annotations

import ipywidgets as widgets
import pytest

from assignment.student import viz
from conftest import is_png
from mytorch import nn as ref_nn
from mytorch import optim as ref_optim
from viz_fakes import MODES, NN_ONLY, broken_nn, broken_optim

# What each mode must read as, and a phrase the status must contain.
EXPECTED = {
    "not_implemented": ("not_implemented", "not implemented yet"),
    "raises": ("error", "exploded on purpose"),
    "none": ("none", "None"),
    "wrong_shape": ("shape", "shape"),
    "nan": ("nan", "NaN"),
}
# Where the question's check words it otherwise: a Sequential that calls nothing, or whose
# return value (which question 2.4 does not judge) is broken, and an SGD.step that does nothing.
OVERRIDES = {
    ("sequential_forward", "none"): ("mismatch", "no layer's forward was called"),
    ("sequential_backward", "none"): ("mismatch", "loss_function.backward() was never called"),
    ("sequential_backward", "wrong_shape"): ("ok", "passes question 2.4's check"),
    ("sequential_backward", "nan"): ("ok", "passes question 2.4's check"),
    ("xeloss_forward", "nan"): ("nan", "nan"),
    ("sgd_step", "none"): ("mismatch", "did not change"),
}


def build(name: str, mode: str):
    if name == "sgd_step":
        return viz.sgd_step(ref_nn, broken_optim(mode))
    if name == "training_dashboard":
        return viz.training_dashboard(broken_nn(mode), broken_optim(mode), epochs=1, autorun=True)
    return getattr(viz, name)(broken_nn(mode))


def drive(widget) -> None:
    """Press every button, move every slider and toggle every choice the widget exposes."""
    seen = set()
    stack = [widget]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, widgets.Button):
            item.click()
        elif isinstance(item, (widgets.IntSlider, widgets.FloatSlider, widgets.FloatLogSlider)):
            item.value = item.max
            item.value = item.min
        elif isinstance(item, (widgets.ToggleButtons, widgets.Dropdown)):
            for option in list(item.options)[::-1]:
                item.value = option[1] if isinstance(option, tuple) else option
        elif isinstance(item, widgets.Play):
            item.value = item.max
        if isinstance(item, widgets.Box):
            stack.extend(item.children)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", NN_ONLY + ("sgd_step",))
def test_broken_code_gives_a_clear_state(name, mode):
    w = build(name, mode)
    assert isinstance(w, widgets.VBox)
    assert type(w).__name__ != "_Failed", w.status_text  # the visualizer itself must cope
    kind, phrase = OVERRIDES.get((name, mode), EXPECTED[mode])
    assert w.state == kind, w.status_text
    assert phrase in w.status_text
    assert "Traceback" not in w.status_text
    assert is_png(w.image.value)
    if mode in ("not_implemented", "wrong_shape", "nan"):  # the other two take the same paths once built
        drive(w)
        assert "The visualizer itself failed" not in w.status_text


@pytest.mark.parametrize("mode", MODES)
def test_broken_code_cannot_train(mode):
    w = build("training_dashboard", mode)
    assert w.history == []
    assert "Cannot train yet" in w.status_text
    assert w.state != "ok"


def test_missing_classes_are_named():
    import types

    w = viz.linear_forward(types.SimpleNamespace())
    assert w.state == "error"  # as the visible test says it
    assert "Linear.forward raised AttributeError" in w.status_text and "'Linear'" in w.status_text
    w = viz.sgd_step(ref_nn, types.SimpleNamespace())
    assert "SGD" in w.status_text and w.state != "ok"


def test_a_bug_in_the_visualizer_is_shown_not_raised(ref, monkeypatch):
    nn, _ = ref
    w = viz.linear_forward(nn)

    def broken(*args, **kwargs):
        raise RuntimeError("drawing failed")

    monkeypatch.setattr(w.panels["X"], "outline", broken)
    w.stepper.press("next")  # no exception
    assert "The visualizer itself failed (RuntimeError: drawing failed)" in w.status_text


def test_bad_arguments_give_a_widget_not_an_exception(ref):
    nn, optim = ref
    w = viz.linear_forward(nn, batch_size="many")
    assert isinstance(w, widgets.Widget)
    assert w.state == "error" and "could not start" in w.status_text
    w = viz.sgd_step(nn, optim, lr=-1)
    assert isinstance(w, widgets.Widget)


def test_endless_loop_is_stopped(monkeypatch):
    import types

    from assignment.student.viz import _safe

    monkeypatch.setattr(_safe, "TIME_LIMIT", 0.3)

    class Forever(ref_nn.Linear):
        def forward(self, x):
            while True:
                pass

    module = types.SimpleNamespace(Linear=Forever)
    w = viz.linear_forward(module)
    assert w.state == "timeout"
    assert "did not finish" in w.status_text


def test_exit_is_caught():
    import types

    class Exits(ref_nn.ReLU):
        def forward(self, x):
            raise SystemExit(1)

    w = viz.relu_forward(types.SimpleNamespace(ReLU=Exits))
    assert w.state == "error" and "SystemExit" in w.status_text


def test_reference_optim_with_reference_nn_is_ok():
    assert viz.sgd_step(ref_nn, ref_optim).state == "ok"
