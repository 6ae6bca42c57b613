"""Question 1.3: ``Sequential.forward`` feeds each layer's output to the next.

Graded with stand-in layers (see ``_standins``), so the grade depends on
``Sequential`` alone.
"""

from __future__ import annotations

import numpy as np

from assignment.questions._common import Info
from assignment.questions._compare import compare_arrays
from assignment.questions._standins import StandInLayer

INFO = Info("sequential_forward", "1.3", "Sequential.forward", "01_forward")


def run(nn, optim, case: dict) -> dict:
    """Wire the student's Sequential to stand-ins that replay the case's activations."""
    activations = case["activations"]
    log: list = []
    layers = [
        StandInLayer(name, i, log, forward_io=(activations[i], activations[i + 1]))
        for i, name in enumerate(case["layers"])
    ]
    model = nn.Sequential(*layers)
    out = model.forward(np.array(activations[0], dtype=np.float64))
    return {"output": out, "calls": [list(call) for call in log]}


def check(case: dict, outputs: dict) -> list[str]:
    names = case["layers"]
    calls = [tuple(call) for call in outputs["calls"]]
    problems = []
    order = [index for event, index, _ in calls if event == "forward"]
    if order != list(range(len(names))):
        if not order:
            problems.append("no layer's forward was called: loop over self.layers and call each one")
        elif order == list(reversed(range(len(names)))):
            problems.append("the layers ran last to first; forward goes from the first layer to the last")
        else:
            problems.append(f"the layers' forward ran in the order {order}; expected each layer once, "
                            f"in order {list(range(len(names)))}")
    for event, index, ok in calls:
        if event == "forward" and not ok and index > 0:
            problems.append(f"layer {index} ({names[index]}) did not receive the output of layer "
                            f"{index - 1}: pass each layer's output on as the next layer's input")
            break
        if event == "forward" and not ok and index == 0:
            problems.append(f"layer 0 ({names[0]}) did not receive the network's input x")
            break
    if not problems:
        problems = compare_arrays(outputs["output"], case["activations"][-1], "Sequential.forward's output")
        if problems:
            problems.append("return the output of the last layer")
    return problems


def shown(case: dict, outputs: dict) -> list[tuple[str, object, object]]:
    """(label, your answer, expected answer) pairs to print beside the verdict."""
    calls = " -> ".join(f"layer {i}{'' if ok else ' (wrong input)'}" for event, i, ok in outputs["calls"]) or "none"
    expected_calls = " -> ".join(f"layer {i}" for i in range(len(case["layers"])))
    return [("forward calls", calls, expected_calls), ("output", outputs["output"], case["activations"][-1])]
