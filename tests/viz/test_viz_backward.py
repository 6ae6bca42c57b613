"""The backward visualizers (questions 2.1 to 2.4): the question's own check on the view's case is
the verdict; finite differences of the student's own forward are shown only when that forward
agrees with the definition, else those of the definition; on the reference and on faulty variants."""

from __future__ import annotations

import numpy as np

from assignment.student import viz
from conftest import is_png
from mytorch import nn as ref_nn
from viz_fakes import with_class


# -- CrossEntropyLoss.backward ---------------------------------------------------------------------

def test_xeloss_backward_finite_differences_match_the_reference(ref):
    nn, _ = ref
    w = viz.xeloss_backward(nn)
    assert w.state == "ok", w.status_text
    c = w.comparisons["logits"]
    loss = nn.CrossEntropyLoss()
    loss.forward(w.logits, w.labels)
    np.testing.assert_allclose(c.estimate, loss.backward(), atol=1e-6)
    np.testing.assert_allclose(c.yours, loss.backward())
    assert w.fd_source == "your forward"
    assert "all 12 entries match" in w.status_text
    assert is_png(w.image.value)


def test_xeloss_backward_stepper_shows_the_arithmetic(ref):
    nn, _ = ref
    w = viz.xeloss_backward(nn)
    w.stepper.controls.value = 6
    assert w.entry == ("logits", (1, 2))
    c = w.comparisons["logits"]
    assert f"{c.estimate[1, 2]:.4f}" in w.arithmetic_text
    assert f"{c.yours[1, 2]:.4f}" in w.arithmetic_text
    assert "✔ matches" in w.arithmetic_text
    assert all(panel._outlines["step"].get_visible() for panel in w.highlight["panels"])


def test_xeloss_backward_without_the_division_by_n():
    class NoMean(ref_nn.CrossEntropyLoss):
        def backward(self):
            return ref_nn.CrossEntropyLoss.backward(self) * len(self.logits)

    w = viz.xeloss_backward(with_class(CrossEntropyLoss=NoMean))
    assert w.state == "mismatch"
    assert w.status_text.splitlines()[0] == "the gradient is 3 times too large: divide by the batch size N = 3"
    assert "12 of 12 entries differ" in w.status_text and "largest at" in w.status_text


class Summed(ref_nn.CrossEntropyLoss):
    """Question 1.4's classic bug: the loss summed over the batch instead of averaged."""

    def forward(self, logits, labels):
        return ref_nn.CrossEntropyLoss.forward(self, logits, labels) * len(labels)


def test_xeloss_backward_is_not_blamed_for_a_summed_forward():
    w = viz.xeloss_backward(with_class(CrossEntropyLoss=Summed))
    assert w.state == "ok", w.status_text  # the backward is right: (softmax - T) / N
    assert w.fd_source == "the definition"
    assert "Your CrossEntropyLoss.forward (question 1.4) is off (the loss is 3 times too large" in w.status_text
    assert "checks your backward against the definition instead" in w.status_text
    assert w.comparisons["logits"].ok


def test_xeloss_backward_bugs_that_cancel_do_not_pass():
    class SummedNoMean(Summed):
        def backward(self):
            return ref_nn.CrossEntropyLoss.backward(self) * len(self.logits)

    # Finite differences of the summed forward would agree with this backward: the definition does not.
    w = viz.xeloss_backward(with_class(CrossEntropyLoss=SummedNoMean))
    assert w.state == "mismatch"
    assert "the gradient is 3 times too large" in w.status_text
    assert "all 12 match" not in w.status_text and not w.comparisons["logits"].ok


def test_xeloss_backward_uses_the_definition_when_forward_is_unfinished():
    class NoForward(ref_nn.CrossEntropyLoss):
        def forward(self, logits, labels):
            # stores the logits and the one-hot matrix, as the release stub's given part does
            ref_nn.CrossEntropyLoss.forward(self, logits, labels)
            raise NotImplementedError

    w = viz.xeloss_backward(with_class(CrossEntropyLoss=NoForward))
    assert w.fd_source == "the definition"
    assert w.state == "ok", w.status_text
    assert w.comparisons["logits"].ok


# -- Linear.backward ---------------------------------------------------------------------------------

def test_linear_backward_finite_differences_match_the_reference(ref):
    nn, _ = ref
    w = viz.linear_backward(nn)
    assert w.state == "ok", w.status_text
    layer = nn.Linear(4, 2)
    layer.weight, layer.bias = w.weight.copy(), w.bias.copy()
    layer.forward(w.x)
    grad_x = layer.backward(w.g)
    cs = w.comparisons
    np.testing.assert_allclose(cs["weight"].estimate, layer.grad_weight, atol=1e-7)
    np.testing.assert_allclose(cs["bias"].estimate, layer.grad_bias, atol=1e-7)
    np.testing.assert_allclose(cs["input"].estimate, grad_x, atol=1e-7)
    for name in ("weight", "bias", "input"):
        assert cs[name].ok
    assert "grad_weight: all 8 entries match" in w.status_text


