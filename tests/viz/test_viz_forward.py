"""The forward visualizers (questions 1.1 to 1.4) on the reference mytorch and on faulty variants."""

from __future__ import annotations

import numpy as np
import pytest

from assignment.student import viz
from conftest import is_png
from mytorch import nn as ref_nn
from viz_fakes import with_class


# -- Linear.forward ------------------------------------------------------------------------------

def test_linear_forward_reference_is_ok_and_shows_the_students_output(ref):
    nn, _ = ref
    w = viz.linear_forward(nn)
    assert w.state == "ok", w.status_text
    assert "all 6 entries" in w.status_text
    layer = nn.Linear(4, 2)
    layer.weight, layer.bias = w.weight, w.bias
    np.testing.assert_allclose(w.output, layer.forward(w.x), rtol=1e-6)
    assert w.output.dtype == np.float32
    assert not w.differs.any()
    assert is_png(w.image.value)


def test_linear_forward_stepper_highlights_row_column_and_bias(ref):
    nn, _ = ref
    w = viz.linear_forward(nn)
    assert w.entry == (0, 0)
    first_png = w.image.value
    w.stepper.press("next")
    assert w.entry == (0, 1)
    assert w.highlight == {"X_row": 0, "W_col": 1, "b_col": 1, "Out_cell": (0, 1)}
    assert w.image.value != first_png  # the outline moved
    w.stepper.press("next")
    assert w.entry == (1, 0)
    # the outline rectangles sit on row 1 of X and on column 0 of W
    x_rect = w.panels["X"]._outlines["step"]
    assert x_rect.get_visible() and x_rect.get_y() == pytest.approx(0.5) and x_rect.get_height() == 1
    w_rect = w.panels["W"]._outlines["step"]
    assert w_rect.get_x() == pytest.approx(-0.5) and w_rect.get_width() == 1
    # the arithmetic uses the student's value
    assert f"{w.output[1, 0]:.4f}" in w.arithmetic_text
    assert "✔ same" in w.arithmetic_text
    w.stepper.press("prev")
    assert w.entry == (0, 1)
    w.stepper.press("reset")
    assert w.entry == (0, 0)


def test_linear_forward_play_ticks_move_the_entry_and_stop_at_the_end(ref):
    nn, _ = ref
    w = viz.linear_forward(nn)
    w.stepper.controls.value = 5  # the slider, as the front end sets it
    assert w.entry == (2, 1)
    w.stepper.controls.value = 2
    w.stepper.press("next")
    w.stepper.press("next")
    w.stepper.press("next")
    w.stepper.press("next")
    assert w.entry == (0, 0)  # wraps around after the 6th entry
    w.stepper.press("play")
    assert w.stepper.controls.playing
    w.stepper.press("tick")  # what Play's timer sends
    assert w.entry == (0, 1)
    w.stepper.press("repeat")  # off: playing stops at the last entry
    assert not w.stepper.controls.repeat
    for _ in range(6):
        w.stepper.press("tick")
    assert w.entry == (2, 1) and not w.stepper.controls.playing
    w.stepper.press("play")
    w.stepper.press("stop")
    assert w.entry == (0, 0) and not w.stepper.controls.playing


def test_linear_forward_flags_the_entries_that_differ():
    class Off(ref_nn.Linear):
        def forward(self, x):
            out = ref_nn.Linear.forward(self, x).copy()
            out[1, 0] += 1
            return out

    w = viz.linear_forward(with_class(Linear=Off))
    assert w.state == "mismatch"
    assert w.status_text.startswith("Linear.forward's output differs from the expected values: 1 of 6 entries "
                                    "differ: at (1, 0)")  # question 1.1's check, in its words
    assert "1 of 6 entries" in w.status_text and "(1, 0)" in w.status_text
    assert w.differs.tolist() == [[False, False], [True, False], [False, False]]
    rect, sign = w.panels["Out"]._marks[(1, 0)]
    assert rect.get_visible() and sign.get_text() == "✘"
    w.stepper.controls.value = 2
    assert "✘ differs" in w.arithmetic_text


def test_linear_forward_other_sizes(ref):
    nn, _ = ref
    w = viz.linear_forward(nn, batch_size=2, in_features=3, out_features=4, seed=3)
    assert w.state == "ok"
    assert w.stepper.count == 8


# -- ReLU.forward ----------------------------------------------------------------------------------

def test_relu_forward_shows_mask_and_output(ref):
    nn, _ = ref
    w = viz.relu_forward(nn)
    assert w.state == "ok", w.status_text
    assert (w.x == 0).sum() == 1  # the kink is in the picture
    np.testing.assert_array_equal(w.output, np.maximum(w.x, 0))
    np.testing.assert_array_equal(w.mask, (w.x > 0).astype(np.float32))
    w.stepper.controls.value = 5
    assert w.entry == (1, 1)
    assert all(w.highlight[key] == (1, 1) for key in w.highlight)
    assert "max(0, 0) = 0" in w.arithmetic_text


def test_relu_forward_warns_about_changing_the_input_in_place():
    class InPlace(ref_nn.ReLU):
        def forward(self, x):
            self.x = x
            x[x < 0] = 0
            return x

    w = viz.relu_forward(with_class(ReLU=InPlace))
    assert w.state == "mismatch"  # as question 1.2's tests judge it
    assert "ReLU.forward changed its input x in place" in w.status_text


# -- Sequential.forward --------------------------------------------------------------------------

