"""The SGD visualizer (question 3): side-by-side step and the loss-surface paths."""

from __future__ import annotations

import types

import numpy as np
import pytest

from assignment.student import viz
from assignment.student.viz.sgd_step import START, STEPS, bowl, bowl_gradient
from conftest import is_png
from mytorch import nn as ref_nn
from mytorch import optim as ref_optim


def test_sgd_step_reference_moves_every_entry_by_lr_times_gradient(ref):
    nn, optim = ref
    w = viz.sgd_step(nn, optim)
    assert w.state == "ok", w.status_text
    np.testing.assert_allclose(w.ratio_weight, 0.1, rtol=1e-4)
    np.testing.assert_allclose(w.ratio_bias, 0.1, rtol=1e-4)
    assert w.new_weight.dtype == np.float32
    assert is_png(w.image.value)


def test_sgd_step_slider_changes_the_step(ref):
    nn, optim = ref
    w = viz.sgd_step(nn, optim)
    before = w.image.value
    w.lr_slider.value = 0.5
    layer = nn.Linear(3, 2)
    layer.weight, layer.bias = w.weight.copy(), w.bias.copy()
    layer.grad_weight, layer.grad_bias = w.grad_weight.copy(), w.grad_bias.copy()
    optimizer = optim.SGD(types.SimpleNamespace(layers=[layer]), lr=w.lr_slider.value)
    optimizer.step()
    np.testing.assert_allclose(w.new_weight, layer.weight, rtol=1e-6)
    np.testing.assert_allclose(w.new_bias, layer.bias, rtol=1e-6)
    np.testing.assert_allclose(w.ratio_weight, w.lr_slider.value, rtol=1e-4)
    assert w.path_lrs["slider"] == pytest.approx(w.lr_slider.value)
    assert f"lr = {w.lr_slider.value:.3g}" in w.step_html.value
    assert w.image.value != before


def test_sgd_step_paths_come_from_the_students_step(ref):
    nn, optim = ref
    w = viz.sgd_step(nn, optim)
    good = w.paths["good"]
    assert good.shape == (STEPS + 1, 2)
    # the first step, by hand, from the bowl's gradient
    d1, d2 = bowl_gradient(*START)
    np.testing.assert_allclose(good[1], [START[0] - 0.2 * d1, START[1] - 0.2 * d2])
    losses = {label: bowl(*w.paths[label][-1]) for label in ("too small", "good", "too large")}
    start = bowl(*START)
    assert losses["good"] < 1e-3 * start
    assert 0.1 * start < losses["too small"] < start
    assert losses["too large"] > start
    assert "diverges" in " ".join(t.get_text() for t in w._path_texts)


def sgd_module(step):
    class SGD(ref_optim.SGD):
        pass

    SGD.step = step
    return types.SimpleNamespace(SGD=SGD, Linear=ref_nn.Linear)


def test_sgd_step_with_the_wrong_sign_is_diagnosed(ref):
    nn, _ = ref

    def step(self):
        for layer in self.layers:
            if not isinstance(layer, ref_nn.Linear):
                continue
            layer.weight = layer.weight + self.lr * layer.grad_weight
            layer.bias = layer.bias + self.lr * layer.grad_bias

    w = viz.sgd_step(nn, sgd_module(step))
    assert w.state == "mismatch"
    assert w.status_text.startswith("after step 1, layer 0's weight moved up the gradient (ascent)")
    np.testing.assert_allclose(w.ratio_weight, -0.1, rtol=1e-4)


def test_sgd_step_without_the_learning_rate_is_diagnosed(ref):
    nn, _ = ref

    def step(self):
        for layer in self.layers:
            if not isinstance(layer, ref_nn.Linear):
                continue
            layer.weight = layer.weight - layer.grad_weight
            layer.bias = layer.bias - layer.grad_bias

    w = viz.sgd_step(nn, sgd_module(step))
    assert "moved by the whole gradient: multiply the gradient by the learning rate lr = 0.1" in w.status_text


def test_sgd_step_that_changes_the_dtype_is_noted(ref):
    nn, _ = ref

    def step(self):
        for layer in self.layers:
            if not isinstance(layer, ref_nn.Linear):
                continue
            layer.weight = layer.weight.astype(np.float64) - self.lr * layer.grad_weight
            layer.bias = layer.bias - self.lr * layer.grad_bias

    w = viz.sgd_step(nn, sgd_module(step))
    assert "has dtype float64, but the inputs were float32" in w.status_text


def test_sgd_step_warns_when_optim_and_nn_disagree_on_linear(ref):
    nn, _ = ref

    class OtherLinear(ref_nn.Linear):
        pass

    optim = types.SimpleNamespace(SGD=ref_optim.SGD, Linear=OtherLinear)
    w = viz.sgd_step(nn, optim)
    assert "reload" in w.status_text


def test_sgd_step_that_loops_on_the_relu_fails(ref):
    nn, _ = ref

    def step(self):  # no isinstance: the ReLU between the Linear layers has no weight
        for layer in self.layers:
            layer.weight = layer.weight - self.lr * layer.grad_weight
            layer.bias = layer.bias - self.lr * layer.grad_bias

    w = viz.sgd_step(nn, sgd_module(step))
    assert w.state == "error"
    assert w.status_text.startswith("SGD.step raised AttributeError: 'ReLU' object has no attribute 'weight'")


def test_sgd_step_that_gives_the_relu_parameters_fails(ref):
    nn, _ = ref

    def step(self):
        for layer in self.layers:
            if not hasattr(layer, "weight"):
                layer.weight = layer.bias = None  # a ReLU with parameters
                continue
            layer.weight = layer.weight - self.lr * layer.grad_weight
            layer.bias = layer.bias - self.lr * layer.grad_bias

    w = viz.sgd_step(nn, sgd_module(step))
    assert not w.passed
    assert "SGD.step gave a ReLU layer parameters" in w.status_text


def test_sgd_step_that_stops_at_the_first_linear_fails(ref):
    nn, _ = ref

    def step(self):
        for layer in self.layers:
            if isinstance(layer, ref_nn.Linear):
                layer.weight = layer.weight - self.lr * layer.grad_weight
                layer.bias = layer.bias - self.lr * layer.grad_bias
                break

    w = viz.sgd_step(nn, sgd_module(step))
    assert w.state == "mismatch"
    assert "layer 1's weight did not change" in w.status_text
