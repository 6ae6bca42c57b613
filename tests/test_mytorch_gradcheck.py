"""Central finite-difference checks of every backward pass of the reference mytorch.

For a scalar function f of an array A, each entry of dF/dA is compared with
(f(A + h e_k) - f(A - h e_k)) / (2h), in float64. A layer whose output is not a
scalar is made into one with a fixed random "upstream" matrix R:
f = sum(layer.forward(X) * R), so that dF/dOutput = R is what ``backward`` gets.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from mytorch import nn

H = 1e-6
RTOL = 1e-6
ATOL = 1e-8


def numerical_gradient(f, array, h=H):
    """dF/dArray by central differences, perturbing ``array`` in place and restoring it."""
    grad = np.zeros_like(array, dtype=np.float64)
    it = np.nditer(array, flags=["multi_index"])
    for _ in it:
        k = it.multi_index
        original = array[k]
        array[k] = original + h
        f_plus = f()
        array[k] = original - h
        f_minus = f()
        array[k] = original
        grad[k] = (f_plus - f_minus) / (2 * h)
    return grad


@pytest.mark.parametrize("n, fan_in, fan_out", [(1, 1, 1), (4, 3, 5), (7, 6, 2)])
def test_linear_backward_matches_finite_differences(n, fan_in, fan_out):
    rng = np.random.default_rng(n * 100 + fan_in * 10 + fan_out)
    layer = nn.Linear(fan_in, fan_out, dtype=np.float64, rng=rng)
    x = rng.standard_normal((n, fan_in))
    upstream = rng.standard_normal((n, fan_out))

    def f():
        return float(np.sum(layer.forward(x) * upstream))

    f()
    grad_x = layer.backward(upstream)
    grad_weight, grad_bias = layer.grad_weight.copy(), layer.grad_bias.copy()

    assert_allclose(grad_x, numerical_gradient(f, x), rtol=RTOL, atol=ATOL, err_msg="dLoss/dX")
    assert_allclose(grad_weight, numerical_gradient(f, layer.weight), rtol=RTOL, atol=ATOL, err_msg="grad_weight")
    assert_allclose(grad_bias, numerical_gradient(f, layer.bias), rtol=RTOL, atol=ATOL, err_msg="grad_bias")


def test_relu_backward_matches_finite_differences_away_from_zero():
    rng = np.random.default_rng(1)
    # Entries at least 0.1 away from the kink at 0, with both signs present.
    x = rng.uniform(0.1, 2.0, (5, 6)) * rng.choice([-1.0, 1.0], (5, 6))
    assert (x > 0).any() and (x < 0).any()
    upstream = rng.standard_normal((5, 6))
    layer = nn.ReLU()

    def f():
        return float(np.sum(layer.forward(x) * upstream))

    f()
    grad_x = layer.backward(upstream)
    assert_allclose(grad_x, numerical_gradient(f, x), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("n, classes, scale", [(1, 2, 1.0), (5, 4, 1.0), (8, 10, 5.0), (3, 3, 30.0)])
def test_cross_entropy_backward_matches_finite_differences(n, classes, scale):
    rng = np.random.default_rng(n + classes)
    logits = scale * rng.standard_normal((n, classes))
    labels = rng.integers(0, classes, size=n)
    loss_function = nn.CrossEntropyLoss()

    def f():
        return loss_function.forward(logits, labels)

    f()
    grad = loss_function.backward()
    assert_allclose(grad, numerical_gradient(f, logits), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("widths", [[3, 4], [5, 8, 3], [4, 6, 6, 5]])
def test_whole_sequential_matches_finite_differences(widths):
    rng = np.random.default_rng(len(widths))
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(fan_in, fan_out, dtype=np.float64, rng=rng))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers)
    x = rng.standard_normal((6, widths[0]))
    labels = rng.integers(0, widths[-1], size=6)
    loss_function = nn.CrossEntropyLoss()

    def f():
        return loss_function.forward(model.forward(x), labels)

    f()
    # Finite differences are only valid if no ReLU input sits within reach of its kink.
    for layer in model.layers:
        if isinstance(layer, nn.ReLU):
            assert np.abs(layer.x).min() > 1e3 * H, "a ReLU input is too close to 0 for this check"
    grad_x = model.backward(loss_function)
    grads = [(layer.grad_weight.copy(), layer.grad_bias.copy()) for layer in model.layers if isinstance(layer, nn.Linear)]

    assert_allclose(grad_x, numerical_gradient(f, x), rtol=RTOL, atol=ATOL, err_msg="input")
    linears = [layer for layer in model.layers if isinstance(layer, nn.Linear)]
    for k, (layer, (grad_weight, grad_bias)) in enumerate(zip(linears, grads)):
        assert_allclose(grad_weight, numerical_gradient(f, layer.weight), rtol=RTOL, atol=ATOL, err_msg=f"grad_weight #{k}")
        assert_allclose(grad_bias, numerical_gradient(f, layer.bias), rtol=RTOL, atol=ATOL, err_msg=f"grad_bias #{k}")
