"""mytorch: a tiny PyTorch look-alike written with NumPy alone."""

from mytorch import nn, optim

__all__ = ["nn", "optim"]
