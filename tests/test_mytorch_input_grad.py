"""The input gradient of a network's first layer: skipped, and nothing else changes.

A network's input is the data; nobody uses the loss's gradient with respect to it.
``Sequential`` tells a first ``Linear`` so (``needs_input_grad = False``), whose
``backward`` then skips that matrix product, as PyTorch does for an input without
``requires_grad``. These tests pin down who is told, that a lone layer still returns
dLoss/dX, and that skipping changes no parameter gradient by a single bit.
"""

from __future__ import annotations

import numpy as np
import pytest

from mytorch import nn, optim


def _network(seed: int = 0, dtype=np.float64) -> nn.Sequential:
    rng = np.random.default_rng(seed)
    return nn.Sequential(nn.Linear(5, 7, dtype=dtype, rng=rng), nn.ReLU(), nn.Linear(7, 4, dtype=dtype, rng=rng))


def _batch(seed: int = 0, dtype=np.float64):
    rng = np.random.default_rng(seed + 100)
    return rng.standard_normal((6, 5)).astype(dtype), rng.integers(0, 4, size=6)


def test_only_a_first_linear_is_told_to_skip():
    first, hidden = nn.Linear(3, 4), nn.Linear(4, 2)
    nn.Sequential(first, nn.ReLU(), hidden)
    assert first.needs_input_grad is False
    assert hidden.needs_input_grad is True

    after_relu = nn.Linear(3, 2)
    nn.Sequential(nn.ReLU(), after_relu)
    assert after_relu.needs_input_grad is True, "the first layer is the ReLU: the Linear's input gradient is needed"


def test_a_layer_first_in_one_network_and_inner_in_the_next_passes_its_gradient_on():
    """The network built last decides: a layer reused inside it must pass dLoss/dX on."""
    rng = np.random.default_rng(6)
    shared = nn.Linear(4, 3, dtype=np.float64, rng=rng)
    nn.Sequential(shared, nn.ReLU())
    model = nn.Sequential(nn.Linear(5, 4, dtype=np.float64, rng=rng), nn.ReLU(), shared)
    assert shared.needs_input_grad is True
    x, labels = _batch()
    loss_function = nn.CrossEntropyLoss()
    loss_function.forward(model.forward(x), labels[:6] % 3)
    model.backward(loss_function)  # the ReLU in the middle receives shared's input gradient
    assert model.layers[0].grad_weight.shape == (5, 4)


def test_a_missing_gradient_is_named_with_its_usual_cause():
    """A skipping Linear that is not first leaves the layer before it with None: the error says why."""
    rng = np.random.default_rng(7)
    model = nn.Sequential(nn.Linear(5, 4, dtype=np.float64, rng=rng), nn.ReLU(), nn.Linear(4, 3, dtype=np.float64, rng=rng))
    model.layers[2].needs_input_grad = False  # as if it had been first in another network since
    x, labels = _batch()
    loss_function = nn.CrossEntropyLoss()
    loss_function.forward(model.forward(x), labels % 3)
    with pytest.raises(ValueError, match=r"ReLU.backward grad is None: .*needs_input_grad is False"):
        model.backward(loss_function)
    with pytest.raises(ValueError, match=r"Linear.backward grad is None"):
        model.layers[0].backward(None)


def test_a_lone_linear_returns_the_input_gradient():
    layer = nn.Linear(3, 2, dtype=np.float64, rng=np.random.default_rng(1))
    x = np.arange(12.0).reshape(4, 3)
    grad = np.ones((4, 2))
    layer.forward(x)
    np.testing.assert_allclose(layer.backward(grad), grad @ layer.weight.T)


def test_a_skipping_layer_returns_none_and_the_same_parameter_gradients():
    layer = nn.Linear(3, 2, dtype=np.float32, rng=np.random.default_rng(2))
    x = np.random.default_rng(3).standard_normal((4, 3)).astype(np.float32)
    grad = np.random.default_rng(4).standard_normal((4, 2)).astype(np.float32)
    layer.forward(x)
    layer.backward(grad)
    expected = layer.grad_weight.copy(), layer.grad_bias.copy()
    layer.needs_input_grad = False
    layer.grad_weight = layer.grad_bias = None  # so that the skipping call must store them itself
    assert layer.backward(grad) is None
    np.testing.assert_array_equal(layer.grad_weight, expected[0])
    np.testing.assert_array_equal(layer.grad_bias, expected[1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_skipping_changes_no_parameter_gradient_and_no_step(dtype):
    """Two copies of one network, one asked for dLoss/dX: every gradient and every
    parameter after a few SGD steps is bit for bit the same."""
    skipping, full = _network(dtype=dtype), _network(dtype=dtype)
    full.layers[0].needs_input_grad = True
    x, labels = _batch(dtype=dtype)
    models = {"skipping": skipping, "full": full}
    optimizers = {name: optim.SGD(model, lr=0.3) for name, model in models.items()}
    for _ in range(3):
        returned = {}
        for name, model in models.items():
            optimizers[name].zero_grad()
            loss_function = nn.CrossEntropyLoss()
            loss_function.forward(model.forward(x), labels)
            returned[name] = model.backward(loss_function)
            optimizers[name].step()
        assert returned["skipping"] is None
        assert returned["full"].shape == x.shape and returned["full"].dtype == dtype
        for a, b in zip(skipping.layers, full.layers):
            if isinstance(a, nn.Linear):
                np.testing.assert_array_equal(a.grad_weight, b.grad_weight)
                np.testing.assert_array_equal(a.grad_bias, b.grad_bias)
                np.testing.assert_array_equal(a.weight, b.weight)
                np.testing.assert_array_equal(a.bias, b.bias)


# --- labels, checked by the given part of CrossEntropyLoss.forward ----------------------


def test_labels_outside_the_classes_name_the_range():
    huge = np.array([0, 2**64 - 1], dtype=np.uint64)  # would wrap to -1 as a signed index
    for labels, received in (([0, 4, 1], "from 0 to 4"), ([0, -1, 3], "from -1 to 3"),
                             (huge, f"from 0 to {2**64 - 1}")):
        logits = np.zeros((len(labels), 4), dtype=np.float32)
        with pytest.raises(ValueError, match=rf"labels must lie in \[0, 3\]; received values {received}"):
            nn.CrossEntropyLoss().forward(logits, labels)


def test_unsigned_labels_are_class_indices_and_non_integers_are_refused():
    logits = np.random.default_rng(5).standard_normal((3, 4))
    expected = nn.CrossEntropyLoss().forward(logits, [1, 3, 0])
    assert nn.CrossEntropyLoss().forward(logits, np.array([1, 3, 0], dtype=np.uint8)) == expected
    for labels in (np.array([True, False, True]), np.array([1.0, 3.0, 0.0])):
        with pytest.raises(ValueError, match=f"labels must be integers .*received dtype {labels.dtype}"):
            nn.CrossEntropyLoss().forward(logits, labels)


def test_an_empty_batch_is_refused_clearly():
    with pytest.raises(ValueError, match=r"empty batch \(N = 0\)"):
        nn.CrossEntropyLoss().forward(np.zeros((0, 4)), [])
