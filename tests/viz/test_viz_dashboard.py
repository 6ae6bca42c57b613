"""The training dashboard: nothing trains unless asked; training fills every view."""

from __future__ import annotations

import numpy as np

from assignment.student import viz
from conftest import is_png
from mytorch import nn as ref_nn
from viz_fakes import with_class


def test_dashboard_does_not_train_on_construction(ref):
    nn, optim = ref
    w = viz.training_dashboard(nn, optim)
    assert w.history == [] and w.batch_losses == []
    assert w.progress.value == 0
    assert w.state == "ok"
    assert is_png(w.image.value) and is_png(w.analysis_image.value)
    assert w.train_button.description == "Train"


def test_dashboard_autorun_fills_curves_confusion_gallery(ref):
    nn, optim = ref
    w = viz.training_dashboard(nn, optim, hidden=(16,), epochs=2, autorun=True)
    assert w.state == "ok", w.status_text
    assert len(w.history) == 2
    steps = 2 * -(-1438 // 32)
    assert len(w.batch_losses) == steps and w.progress.value == w.progress.max == steps
    assert w.confusion.shape == (10, 10) and w.confusion.sum() == 359
    assert np.trace(w.confusion) / 359 == w.history[-1].test_accuracy
    assert len(w.misclassified) == min(12, 359 - np.trace(w.confusion))
    assert w.history[-1].test_accuracy > 0.5
    assert "test accuracy" in w.status_text
    assert w.training_s < 10


def test_dashboard_train_button_uses_the_controls(ref):
    nn, optim = ref
    w = viz.training_dashboard(nn, optim)
    w.hidden_text.value = "8, 8"
    w.epochs_slider.value = 1
    w.batch_select.value = 128
    w.train_button.click()
    assert len(w.history) == 1
    assert len(w.batch_losses) == -(-1438 // 128)
    assert [type(layer).__name__ for layer in w.model.layers] == ["Linear", "ReLU", "Linear", "ReLU", "Linear"]
    assert not w.train_button.disabled


def test_dashboard_rejects_bad_hidden_sizes(ref):
    nn, optim = ref
    w = viz.training_dashboard(nn, optim)
    w.hidden_text.value = "ten"
    w.train_button.click()
    assert w.state == "error"
    assert "whole numbers" in w.status_text
    assert w.history == []


def test_dashboard_stops_when_the_loss_becomes_nan(ref):
    _, optim = ref
    calls = {"n": 0}

    class LaterNaN(ref_nn.CrossEntropyLoss):
        def forward(self, logits, labels):
            calls["n"] += 1
            value = ref_nn.CrossEntropyLoss.forward(self, logits, labels)
            return float("nan") if calls["n"] > 20 else value

    w = viz.training_dashboard(with_class(CrossEntropyLoss=LaterNaN), optim, epochs=3, autorun=True)
    assert w.state == "nan"
    assert "the loss became nan" in w.stopped
    assert w.history == []
    assert len(w.batch_losses) == 20  # the preflight used one call; the 20th training step was the last finite


def test_dashboard_names_the_students_function_that_failed_mid_training(ref):
    _, optim = ref
    calls = {"n": 0}

    class Flaky(ref_nn.Linear):
        def backward(self, grad):
            calls["n"] += 1
            if calls["n"] > 30:
                raise ZeroDivisionError("oops")
            return ref_nn.Linear.backward(self, grad)

    w = viz.training_dashboard(with_class(Linear=Flaky), optim, epochs=2, autorun=True)
    assert w.state == "error"
    assert "Flaky.backward raised ZeroDivisionError: oops" in w.status_text


class _Returns(ref_nn.Sequential):
    """Sequential.backward returning something other than dL/dX: not the dashboard's business."""

    def backward(self, loss_function):
        ref_nn.Sequential.backward(self, loss_function)
        return "done"


def test_dashboard_preflight_accepts_any_return_of_sequential_backward(ref):
    nn, optim = ref
    from assignment.shared.training import build_mlp

    model = build_mlp(nn, (64, 8, 10))
    loss_function = nn.CrossEntropyLoss()
    loss_function.forward(model.forward(np.ones((2, 64))), np.array([0, 1]))
    assert model.backward(loss_function).shape == (2, 64)  # the reference: dL/dX of the batch
    for module in (nn, with_class(Sequential=_Returns)):
        w = viz.training_dashboard(module, optim, hidden=(8,), epochs=1, autorun=True)
        assert w.state == "ok", w.status_text
        assert "Cannot train yet" not in w.status_text
        assert len(w.history) == 1


def test_dashboard_preflight_names_a_misshapen_stored_gradient(ref):
    _, optim = ref

    class TransposedGradWeight(ref_nn.Linear):
        def backward(self, grad):
            out = ref_nn.Linear.backward(self, grad)
            self.grad_weight = self.grad_weight.T
            return out

    class NoGradBias(ref_nn.Linear):
        def backward(self, grad):
            out = ref_nn.Linear.backward(self, grad)
            self.grad_bias = None
            return out

    w = viz.training_dashboard(with_class(Linear=TransposedGradWeight), optim, hidden=(32,), autorun=True)
    assert w.state == "shape" and w.history == []
    assert ("Cannot train yet: after Sequential.backward, layer 1 (Linear(64, 32))'s grad_weight is shaped "
            "(32, 64); expected (64, 32), the shape of its weight: it is transposed.") in w.status_text
    w = viz.training_dashboard(with_class(Linear=NoGradBias), optim, hidden=(32,), autorun=True)
    assert w.state == "none" and w.history == []
    assert "after Sequential.backward, layer 1 (Linear(64, 32)) has no grad_bias: its backward did not store one" \
        in w.status_text


def test_dashboard_preflight_accepts_gradients_added_to_the_zeros(ref):
    """zero_grad leaves zeros: a backward that adds to them (as PyTorch accumulates) trains."""
    _, optim = ref

    class Accumulating(ref_nn.Linear):
        def backward(self, grad):
            self.grad_weight += self.x.T @ grad
            self.grad_bias += grad.sum(axis=0, keepdims=True)
            return grad @ self.weight.T

    w = viz.training_dashboard(with_class(Linear=Accumulating), optim, hidden=(16,), epochs=1, autorun=True)
    assert w.state == "ok", w.status_text
    assert len(w.history) == 1
