"""CrossEntropyLoss.backward and the softmax its forward keeps.

The reference's forward keeps softmax(I) with the logits it belongs to, so that
backward need not compute it again. Backward must still be right without it: with
no forward at all, after logits set by hand, and never with a softmax that belongs
to other logits.
"""

from __future__ import annotations

import numpy as np

from mytorch import nn


def _expected(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(softmax(I) - T) / N, computed independently in float64."""
    logits = logits.astype(np.float64)
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    probs[np.arange(len(labels)), labels] -= 1
    return probs / len(labels)


def _problem(seed: int, n: int = 5, c: int = 4):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, c)) * 3, rng.integers(0, c, size=n)


def test_backward_after_forward_and_twice_in_a_row():
    logits, labels = _problem(0)
    loss_function = nn.CrossEntropyLoss()
    loss_function.forward(logits, labels)
    first = loss_function.backward()
    np.testing.assert_allclose(first, _expected(logits, labels), rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(loss_function.backward(), first)  # the kept softmax was not changed in place


def test_backward_without_forward_uses_the_stored_logits():
    logits, labels = _problem(1)
    loss_function = nn.CrossEntropyLoss()
    loss_function.logits = logits
    loss_function.one_hot = np.eye(logits.shape[1])[labels]
    np.testing.assert_allclose(loss_function.backward(), _expected(logits, labels), rtol=1e-12, atol=1e-15)


def test_logits_replaced_after_forward_are_the_ones_differentiated():
    old_logits, labels = _problem(2)
    new_logits, _ = _problem(3)
    loss_function = nn.CrossEntropyLoss()
    loss_function.forward(old_logits, labels)
    loss_function.logits = new_logits
    np.testing.assert_allclose(loss_function.backward(), _expected(new_logits, labels), rtol=1e-12, atol=1e-15)


def test_a_forward_refused_at_its_checks_leaves_the_previous_pair_consistent():
    logits, labels = _problem(4)
    loss_function = nn.CrossEntropyLoss()
    loss_function.forward(logits, labels)
    bad_logits, _ = _problem(5)
    try:
        loss_function.forward(bad_logits, labels + 10)  # labels out of range: refused before storing anything
    except ValueError:
        pass
    np.testing.assert_allclose(loss_function.backward(), _expected(logits, labels), rtol=1e-12, atol=1e-15)


def test_float32_stays_float32_through_the_kept_softmax():
    logits, labels = _problem(6)
    loss_function = nn.CrossEntropyLoss()
    loss_function.forward(logits.astype(np.float32), labels)
    grad = loss_function.backward()
    assert grad.dtype == np.float32
    np.testing.assert_allclose(grad, _expected(logits.astype(np.float32), labels), rtol=1e-5, atol=1e-7)
