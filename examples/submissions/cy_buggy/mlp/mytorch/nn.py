"""Layers and the loss function of mytorch: the forward and backward passes.

Shapes follow one convention throughout: a batch of N examples is a matrix with
one example per row. ``Linear`` maps (N, in_features) to (N, out_features);
``ReLU`` keeps the shape; ``CrossEntropyLoss`` turns (N, C) logits and (N,)
integer labels into one number.

Every ``backward`` receives the gradient of the loss with respect to the
layer's *output* and returns the gradient with respect to its *input*: the
chain rule, one layer at a time. Arrays keep their dtype: float32 in, float32
out.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

__all__ = ["softmax", "Linear", "ReLU", "Sequential", "CrossEntropyLoss"]


# ---------------------------------------------------------------------------
# Given helpers: shape checks that turn a silent broadcasting bug into an
# error message naming the expected and the received shape.
# ---------------------------------------------------------------------------


def _as_matrix(x: Any, name: str) -> np.ndarray:
    """Return ``x`` as a 2-D array, or raise a ValueError naming its shape."""
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array shaped (batch_size, features); "
            f"received shape {x.shape}"
        )
    return x


def _as_gradient(grad: Any, name: str) -> np.ndarray:
    """Return ``grad`` as an array, or raise a ValueError if it is None."""
    if grad is None:
        # The usual cause: a backward whose last line computes the gradient but never returns it.
        raise ValueError(f"{name} is None: the layer after this one returned no gradient "
                         f"(does its backward end with a return?)")
    return np.asarray(grad)


def _expect_shape(x: np.ndarray, expected: tuple, name: str) -> None:
    """Raise a ValueError if ``x.shape`` differs from ``expected``."""
    if x.shape != expected:
        raise ValueError(f"{name} should be shaped {expected}; received shape {x.shape}")


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """[Given] Turn each row of scores into probabilities that sum to 1.

    softmax(x)_c = exp(x_c - m) / sum_k exp(x_k - m), with m = max_k x_k.
    Subtracting the row maximum changes nothing mathematically but keeps
    ``exp`` from overflowing: the largest exponent is exp(0) = 1.

    Args:
        x: scores, any shape; float32 stays float32.
        axis: the axis that holds the classes.

    Returns:
        An array shaped like ``x`` whose entries lie in [0, 1] and sum to 1
        along ``axis``.
    """
    x = np.asarray(x)
    # np.maximum.reduce is x.max without its Python wrapper, which costs more than
    # the work itself on a small batch.
    probs = np.exp(x - np.maximum.reduce(x, axis=axis, keepdims=True))
    probs /= probs.sum(axis=axis, keepdims=True)
    return probs


class Linear:
    """A fully connected layer: Linear(X) = X W + b.

    Fields:
        weight: W, shaped (in_features, out_features).
        bias: b, shaped (1, out_features); added to every row of X W.
        x: the input of the last ``forward``, kept for ``backward``.
        grad_weight: dLoss/dW after ``backward``, shaped like ``weight``.
        grad_bias: dLoss/db after ``backward``, shaped like ``bias``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        """[Given] Create the parameters, drawn like PyTorch's default.

        Both W and b are drawn uniformly from [-k, k] with k = 1/sqrt(in_features),
        which keeps the outputs' scale close to the inputs' scale.

        Args:
            in_features: number of columns of the input.
            out_features: number of columns of the output (neurons).
            dtype: dtype of the parameters (float32 by default, like PyTorch).
            rng: random generator, for reproducible weights.
        """
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        rng = np.random.default_rng() if rng is None else rng
        bound = 1.0 / np.sqrt(self.in_features)
        self.weight = rng.uniform(-bound, bound, (self.in_features, self.out_features)).astype(dtype)
        self.bias = rng.uniform(-bound, bound, (1, self.out_features)).astype(dtype)
        self.x: np.ndarray | None = None
        self.grad_weight = np.zeros_like(self.weight)
        self.grad_bias = np.zeros_like(self.bias)

    def __repr__(self) -> str:
        return f"Linear(in_features={self.in_features}, out_features={self.out_features})"

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Question 1.1 (linear_forward): compute X W + b.

        Args:
            x: input X shaped (N, in_features).

        Returns:
            The output shaped (N, out_features).
        """
        x = _as_matrix(x, "Linear.forward input x")
        _expect_shape(x, (x.shape[0], self.weight.shape[0]), "Linear.forward input x")
        self.x = x
        return x @ self.weight  # forgot the bias

    def backward(self, grad: np.ndarray) -> np.ndarray:
        """Question 2.2 (linear_backward): gradients of W, b and the input X.

        With G = dLoss/dOutput shaped (N, out_features):
            dLoss/dW = X^T G          shaped (in_features, out_features)
            dLoss/db = sum_n G_n      shaped (1, out_features)
            dLoss/dX = G W^T          shaped (N, in_features)

        Store the first two in ``grad_weight`` and ``grad_bias``; return the third.

        Args:
            grad: G, the gradient of the loss with respect to this layer's output.

        Returns:
            dLoss/dX, shaped like the stored input.
        """
        if self.x is None:
            raise RuntimeError("Linear.backward was called before Linear.forward (self.x is None)")
        grad = _as_gradient(grad, "Linear.backward grad")
        _expect_shape(grad, (self.x.shape[0], self.weight.shape[1]), "Linear.backward grad")
        self.grad_weight = self.x.T @ grad
        self.grad_bias = grad.sum(axis=0, keepdims=True)
        return grad @ self.weight.T


class ReLU:
    """The rectified linear unit, applied entry by entry: ReLU(x) = max(x, 0).

    Fields:
        x: the input of the last ``forward``, kept for ``backward``.
    """

    def __init__(self) -> None:
        self.x: np.ndarray | None = None

    def __repr__(self) -> str:
        return "ReLU()"

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Question 1.2 (relu_forward): keep positive entries, zero the rest.

        Args:
            x: input of any shape.

        Returns:
            An array shaped like ``x``: x where x > 0, else 0.
        """
        x = np.asarray(x)
        self.x = x
        return np.maximum(x, 0)

    def backward(self, grad: np.ndarray) -> np.ndarray:
        """Question 2.3 (relu_backward): let the gradient through where x > 0.

        dLoss/dX = dLoss/dOutput * 1[X > 0]   (entry by entry; the slope at 0 is taken as 0)

        Args:
            grad: the gradient of the loss with respect to this layer's output.

        Returns:
            The gradient with respect to the input, shaped like ``grad``.
        """
        if self.x is None:
            raise RuntimeError("ReLU.backward was called before ReLU.forward (self.x is None)")
        grad = _as_gradient(grad, "ReLU.backward grad")
        _expect_shape(grad, self.x.shape, "ReLU.backward grad")
        return grad * (self.x >= 0)