def test_linear_backward_target_buttons_change_what_the_stepper_walks(ref):
    nn, _ = ref
    w = viz.linear_backward(nn)
    assert w.stepper.count == 8 and w.entry == ("weight", (0, 0))
    w.stepper.press("next")
    assert w.entry == ("weight", (0, 1))
    w.target.value = "bias"
    assert w.stepper.count == 2 and w.entry == ("bias", (0, 0))
    assert (w.stepper.controls.count - 1) == 1
    w.target.value = "input"
    assert w.stepper.count == 12
    w.stepper.controls.value = 11
    assert w.entry == ("input", (2, 3))
    assert "∂L/∂X[2, 3]" in w.arithmetic_text
    assert w.panels["X"]._outlines["step"].get_visible()
    assert not w.panels["W"]._outlines["step"].get_visible()


def test_linear_backward_flags_a_wrong_grad_weight():
    class Twice(ref_nn.Linear):
        def backward(self, grad):
            out = ref_nn.Linear.backward(self, grad)
            self.grad_weight = self.grad_weight * 2
            return out

    w = viz.linear_backward(with_class(Linear=Twice))
    assert w.state == "mismatch"
    c = w.comparisons["weight"]
    assert c.differs.sum() == 8
    assert "grad_weight: 8 of 8 entries differ from the finite differences" in w.status_text
    assert "grad_bias: all 2 entries match" in w.status_text
    rect, sign = w.panels["dW"]._marks[(0, 0)]
    assert rect.get_visible() and sign.get_visible() and sign.get_text() == "✘"  # never colour alone


def test_linear_backward_wrong_shape_is_named():
    class Transposed(ref_nn.Linear):
        def backward(self, grad):
            out = ref_nn.Linear.backward(self, grad)
            self.grad_weight = self.grad_weight.T
            return out

    w = viz.linear_backward(with_class(Linear=Transposed))
    assert w.state == "shape"
    assert ("self.grad_weight has shape (2, 4) but should be (4, 2): it holds the right values, transposed"
            in w.status_text)


class NoBias(ref_nn.Linear):
    """Question 1.1's classic bug: the bias forgotten in forward."""

    def forward(self, x):
        self.x = x
        return x @ self.weight


def test_linear_backward_is_not_blamed_for_a_forward_without_the_bias():
    w = viz.linear_backward(with_class(Linear=NoBias))
    assert w.state == "ok", w.status_text  # grad_bias = sum of G over the batch is right
    assert w.fd_source == "the definition"
    assert "Your Linear.forward (question 1.1) is off (the output is X W without the bias" in w.status_text
    assert w.comparisons["bias"].ok


def test_linear_backward_bugs_that_cancel_do_not_pass():
    class NoBiasNoGradBias(NoBias):
        def backward(self, grad):
            self.grad_weight = self.x.T @ grad
            return grad @ self.weight.T

    w = viz.linear_backward(with_class(Linear=NoBiasNoGradBias))
    assert w.state == "mismatch"
    assert w.status_text.startswith("self.grad_bias differs from the expected values")
    assert not w.comparisons["bias"].ok


# -- ReLU.backward -----------------------------------------------------------------------------------

def test_relu_backward_matches_and_skips_the_kink(ref):
    nn, _ = ref
    w = viz.relu_backward(nn)
    assert w.state == "ok", w.status_text
    c = w.comparisons["input"]
    assert c.skip.sum() == 1 and w.x[c.skip][0] == 0
    assert "all 12 entries match" in w.status_text and "1 at a kink" in w.status_text
    layer = nn.ReLU()
    layer.forward(w.x)
    expected = layer.backward(w.g)
    np.testing.assert_allclose(c.estimate[~c.skip], expected[~c.skip], atol=1e-9)
    np.testing.assert_allclose(c.expected, expected, atol=1e-9)  # slope 0 at the kink, the convention
    w.stepper.controls.value = 5
    assert "kink" in w.arithmetic_text


def test_relu_backward_letting_the_gradient_through_at_zero_fails_as_in_the_tests():
    class AtZero(ref_nn.ReLU):
        def backward(self, grad):
            return grad * (self.x >= 0)

    w = viz.relu_backward(with_class(ReLU=AtZero))
    assert w.state == "mismatch"  # the tests take the slope at 0 as 0: so does the view
    assert "where the input x is exactly 0" in w.status_text and "not x >= 0" in w.status_text


# -- Sequential.backward -------------------------------------------------------------------------------

