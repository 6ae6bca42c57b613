"""Question 3: ``SGD.step`` moves every parameter a step against its gradient."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import numpy as np

from assignment.shared.questions._common import Info, dtype_problem, linear_layer
from assignment.shared.questions._compare import as_array, compare_arrays, matches
from assignment.shared.questions._forms import ANSWER, FLAG, conforms

INFO = Info("sgd_step", "3", "SGD.step", "03_step", module="mytorch/optim.py")


def _array(value, case: dict) -> np.ndarray:
    return np.array(value, dtype=case.get("dtype", "float64"))


def run(nn, optim, case: dict) -> dict:
    """Build the case's layers (only their given constructors run), then step once per entry of ``steps``.

    ``case["layers"]`` lists {"kind": "Linear", "weight": ..., "bias": ...} or {"kind": "ReLU"};
    ``case["steps"]`` lists, per step, the gradients {"grad_weight", "grad_bias"} of each Linear layer.
    Everything is read from the case before the student's code runs (it could change the case;
    whatever it reports is held against the trusted case outside anyway, see ``check``).
    """
    specs, steps = copy.deepcopy(case["layers"]), copy.deepcopy(case["steps"])
    layers, linears = [], []
    for spec in specs:
        if spec["kind"] == "Linear":
            layer = linear_layer(nn, _array(spec["weight"], case), _array(spec["bias"], case))
            linears.append(layer)
        else:
            layer = nn.ReLU()
        layers.append(layer)
    optimizer = optim.SGD(SimpleNamespace(layers=list(layers)), case["lr"])
    after, grads_unchanged, relu_untouched = [], True, True
    for grads in steps:
        given = []
        for layer, g in zip(linears, grads):
            layer.grad_weight, layer.grad_bias = _array(g["grad_weight"], case), _array(g["grad_bias"], case)
            given.append((layer.grad_weight.copy(), layer.grad_bias.copy()))
        optimizer.step()
        for layer, (gw, gb) in zip(linears, given):
            grads_unchanged &= np.array_equal(layer.grad_weight, gw) and np.array_equal(layer.grad_bias, gb)
        relu_untouched &= all(not hasattr(layer, "weight") for layer in layers if layer not in linears)
        after.append([{"weight": np.array(layer.weight, copy=True), "bias": np.array(layer.bias, copy=True)}
                      for layer in linears])
    return {"after": after, "grads_unchanged": bool(grads_unchanged), "relu_untouched": bool(relu_untouched)}


def _linear_specs(case: dict) -> list[dict]:
    return [spec for spec in case["layers"] if spec["kind"] == "Linear"]


def form(case: dict) -> dict:
    """The form of what ``run`` reports (see ``_forms``): per step, per Linear layer, its weight and bias."""
    per_step = [{"weight": ANSWER, "bias": ANSWER} for _ in _linear_specs(case)]
    return {"after": [per_step for _ in case["steps"]], "grads_unchanged": FLAG, "relu_untouched": FLAG}


def _why(got, want: np.ndarray, before: np.ndarray, lr: float, what: str, name: str) -> list[str]:
    """A diagnosis of a wrong parameter after a step, from how it moved (empty if none fits)."""
    moved, unreadable = as_array(got, what)
    if unreadable or moved.shape != before.shape:
        return []
    change_got, change_wanted = moved - before, want - before
    if np.allclose(change_got, 0) and not np.allclose(change_wanted, 0):
        return [f"{what} did not change: assign the updated array back to layer.{name}"]
    if matches(change_got, -change_wanted):
        return [f"{what} moved up the gradient (ascent); step against it: subtract lr * gradient"]
    if matches(change_got, change_wanted / lr):
        return [f"{what} moved by the whole gradient: multiply the gradient by the learning rate lr = {lr}"]
    return []


def check(case: dict, outputs: dict) -> list[str]:
    malformed = conforms(outputs, form(case))
    if malformed:
        return malformed
    problems: list[str] = []
    lr = float(case["lr"])
    before = [{name: np.asarray(s[name], float) for name in ("weight", "bias")} for s in _linear_specs(case)]
    for step, (got_layers, want_layers) in enumerate(zip(outputs["after"], case["expected"], strict=True), start=1):
        for i, (got, want) in enumerate(zip(got_layers, want_layers, strict=True)):
            for name in ("weight", "bias"):
                what = f"after step {step}, layer {i}'s {name}"
                wanted = np.asarray(want[name], float)
                found = compare_arrays(got[name], wanted, what)
                if found:
                    problems += _why(got[name], wanted, before[i][name], lr, what, name) or found
                    break
                problems += dtype_problem(got[name], case, what)
            # Only read on if this step was right: the next one starts from the expected values.
            before[i] = {name: np.asarray(want[name], float) for name in ("weight", "bias")}
        if problems:
            break
    if not outputs["grads_unchanged"]:
        problems.append("SGD.step changed the stored gradients; it should only change the parameters")
    if not outputs["relu_untouched"]:
        problems.append("SGD.step gave a ReLU layer parameters; only Linear layers have weights (use isinstance)")
    return problems


def shown(case: dict, outputs: dict) -> list[tuple[str, object, object]]:
    """(label, your answer, expected answer) pairs to print beside the verdict."""
    if conforms(outputs, form(case)):
        return []
    pairs = []
    for step, (got_layers, want_layers) in enumerate(zip(outputs["after"], case["expected"]), start=1):
        for i, (got, want) in enumerate(zip(got_layers, want_layers)):
            pairs += [(f"step {step}, layer {i} {name}", got[name], want[name]) for name in ("weight", "bias")]
    return pairs