def test_sequential_forward_reference_matches_the_chain(ref):
    nn, _ = ref
    w = viz.sequential_forward(nn)
    assert w.state == "ok", w.status_text
    assert w.mode_buttons.value == "your Linear and ReLU"
    p = w.pipeline
    assert [s.shape for s in p.stages] == [(2, 3), (2, 4), (2, 4), (2, 2)]
    np.testing.assert_allclose(p.output, p.stages[-1])
    w.stepper.press("next")
    assert w.highlight == {"input": "s0", "current": "s1"}
    assert "Linear(3, 4)" in w.arithmetic_text and "(2, 3)" in w.arithmetic_text
    w.stepper.controls.value = 4
    assert w.highlight["current"] == "seq"
    w.mode_buttons.value = "stand-in layers"
    assert w.pipeline.names == ["Linear(3, 4) stand-in", "ReLU() stand-in", "Linear(4, 2) stand-in"]
    from assignment.shared.questions._standins import network
    wanted = network(w.case, rows=2).activations(np.asarray(w.case["x"]))
    np.testing.assert_allclose(w.pipeline.output, wanted[-1])
    assert w.state == "ok"
    assert w.stage == 0


def test_sequential_forward_that_stops_early_is_diagnosed():
    class Early(ref_nn.Sequential):
        def forward(self, x):
            return self.layers[0].forward(x)

    w = viz.sequential_forward(with_class(Sequential=Early))
    assert w.state == "mismatch"
    assert w.status_text.startswith("the layers' forward ran in the order [0]")


def test_sequential_forward_with_unfinished_layers_uses_stand_ins():
    class Todo(ref_nn.Linear):
        def forward(self, x):
            raise NotImplementedError

    w = viz.sequential_forward(with_class(Linear=Todo))
    assert w.mode_buttons.value == "stand-in layers"
    assert w.state == "ok", w.status_text  # the student's Sequential itself is right
    assert "stand-in" in w.status_text
    w.mode_buttons.value = "your Linear and ReLU"
    assert w.state == "ok"  # the verdict is question 1.3's: the layers are judged by their own questions
    assert "With your own Linear and ReLU: Linear.forward (layer 1) is not implemented yet" in w.status_text


# -- CrossEntropyLoss.forward ------------------------------------------------------------------------

def reference_loss(logits, labels):
    return ref_nn.CrossEntropyLoss().forward(logits, labels)


def test_xeloss_forward_slider_moves_the_students_loss(ref):
    nn, _ = ref
    w = viz.xeloss_forward(nn)
    assert w.state == "ok", w.status_text
    before = w.loss_value
    assert before == pytest.approx(reference_loss(w.logits, w.labels))
    assert f"{before:.4f}" in w.loss_text
    w.logit_slider.value = 3.0
    assert w.logits[0, int(w.labels[0])] == pytest.approx(3.0)
    assert w.loss_value != before
    assert w.loss_value == pytest.approx(reference_loss(w.logits, w.labels))
    assert f"{w.loss_value:.4f}" in w.loss_text
    assert w.definition_value == pytest.approx(w.loss_value, rel=1e-5)
    # raising the target's logit lowers the loss; raising another class's raises it
    assert w.loss_value < before
    w.stepper.press("next")
    assert w.row == 1 and w.class_select.value == int(w.labels[1])
    other = (int(w.labels[1]) + 1) % 4
    w.class_select.value = other
    middle = w.loss_value
    w.logit_slider.value = 4.0
    assert w.loss_value > middle
    w.reset_button.click()
    np.testing.assert_array_equal(w.logits, w.initial_logits)
    assert w.loss_value == pytest.approx(before)


def test_xeloss_forward_curve_is_the_students_loss(ref):
    nn, _ = ref
    w = viz.xeloss_forward(nn)
    row, cls = w.row, int(w.class_select.value)
    trial = w.logits.copy()
    trial[row, cls] = w.curve_x[7]
    assert w.curve_yours[7] == pytest.approx(reference_loss(trial, w.labels))
    np.testing.assert_allclose(w.curve_yours, w.curve_definition, rtol=1e-5)


def test_xeloss_forward_without_the_mean_is_diagnosed():
    class Summed(ref_nn.CrossEntropyLoss):
        def forward(self, logits, labels):
            return ref_nn.CrossEntropyLoss.forward(self, logits, labels) * len(labels)

    w = viz.xeloss_forward(with_class(CrossEntropyLoss=Summed))
    assert w.state == "mismatch"
    assert w.status_text.startswith("the loss is 3 times too large: you summed over the batch")
    assert "✘ differs" in w.loss_text


def test_xeloss_forward_large_logits_probe_names_the_log_softmax():
    class LogOfSoftmax(ref_nn.CrossEntropyLoss):  # the seed's formula typed as is
        def forward(self, logits, labels):
            ref_nn.CrossEntropyLoss.forward(self, logits, labels)
            picked = ref_nn.softmax(logits, axis=1)[np.arange(len(labels)), labels]
            return float(np.mean(-np.log(picked)))

    w = viz.xeloss_forward(with_class(CrossEntropyLoss=LogOfSoftmax))
    assert w.judgements[0].passed  # right on the seeded logits, as in the visible test...
    assert w.state == "nan" and not w.passed  # ...but not on large ones, as in a hidden test
    assert "With large logits (±800, as a trained network can give): the loss is inf" in w.status_text
    assert "subtract each row's maximum" in w.status_text and "log(0)" in w.status_text
    assert "your loss = inf" in w.loss_text and "✘ differs" in w.loss_text


def test_xeloss_forward_per_example_losses_are_a_shape_problem():
    class PerRow(ref_nn.CrossEntropyLoss):
        def forward(self, logits, labels):
            value = ref_nn.CrossEntropyLoss.forward(self, logits, labels)
            return np.full(len(labels), value)

    w = viz.xeloss_forward(with_class(CrossEntropyLoss=PerRow))
    assert w.state == "shape"
    assert "you returned an array of shape (3,)" in w.status_text
    w.logit_slider.value = 1.0  # still no exception
    assert w.loss_value is None