def test_sequential_backward_reference(ref):
    nn, _ = ref
    w = viz.sequential_backward(nn)
    assert w.state == "ok", w.status_text
    assert w.status_text.startswith("Sequential.backward passes question 2.4's check")
    r = w.run
    assert [g.shape for g in r.grads] == [(2, 3), (2, 4), (2, 4), (2, 2)]
    np.testing.assert_allclose(r.returned, r.grads[0])
    np.testing.assert_allclose(r.estimate, r.returned, atol=1e-6)
    assert not r.kinks.any()
    w.stepper.press("next")
    assert w.highlight == {"input": "g3", "current": "g2"}
    assert "Linear(4, 2).backward" in w.arithmetic_text
    w.stepper.controls.value = 4
    assert w.highlight["current"] == "ret"
    w.mode_buttons.value = "stand-in layers"
    assert w.state == "ok", w.status_text
    s = w.run
    for received, must in zip(s.received, s.grads[1:]):  # every layer got what the grader recomputes
        np.testing.assert_allclose(received, must)
    assert "Your backward calls: loss -> layer 2 -> layer 1 -> layer 0" in w.status_text
    w.stepper.press("next")
    assert w.highlight == {"current": "m3", "input": "y3"} and "✔ the right gradient" in w.arithmetic_text


def test_sequential_backward_in_forward_order_is_caught_in_the_tests_words():
    class WrongOrder(ref_nn.Sequential):
        def backward(self, loss_function):
            grad = loss_function.backward()
            for layer in self.layers:
                grad = layer.backward(grad)
            return grad

    w = viz.sequential_backward(with_class(Sequential=WrongOrder))
    assert w.state == "mismatch"
    assert w.status_text.startswith("the layers' backward ran first to last")
    assert "With your own layers: Sequential.backward raised ValueError" in w.status_text  # a note, not the verdict
    w.mode_buttons.value = "stand-in layers"
    assert w.status_text.startswith("the layers' backward ran first to last")


def test_sequential_backward_that_skips_a_layer_is_caught():
    class SkipsFirst(ref_nn.Sequential):
        def backward(self, loss_function):
            grad = loss_function.backward()
            for layer in reversed(self.layers[1:]):
                grad = layer.backward(grad)
            return grad

    w = viz.sequential_backward(with_class(Sequential=SkipsFirst))
    assert w.state == "mismatch"
    assert "the layers' backward ran in the order [2, 1]" in w.status_text
    w.mode_buttons.value = "stand-in layers"
    assert w.state == "mismatch"
    assert w.run.received[0] is None


class NoReturn(ref_nn.Sequential):
    """Chains the layers' backward but returns nothing (allowed: no return is needed)."""

    def backward(self, loss_function):
        ref_nn.Sequential.backward(self, loss_function)


def test_sequential_backward_returning_nothing_passes():
    w = viz.sequential_backward(with_class(Sequential=NoReturn))
    for mode in ("your Linear and ReLU", "stand-in layers"):
        w.mode_buttons.value = mode
        assert w.state == "ok", w.status_text
        assert "Traceback" not in w.status_text and "visualizer itself failed" not in w.status_text
        assert is_png(w.image.value)
    w.mode_buttons.value = "your Linear and ReLU"
    r = w.run
    assert r.returned is None and r.returned_note == "returned None"
    assert all(g is not None for g in r.grads)  # the whole chain back to X is still drawn
    assert "returned None: fine" in w.status_text
    w.stepper.controls.value = w.stepper.count - 1
    assert w.highlight["current"] == "ret" and "returned None" in w.arithmetic_text


def test_deeper_networks_switch_between_modes_with_their_own_step_counts(ref):
    nn, _ = ref
    for build in (viz.sequential_forward, viz.sequential_backward):
        w = build(nn, sizes=(3, 4, 4, 2))
        assert w.state == "ok", w.status_text
        assert w.stepper.count == 7  # Linear, ReLU, Linear, ReLU, Linear: 5 layers + start + comparison
        w.stepper.controls.value = 6
        w.mode_buttons.value = "stand-in layers"
        assert w.stepper.count == 7 and w.stepper.controls.value == 0  # the stand-ins stand for the same layers
        w.stepper.controls.value = 6
        assert w.arithmetic_text


def test_linear_backward_names_a_factor_of_n_as_the_tests_do():
    class Averaged(ref_nn.Linear):
        def backward(self, grad):
            out = ref_nn.Linear.backward(self, grad)
            self.grad_weight = self.grad_weight / len(self.x)
            return out

    w = viz.linear_backward(with_class(Linear=Averaged))
    assert w.state == "mismatch"
    assert w.status_text.startswith("self.grad_weight is the expected values divided by N = 3: is there a division "
                                    "by N that does not belong here")
