"""Deliberately broken stand-ins for a student's ``mytorch.nn`` and ``mytorch.optim``.

Each fake class derives from the reference class (so the given ``__init__`` and
helpers work) and breaks the methods a student writes, in one of these modes:

* ``not_implemented``: raise NotImplementedError (the state of the release stubs);
* ``raises``: raise a ValueError;
* ``none``: return None (a forgotten ``return``) and store nothing;
* ``wrong_shape``: return (and store) transposed or truncated arrays;
* ``nan``: return arrays (or a loss) full of NaN.

Also shared by the visualizer tests: ``with_class(**classes)`` (the reference nn
with some classes replaced) and the visualizers' names, ``NN_ONLY`` and ``WITH_OPTIM``.
"""

from __future__ import annotations

import types

import numpy as np

from mytorch import nn as ref_nn
from mytorch import optim as ref_optim

MODES = ("not_implemented", "raises", "none", "wrong_shape", "nan")

# The visualizers: those given only the student's nn, and those also given their optim.
NN_ONLY = ("linear_forward", "relu_forward", "sequential_forward", "xeloss_forward", "xeloss_backward",
           "linear_backward", "relu_backward", "sequential_backward")
WITH_OPTIM = ("sgd_step", "training_dashboard")


def with_class(**classes) -> types.SimpleNamespace:
    """The reference nn module with some classes replaced."""
    names = ("Linear", "ReLU", "Sequential", "CrossEntropyLoss", "softmax")
    module = {name: getattr(ref_nn, name) for name in names}
    module.update(classes)
    return types.SimpleNamespace(**module)


def _broken(mode: str, name: str, reference, wrong_shape, store=None):
    """A method that misbehaves according to ``mode``."""

    def method(self, *args, **kwargs):
        if mode == "not_implemented":
            raise NotImplementedError
        if mode == "raises":
            raise ValueError(f"{name} exploded on purpose")
        if mode == "none":
            return None
        value = reference(self, *args, **kwargs)
        if mode == "wrong_shape":
            return wrong_shape(self, value)
        if mode == "nan":
            if value is None:
                if store is not None:
                    store(self)
                return None
            return np.asarray(value) * np.nan
        raise AssertionError(mode)

    method.__name__ = name.split(".")[-1]
    method.__qualname__ = name
    return method


def _transpose_grads(self, value):
    self.grad_weight = self.grad_weight.T
    self.grad_bias = self.grad_bias.T.copy()
    return value.T


def _nan_params(self):
    for layer in self.layers:
        if isinstance(layer, ref_nn.Linear):
            layer.weight = layer.weight * np.nan
            layer.bias = layer.bias * np.nan


def _transpose_params(self, value):
    for layer in self.layers:
        if isinstance(layer, ref_nn.Linear):
            layer.weight = layer.weight.T.copy()
    return value


def broken_nn(mode: str) -> types.SimpleNamespace:
    """A fake ``mytorch.nn`` whose student-written methods all misbehave in ``mode``."""
    assert mode in MODES

    class Linear(ref_nn.Linear):
        forward = _broken(mode, "Linear.forward", ref_nn.Linear.forward, lambda self, v: v.T)
        backward = _broken(mode, "Linear.backward", ref_nn.Linear.backward, _transpose_grads)

    class ReLU(ref_nn.ReLU):
        forward = _broken(mode, "ReLU.forward", ref_nn.ReLU.forward, lambda self, v: v[:, :-1])
        backward = _broken(mode, "ReLU.backward", ref_nn.ReLU.backward, lambda self, v: v[:, :-1])

    class Sequential(ref_nn.Sequential):
        forward = _broken(mode, "Sequential.forward", ref_nn.Sequential.forward, lambda self, v: v[:, :1])
        backward = _broken(mode, "Sequential.backward", ref_nn.Sequential.backward, lambda self, v: v.T)

    class CrossEntropyLoss(ref_nn.CrossEntropyLoss):
        forward = _broken(mode, "CrossEntropyLoss.forward", ref_nn.CrossEntropyLoss.forward,
                          lambda self, v: np.full(len(self.logits), v))
        backward = _broken(mode, "CrossEntropyLoss.backward", ref_nn.CrossEntropyLoss.backward,
                           lambda self, v: v.T)

    return types.SimpleNamespace(Linear=Linear, ReLU=ReLU, Sequential=Sequential, CrossEntropyLoss=CrossEntropyLoss,
                                 softmax=ref_nn.softmax)


def broken_optim(mode: str) -> types.SimpleNamespace:
    """A fake ``mytorch.optim`` whose ``SGD.step`` misbehaves in ``mode``."""
    assert mode in MODES

    class SGD(ref_optim.SGD):
        step = _broken(mode, "SGD.step", ref_optim.SGD.step, _transpose_params, store=_nan_params)

    return types.SimpleNamespace(SGD=SGD, Linear=ref_nn.Linear)
