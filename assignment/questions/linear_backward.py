"""Question 2.2: ``Linear.backward`` stores dW and db and returns dX."""

from __future__ import annotations

import numpy as np

from assignment.questions._common import Info, array, dtype_problem, unchanged
from assignment.questions._compare import compare_arrays, matches
from assignment.questions._forms import ANSWER, FLAG, TEXT, Maybe, conforms

INFO = Info("linear_backward", "2.2", "Linear.backward", "02_backward")


def _layer(nn, case: dict):
    """A Linear layer with the case's parameters and stored input."""
    weight, bias = array(case, "weight"), array(case, "bias")
    layer = nn.Linear(weight.shape[0], weight.shape[1])
    layer.weight, layer.bias = weight, bias
    layer.x = array(case, "x")
    return layer


def run(nn, optim, case: dict) -> dict:
    """Run backward on a lone layer, then again as a network's first layer
    (``needs_input_grad`` False), which must still store its parameters' gradients."""
    layer = _layer(nn, case)
    grad = array(case, "grad")
    grad_before = grad.copy()
    grad_x = layer.backward(grad)
    # As a network's first layer. The gradients start as the constructor's zeros (the cases'
    # expected gradients are not zero), so a backward that never stores them shows, while one
    # that accumulates (+=) or writes in place still works.
    first = _layer(nn, case)
    first.needs_input_grad = False
    try:
        first.backward(array(case, "grad"))
        first_layer_error = None
    except Exception as error:  # reported only if the lone layer was right (see check)
        first_layer_error = f"{type(error).__name__}: {error}"[:500]
    return {
        "grad_x": grad_x,
        # A lone layer must return dLoss/dX; only Sequential turns this off, on its first layer.
        "told_to_skip": getattr(layer, "needs_input_grad", True) is False,
        "grad_weight": getattr(layer, "grad_weight", None),
        "grad_bias": getattr(layer, "grad_bias", None),
        "grad_unchanged": unchanged(grad_before, grad),
        "first_layer_grad_weight": getattr(first, "grad_weight", None),
        "first_layer_grad_bias": getattr(first, "grad_bias", None),
        "first_layer_error": first_layer_error,
    }


def form(case: dict) -> dict:
    """The form of what ``run`` reports (see ``_forms``)."""
    return {"grad_x": ANSWER, "told_to_skip": FLAG, "grad_weight": ANSWER, "grad_bias": ANSWER,
            "grad_unchanged": FLAG, "first_layer_grad_weight": ANSWER, "first_layer_grad_bias": ANSWER,
            "first_layer_error": Maybe(TEXT)}


def check(case: dict, outputs: dict) -> list[str]:
    malformed = conforms(outputs, form(case))
    if malformed:
        return malformed
    expected = case["expected"]
    n = len(case["x"])
    problems = []
    if outputs["grad_x"] is None:
        problems.append(_none_returned(outputs["told_to_skip"]))
    else:
        problems += compare_arrays(outputs["grad_x"], expected["grad_x"], "the returned gradient of the input (dX)")
    problems += compare_arrays(outputs["grad_weight"], expected["grad_weight"], "self.grad_weight", allow_flat=True)
    bias_problems = compare_arrays(outputs["grad_bias"], expected["grad_bias"], "self.grad_bias", allow_flat=True)
    if bias_problems and matches(outputs["grad_bias"], np.asarray(expected["grad_bias"]) / n):
        bias_problems = ["self.grad_bias is the mean over the batch; it should be the sum over the batch (axis 0)"]
    problems += bias_problems
    if not problems and outputs.get("first_layer_error"):
        problems.append("as a network's first layer (needs_input_grad False) Linear.backward raised "
                        + outputs["first_layer_error"])
    elif not problems and (compare_arrays(outputs["first_layer_grad_weight"], expected["grad_weight"], "", allow_flat=True)
                           or compare_arrays(outputs["first_layer_grad_bias"], expected["grad_bias"], "", allow_flat=True)):
        problems.append("as a network's first layer (needs_input_grad False) Linear.backward did not store the "
                        "right grad_weight and grad_bias: store them in part 1, before the given 'return None'")
    if not problems:
        for name in ("grad_x", "grad_weight", "grad_bias"):
            problems += dtype_problem(outputs[name], case, name)
    if not outputs["grad_unchanged"]:
        problems.append("Linear.backward changed the incoming gradient in place; compute new arrays instead")
    return problems


def _none_returned(told_to_skip: bool) -> str:
    message = ("Linear.backward returned None: return dLoss/dX = G W^T (only a network's first "
               "layer skips it, when needs_input_grad is False)")
    if told_to_skip:
        message += ("; this layer's needs_input_grad was False, though a Linear on its own keeps "
                    "the True its constructor gives it (only Sequential sets it False)")
    return message


def shown(case: dict, outputs: dict) -> list[tuple[str, object, object]]:
    """(label, your answer, expected answer) pairs to print beside the verdict."""
    if conforms(outputs, form(case)):
        return []
    return [(name, outputs[name], case["expected"][name]) for name in ("grad_x", "grad_weight", "grad_bias")]
