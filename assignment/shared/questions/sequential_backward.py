"""Question 2.4: ``Sequential.backward`` hands the gradient back, last layer first.

Graded with stand-in layers and a stand-in loss that compute seeded maps (see
``_standins``), so the grade depends on ``Sequential`` alone. A case names its
layers, their widths (``sizes``), the batch size and the ``seed`` of the maps.
Each stand-in keeps the gradient its backward received; the grader recomputes
what each must have received (the loss's gradient for the last layer, then what
the layer after it returned). The visible test also writes out, as ``expected``,
the gradient the first layer must receive, for the student to read.
"""

from __future__ import annotations

from assignment.shared.questions._common import Info
from assignment.shared.questions._compare import same
from assignment.shared.questions._forms import ANSWER, Choice, Integer, Many, conforms
from assignment.shared.questions._standins import (EVENTS, LOSS, MAX_CALLS, MAX_KEPT, Network, StandInLoss, network,
                                            standins)

INFO = Info("sequential_backward", "2.4", "Sequential.backward", "02_backward")


def _network(case: dict) -> Network:
    return network(case, rows=case["batch"])


def run(nn, optim, case: dict) -> dict:
    """Wire the student's Sequential to the case's stand-ins and run backward from the stand-in loss."""
    net = _network(case)
    layers, log = standins(net, watched="backward")
    model = nn.Sequential(*layers)
    model.backward(StandInLoss(net, log))
    return log.report()


def form(case: dict) -> dict:
    """The form of what ``run`` reports (see ``_forms``)."""
    layers = len(case["layers"])
    return {"calls": Many([Choice(EVENTS), Integer(LOSS, layers - 1)], MAX_CALLS),
            "received": [Many(ANSWER, MAX_KEPT) for _ in range(layers)]}


def _received_right(outputs: dict, wanted: list) -> list[bool]:
    """Per layer: did its backward receive exactly one gradient, the right one?"""
    return [len(kept) == 1 and same(kept[0], want) for kept, want in zip(outputs["received"], wanted, strict=True)]


def check(case: dict, outputs: dict) -> list[str]:
    malformed = conforms(outputs, form(case))
    if malformed:
        return malformed
    names = case["layers"]
    wanted = _network(case).gradients()
    calls = [tuple(call) for call in outputs["calls"]]
    problems = []
    # What the log shows can only add failures: the verdict rests on the gradients the layers
    # received, held against what the grader recomputes here.
    loss_calls = sum(1 for event, _ in calls if event == "loss.backward")
    if loss_calls == 0:
        problems.append("loss_function.backward() was never called: the backward pass starts from the loss's gradient")
    elif loss_calls > 1:
        problems.append(f"loss_function.backward() was called {loss_calls} times; call it once, before the layers")
    elif calls[0][0] != "loss.backward":
        problems.append("a layer's backward ran before loss_function.backward(): start from the loss")
    order = [index for event, index in calls if event == "backward"]
    expected_order = list(reversed(range(len(names))))
    if order != expected_order:
        if not order:
            problems.append("no layer's backward was called: loop over the layers and call backward on each")
        elif order == list(range(len(names))):
            problems.append("the layers' backward ran first to last; backpropagation goes from the last "
                            "layer to the first (try reversed(self.layers))")
        else:
            problems.append(f"the layers' backward ran in the order {order}; expected each layer once, "
                            f"in the order {expected_order}")
    right = _received_right(outputs, wanted)
    for index in expected_order:
        if not right[index]:
            source = "the loss's gradient" if index == len(names) - 1 else f"the gradient returned by layer {index + 1}"
            problems.append(f"layer {index} ({names[index]}) did not receive {source}: hand each layer the "
                            f"gradient that the layer after it returned")
            break
    if any(event == "forward" for event, _ in calls):
        problems.append("Sequential.backward called a layer's forward; backward should only call backward")
    if any(event == "loss.forward" for event, _ in calls):
        problems.append("Sequential.backward called loss_function.forward; it only needs loss_function.backward()")
    return problems


def shown(case: dict, outputs: dict) -> list[tuple[str, object, object]]:
    """(label, your answer, expected answer) pairs to print beside the verdict."""
    if conforms(outputs, form(case)):
        return []
    wanted = _network(case).gradients()
    right = _received_right(outputs, wanted)

    def describe(event: str, index: int) -> str:
        if event.startswith("loss."):
            return "loss" + (" forward!" if event == "loss.forward" else "")
        if event == "forward":
            return f"layer {index} forward!"
        return f"layer {index}" + ("" if right[index] else " (wrong gradient)")

    calls = " -> ".join(describe(*call) for call in outputs["calls"]) or "none"
    expected = " -> ".join(["loss"] + [f"layer {i}" for i in reversed(range(len(case["layers"])))])
    first = outputs["received"][0]
    return [("backward calls", calls, expected),
            ("gradient handed to layer 0", first[0] if first else None, wanted[0])]
