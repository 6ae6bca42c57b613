"""Question 3: ``SGD.step`` moves every parameter a step against its gradient."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from assignment.questions._common import Info, dtype_problem
from assignment.questions._compare import compare_arrays, matches

INFO = Info("sgd_step", "3", "SGD.step", "03_step", module="mytorch/optim.py")


def _array(value, case: dict) -> np.ndarray:
    return np.array(value, dtype=case.get("dtype", "float64"))


def run(nn, optim, case: dict) -> dict:
    """Build the case's layers (only their given constructors run), then step once per entry of ``steps``.

    ``case["layers"]`` lists {"kind": "Linear", "weight": ..., "bias": ...} or {"kind": "ReLU"};
    ``case["steps"]`` lists, per step, the gradients {"grad_weight", "grad_bias"} of each Linear layer.
    """
    layers, linears = [], []
    for spec in case["layers"]:
        if spec["kind"] == "Linear":
            weight = _array(spec["weight"], case)
            layer = nn.Linear(weight.shape[0], weight.shape[1])
            layer.weight, layer.bias = weight, _array(spec["bias"], case)
            linears.append(layer)
        else:
            layer = nn.ReLU()
        layers.append(layer)
    optimizer = optim.SGD(SimpleNamespace(layers=layers), case["lr"])
    after, grads_unchanged, relu_untouched = [], True, True
    for grads in case["steps"]:
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


def check(case: dict, outputs: dict) -> list[str]:
    problems: list[str] = []
    lr = float(case["lr"])
    linear_specs = [spec for spec in case["layers"] if spec["kind"] == "Linear"]
    before = [{"weight": np.asarray(s["weight"], float), "bias": np.asarray(s["bias"], float)} for s in linear_specs]
    for step, (got_layers, want_layers) in enumerate(zip(outputs["after"], case["expected"]), start=1):
        for i, (got, want) in enumerate(zip(got_layers, want_layers)):
            for name in ("weight", "bias"):
                what = f"after step {step}, layer {i}'s {name}"
                found = compare_arrays(got[name], want[name], what)
                if found:
                    change_wanted = np.asarray(want[name], float) - before[i][name]
                    change_got = np.asarray(got[name], float) - before[i][name] if np.shape(got[name]) == np.shape(before[i][name]) else None
                    if change_got is not None and np.allclose(change_got, 0) and not np.allclose(change_wanted, 0):
                        found = [f"{what} did not change: assign the updated array back to layer.{name}"]
                    elif change_got is not None and matches(change_got, -change_wanted):
                        found = [f"{what} moved up the gradient (ascent); step against it: subtract lr * gradient"]
                    elif change_got is not None and matches(change_got, change_wanted / lr):
                        found = [f"{what} moved by the whole gradient: multiply the gradient by the learning rate lr = {lr}"]
                    problems += found
                    break
                problems += dtype_problem(got[name], case, what)
            before[i] = {k: np.asarray(v, float) for k, v in got.items()}
        if problems:
            break
    if not outputs["grads_unchanged"]:
        problems.append("SGD.step changed the stored gradients; it should only change the parameters")
    if not outputs["relu_untouched"]:
        problems.append("SGD.step gave a ReLU layer parameters; only Linear layers have weights (use isinstance)")
    return problems


def shown(case: dict, outputs: dict) -> list[tuple[str, object, object]]:
    """(label, your answer, expected answer) pairs to print beside the verdict."""
    pairs = []
    for step, (got_layers, want_layers) in enumerate(zip(outputs["after"], case["expected"]), start=1):
        for i, (got, want) in enumerate(zip(got_layers, want_layers)):
            pairs += [(f"step {step}, layer {i} {name}", got[name], want[name]) for name in ("weight", "bias")]
    return pairs
