"""Optimizers of mytorch: how the parameters move once the gradients are known."""

from __future__ import annotations

from typing import Any

import numpy as np

from mytorch.nn import Linear

__all__ = ["SGD"]


class SGD:
    """Plain stochastic gradient descent.

    Fields:
        layers: the model's layers (the optimizer updates those that are ``Linear``).
        lr: the learning rate, eta.
    """

    def __init__(self, model: Any, lr: float = 0.1) -> None:
        """[Given] Remember the model's layers and the learning rate.

        Args:
            model: a ``Sequential`` whose ``Linear`` layers will be trained.
            lr: the learning rate, a positive number.
        """
        if not lr > 0:
            raise ValueError(f"the learning rate must be positive; received lr={lr!r}")
        self.layers = model.layers
        # A Python float, so that lr * grad keeps the gradient's dtype (float32 stays float32).
        self.lr = float(lr)

    def zero_grad(self) -> None:
        """[Given] Reset every stored gradient to zero before the next backward pass."""
        for layer in self.layers:
            if isinstance(layer, Linear):
                # np.zeros (not np.zeros_like): it can take memory the system has already
                # zeroed instead of writing every zero itself, a saving on big layers.
                layer.grad_weight = np.zeros(layer.weight.shape, dtype=layer.weight.dtype)
                layer.grad_bias = np.zeros(layer.bias.shape, dtype=layer.bias.dtype)

    def step(self) -> None:
        """Question 3 (sgd_step): move every parameter a step against its gradient.

            W <- W - lr * dLoss/dW
            b <- b - lr * dLoss/db

        Only ``Linear`` layers have parameters; other layers are left alone.
        The parameters keep their dtype and shape.
        """
        ### BEGIN SOLUTION
        for layer in self.layers:
            if isinstance(layer, Linear):
                layer.weight = layer.weight - self.lr * layer.grad_weight
                layer.bias = layer.bias - self.lr * layer.grad_bias
        ### END SOLUTION
