"""Question 2.4: ``Sequential.backward`` hands the gradient back, last layer first.

Graded with stand-in layers and a stand-in loss (see ``_standins``), so the
grade depends on ``Sequential`` alone.
"""

from __future__ import annotations


from assignment.questions._common import Info
from assignment.questions._standins import StandInLayer, StandInLoss

INFO = Info("sequential_backward", "2.4", "Sequential.backward", "02_backward")


def run(nn, optim, case: dict) -> dict:
    """Wire the student's Sequential to stand-ins that replay the case's gradients.

    ``case["grads"][i]`` is the gradient with respect to layer i's input; the
    last entry is the loss's gradient with respect to the logits.
    """
    grads = case["grads"]
    log: list = []
    layers = [
        StandInLayer(name, i, log, backward_io=(grads[i + 1], grads[i]))
        for i, name in enumerate(case["layers"])
    ]
    model = nn.Sequential(*layers)
    model.backward(StandInLoss(grads[-1], log))
    return {"calls": [list(call) for call in log]}


def check(case: dict, outputs: dict) -> list[str]:
    names = case["layers"]
    calls = [tuple(call) for call in outputs["calls"]]
    problems = []
    loss_calls = sum(1 for event, _, _ in calls if event == "loss.backward")
    if loss_calls == 0:
        problems.append("loss_function.backward() was never called: the backward pass starts from the loss's gradient")
    elif loss_calls > 1:
        problems.append(f"loss_function.backward() was called {loss_calls} times; call it once, before the layers")
    elif calls[0][0] != "loss.backward":
        problems.append("a layer's backward ran before loss_function.backward(): start from the loss")
    order = [index for event, index, _ in calls if event == "backward"]
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
    for event, index, ok in calls:
        if event == "backward" and not ok:
            source = "the loss's gradient" if index == len(names) - 1 else f"the gradient returned by layer {index + 1}"
            problems.append(f"layer {index} ({names[index]}) did not receive {source}: hand each layer the "
                            f"gradient that the layer after it returned")
            break
    if any(event == "forward" for event, _, _ in calls):
        problems.append("Sequential.backward called a layer's forward; backward should only call backward")
    return problems


def shown(case: dict, outputs: dict) -> list[tuple[str, object, object]]:
    """(label, your answer, expected answer) pairs to print beside the verdict."""
    def describe(event: str, index: int, ok: bool) -> str:
        name = "loss" if event == "loss.backward" else f"layer {index}"
        return name + ("" if ok else " (wrong gradient)") + (" forward!" if event == "forward" else "")
    calls = " -> ".join(describe(*call) for call in outputs["calls"]) or "none"
    expected = " -> ".join(["loss"] + [f"layer {i}" for i in reversed(range(len(case["layers"])))])
    return [("backward calls", calls, expected)]