class Sequential:
    """A feed-forward network: the layers applied one after the other.

    Fields:
        layers: the layers, in the order the data flows through them.
    """

    def __init__(self, *layers: Any) -> None:
        self.layers: list = list(layers)

    def __repr__(self) -> str:
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"Sequential({inner})"

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Question 1.3 (sequential_forward): feed each layer's output to the next.

        Args:
            x: the network's input, shaped (N, features of the first layer).

        Returns:
            The output of the last layer.
        """
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, loss_function: Any) -> np.ndarray:
        """Question 2.4 (sequential_backward): backpropagate from the loss to the input.

        Start from ``loss_function.backward()`` (dLoss/dLogits) and hand each
        layer's returned gradient to the layer before it, last layer first.

        The point is the gradients this leaves in every layer (``grad_weight``,
        ``grad_bias``); what comes out of the first layer is passed on as is.

        Args:
            loss_function: a loss whose ``forward`` has been called on this
                network's output.

        Returns:
            What the first layer's backward returned: dLoss/dInput, shaped like the input.
        """
        grad = loss_function.backward()
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
        return grad


class CrossEntropyLoss:
    """Mean cross-entropy between logits and integer class labels.

    With P = softmax(I) row by row and T the one-hot matrix of the labels:
        CrossEntropy_n = -sum_c T_{n,c} log P_{n,c}
        Loss = (1/N) sum_n CrossEntropy_n

    Fields:
        logits: I, the (N, C) logits of the last ``forward``.
        one_hot: T, the (N, C) one-hot labels of the last ``forward``.
    """

    def __init__(self) -> None:
        self.logits: np.ndarray | None = None
        self.one_hot: np.ndarray | None = None

    def __repr__(self) -> str:
        return "CrossEntropyLoss()"

    def forward(self, logits: np.ndarray, labels: Sequence[int] | np.ndarray) -> float:
        """Question 1.4 (xeloss_forward): the mean cross-entropy, as a float.

        Args:
            logits: I, shaped (N, C): one row of class scores per example.
            labels: shaped (N,): the index of the correct class of each example.

        Returns:
            The mean loss over the batch, a Python float.
        """
        logits = _as_matrix(logits, "CrossEntropyLoss logits")
        labels = np.asarray(labels)
        n, c = logits.shape
        _expect_shape(labels, (n,), "CrossEntropyLoss labels")
        if n == 0:
            raise ValueError("the mean loss needs at least one example; received an empty batch (N = 0)")
        if labels.dtype.kind not in "iu":  # signed or unsigned integers
            raise ValueError(f"labels must be integers (class indices); received dtype {labels.dtype}")
        if labels.min() < 0 or labels.max() >= c:
            raise ValueError(f"labels must lie in [0, {c - 1}]; "
                             f"received values from {labels.min()} to {labels.max()}")
        # Given: the labels as a one-hot matrix T, shaped (N, C), in the logits' dtype.
        one_hot = np.zeros(logits.shape, dtype=logits.dtype)
        one_hot[np.arange(n), labels] = 1
        self.logits = logits
        self.one_hot = one_hot
        # log softmax without the log of softmax: log P = (I - m) - log sum exp(I - m).
        # The log of a probability that underflowed to 0 would give -inf.
        shifted = logits - logits.max(axis=1, keepdims=True)
        exps = np.exp(shifted)
        sums = exps.sum(axis=1, keepdims=True)
        log_probs = shifted - np.log(sums)
        # P itself, kept for backward with the logits it belongs to (as PyTorch saves it;
        # like PyTorch's, it does not follow later in-place changes to that logits array).
        self._saved_softmax = (logits, exps / sums)
        # sum over n and c of T * log P: a dot product of the two matrices, flattened.
        return float(-np.vdot(one_hot, log_probs))

    def backward(self) -> np.ndarray:
        """Question 2.1 (xeloss_backward): dLoss/dLogits = (softmax(I) - T) / N.

        Returns:
            The gradient of the mean loss with respect to the logits, shaped (N, C).
        """
        if self.logits is None or self.one_hot is None:
            raise RuntimeError("CrossEntropyLoss.backward was called before forward")
        saved_logits, probs = getattr(self, "_saved_softmax", (None, None))
        if saved_logits is not self.logits:  # forward kept no softmax for these logits
            probs = softmax(self.logits, axis=1)
        grad = probs - self.one_hot
        grad /= self.logits.shape[0]
        return grad
