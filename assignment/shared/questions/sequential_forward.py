"""Question 1.3: ``Sequential.forward`` feeds each layer's output to the next.

Graded with stand-in layers that compute seeded maps (see ``_standins``), so the
grade depends on ``Sequential`` alone. A case names its layers, their widths
(``sizes``), the ``seed`` of the maps and the input ``x``; the expected output
is what the grader computes from those, never something the sandbox holds (the
visible test also writes it out as ``expected``, for the student to read).
"""

from __future__ import annotations

import numpy as np

from assignment.shared.questions._common import Info
from assignment.shared.questions._compare import compare_arrays, same
from assignment.shared.questions._forms import ANSWER, Choice, Integer, Many, conforms
from assignment.shared.questions._standins import EVENTS, LOSS, MAX_CALLS, MAX_KEPT, Network, network, standins

INFO = Info("sequential_forward", "1.3", "Sequential.forward", "01_forward")


def _network(case: dict) -> Network:
    return network(case, rows=len(case["x"]))


def run(nn, optim, case: dict) -> dict:
    """Wire the student's Sequential to the case's stand-in layers and run forward on ``x``."""
    net = _network(case)
    x = np.array(case["x"], dtype=np.float64)
    layers, log = standins(net, watched="forward")
    model = nn.Sequential(*layers)
    out = model.forward(x)
    return {"output": out, **log.report()}


def form(case: dict) -> dict:
    """The form of what ``run`` reports (see ``_forms``)."""
    layers = len(case["layers"])
    return {"output": ANSWER,
            "calls": Many([Choice(EVENTS), Integer(LOSS, layers - 1)], MAX_CALLS),
            "received": [Many(ANSWER, MAX_KEPT) for _ in range(layers)]}


def check(case: dict, outputs: dict) -> list[str]:
    malformed = conforms(outputs, form(case))
    if malformed:
        return malformed
    names = case["layers"]
    wanted = _network(case).activations(np.array(case["x"], dtype=np.float64))
    calls = [tuple(call) for call in outputs["calls"]]
    problems = []
    # What the log shows can only add failures: the verdict rests on the values, recomputed here.
    order = [index for event, index in calls if event == "forward"]
    if order != list(range(len(names))):
        if not order:
            problems.append("no layer's forward was called: loop over self.layers and call each one")
        elif order == list(reversed(range(len(names)))):
            problems.append("the layers ran last to first; forward goes from the first layer to the last")
        else:
            problems.append(f"the layers' forward ran in the order {order}; expected each layer once, "
                            f"in order {list(range(len(names)))}")
    for index in dict.fromkeys(order):
        kept = outputs["received"][index]
        if not kept or not same(kept[0], wanted[index]):
            if index == 0:
                problems.append(f"layer 0 ({names[0]}) did not receive the network's input x")
            else:
                problems.append(f"layer {index} ({names[index]}) did not receive the output of layer "
                                f"{index - 1}: pass each layer's output on as the next layer's input")
            break
    if any(event != "forward" for event, _ in calls):
        problems.append("Sequential.forward called something other than the layers' forward; it should "
                        "only call forward")
    if not problems:
        problems = compare_arrays(outputs["output"], wanted[-1], "Sequential.forward's output")
        if problems:
            problems.append("return the output of the last layer")
    return problems


def shown(case: dict, outputs: dict) -> list[tuple[str, object, object]]:
    """(label, your answer, expected answer) pairs to print beside the verdict."""
    if conforms(outputs, form(case)):
        return []
    wanted = _network(case).activations(np.array(case["x"], dtype=np.float64))
    seen = [0] * len(case["layers"])
    steps = []
    for event, index in outputs["calls"]:
        if event != "forward":
            steps.append(f"{event} (layer {index})")
            continue
        kept = outputs["received"][index]
        got = kept[seen[index]] if seen[index] < len(kept) else None
        seen[index] += 1
        steps.append(f"layer {index}" + ("" if got is not None and same(got, wanted[index]) else " (wrong input)"))
    expected_calls = " -> ".join(f"layer {i}" for i in range(len(case["layers"])))
    return [("forward calls", " -> ".join(steps) or "none", expected_calls),
            ("output", outputs["output"], wanted[-1])]
