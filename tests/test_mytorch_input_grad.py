"""The input gradient: every ``Linear`` returns dLoss/dX, wherever it sits in a network.

The assignment's ``Linear.backward`` stores dW and db and returns dX = G W^T, and that is all
a student writes (one gap). A network's first layer computes dX too, although nothing uses
the gradient of the data: ``Sequential`` tells its layers nothing, and its ``backward``
hands back what the first layer returned. These tests pin that down, that a missing
gradient is named with its usual cause, and that nothing a student receives still speaks
of a switch to skip the first layer's dX.
"""

from __future__ import annotations

import numpy as np
import pytest

from assignment.instructor.release.stubs import derive_stub
from course_tools import RELEASE, REFERENCE
from mytorch import nn, optim


def _network(seed: int = 0, dtype=np.float64) -> nn.Sequential:
    rng = np.random.default_rng(seed)
    return nn.Sequential(nn.Linear(5, 7, dtype=dtype, rng=rng), nn.ReLU(), nn.Linear(7, 4, dtype=dtype, rng=rng))


def _batch(seed: int = 0, dtype=np.float64):
    rng = np.random.default_rng(seed + 100)
    return rng.standard_normal((6, 5)).astype(dtype), rng.integers(0, 4, size=6)


def test_a_lone_linear_returns_the_input_gradient():
    layer = nn.Linear(3, 2, dtype=np.float64, rng=np.random.default_rng(1))
    x = np.arange(12.0).reshape(4, 3)
    grad = np.ones((4, 2))
    layer.forward(x)
    np.testing.assert_allclose(layer.backward(grad), grad @ layer.weight.T)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_networks_first_linear_returns_the_input_gradient_too(dtype):
    """Sequential.backward returns the first layer's dX: the chain of the layers' own backward,
    by hand, gives the same array bit for bit, in the batch's shape and dtype."""
    model, by_hand = _network(dtype=dtype), _network(dtype=dtype)
    x, labels = _batch(dtype=dtype)
    loss_function = nn.CrossEntropyLoss()
    loss_function.forward(model.forward(x), labels)
    returned = model.backward(loss_function)

    loss_by_hand = nn.CrossEntropyLoss()
    loss_by_hand.forward(by_hand.forward(x), labels)
    chain = [loss_by_hand.backward()]
    for layer in reversed(by_hand.layers):
        chain.append(layer.backward(chain[-1]))
    assert returned.shape == x.shape and returned.dtype == dtype
    np.testing.assert_array_equal(returned, chain[-1])
    # the first layer's dX is G W^T, with G what it received (the ReLU's input gradient)
    np.testing.assert_array_equal(chain[-1], chain[-2] @ by_hand.layers[0].weight.T)


def test_sequential_sets_nothing_on_its_layers():
    """A layer reused in two networks, first in one and inner in the other, is the same layer
    in both: Sequential only keeps the list."""
    rng = np.random.default_rng(6)
    shared = nn.Linear(4, 3, dtype=np.float64, rng=rng)
    before = dict(vars(shared))
    nn.Sequential(shared, nn.ReLU())
    model = nn.Sequential(nn.Linear(5, 4, dtype=np.float64, rng=rng), nn.ReLU(), shared)
    assert vars(shared).keys() == before.keys()
    assert model.layers[2] is shared
    x, labels = _batch()
    loss_function = nn.CrossEntropyLoss()
    loss_function.forward(model.forward(x), labels % 3)
    assert model.backward(loss_function).shape == x.shape
    assert model.layers[0].grad_weight.shape == (5, 4)


def test_a_missing_gradient_is_named_with_its_usual_cause():
    """A backward that forgets its return leaves the layer before it with None: the error says why."""

    class ForgetsTheReturn(nn.Linear):
        def backward(self, grad):
            nn.Linear.backward(self, grad)

    rng = np.random.default_rng(7)
    model = nn.Sequential(nn.Linear(5, 4, dtype=np.float64, rng=rng), nn.ReLU(),
                          ForgetsTheReturn(4, 3, dtype=np.float64, rng=rng))
    x, labels = _batch()
    loss_function = nn.CrossEntropyLoss()
    loss_function.forward(model.forward(x), labels % 3)
    with pytest.raises(ValueError, match=r"ReLU.backward grad is None: .*does its backward end with a return\?"):
        model.backward(loss_function)
    with pytest.raises(ValueError, match=r"Linear.backward grad is None"):
        model.layers[0].backward(None)


def test_training_steps_with_the_input_gradient_match_a_hand_written_step():
    """Three SGD steps of a network whose first layer computes dX: the same parameters as the
    same steps written out with the formulas (dX changes no parameter gradient)."""
    model = _network()
    x, labels = _batch()
    weights = [layer.weight.copy() for layer in model.layers[::2]]
    biases = [layer.bias.copy() for layer in model.layers[::2]]
    optimizer = optim.SGD(model, lr=0.3)
    one_hot = np.eye(4)[labels]
    for _ in range(3):
        optimizer.zero_grad()
        loss_function = nn.CrossEntropyLoss()
        loss_function.forward(model.forward(x), labels)
        model.backward(loss_function)
        optimizer.step()

        z = x @ weights[0] + biases[0]
        h = np.maximum(z, 0)
        logits = h @ weights[1] + biases[1]
        g2 = (nn.softmax(logits, axis=1) - one_hot) / len(x)
        g1 = (g2 @ weights[1].T) * (z > 0)
        grads = [(x.T @ g1, g1.sum(axis=0, keepdims=True)), (h.T @ g2, g2.sum(axis=0, keepdims=True))]
        for k, (gw, gb) in enumerate(grads):
            weights[k], biases[k] = weights[k] - 0.3 * gw, biases[k] - 0.3 * gb
    for layer, weight, bias in zip(model.layers[::2], weights, biases):
        np.testing.assert_allclose(layer.weight, weight, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(layer.bias, bias, rtol=1e-12, atol=1e-12)


def test_nothing_a_student_receives_mentions_a_switch_to_skip_the_input_gradient():
    """The stubs derived from the reference, and every text file of the committed release."""
    for name in ("__init__.py", "nn.py", "optim.py"):
        stub = derive_stub((REFERENCE / name).read_text(encoding="utf-8"), name)
        assert "needs_input_grad" not in stub, name
    released = [path for path in RELEASE.rglob("*") if path.is_file() and path.suffix in {".py", ".ipynb", ".md"}]
    assert any(path.name == "02_backward.ipynb" for path in released)
    for path in released:
        assert "needs_input_grad" not in path.read_text(encoding="utf-8"), path


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
