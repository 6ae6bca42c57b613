"""Trusted stand-in layers and loss for the Sequential questions.

A ``Sequential`` question must depend on ``Sequential`` alone, so its tests
wire the student's ``Sequential`` to stand-ins instead of the student's
``Linear`` and ``ReLU``. Each stand-in *computes*: layer i of a case is a map
of its own, drawn from the case's ``seed`` and i,

    forward:   y = tanh(x A_i + a_i)        (rows of width sizes[i] -> sizes[i + 1])
    backward:  g_in = tanh(g B_i + b_i)     (rows of width sizes[i + 1] -> sizes[i])

and the stand-in loss's gradient is drawn from the seed too. No expected value
goes into the sandbox: the grader recomputes, with this same code and the
trusted case, what the composition must give (``Network.activations``,
``Network.gradients``). Every map is different, so a wrong order, a skipped,
repeated or unchained layer gives a different answer. The backward map is not
the derivative of the forward one, and neither is a Linear or a ReLU: the
stand-ins give no layer's formula away.

A stand-in records every call (capped) and a copy of what it received; an
input it cannot work on (wrong shape, not numbers) gets NaNs back, so that
the run goes on and the grader can say what went wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

# How many calls the log keeps, and how many received values per layer: an honest
# Sequential makes one call per layer, so anything cut off was wrong already.
MAX_CALLS = 64
MAX_KEPT = 3
LOSS = -1  # the index of the loss in the call log
EVENTS = ("forward", "backward", "loss.forward", "loss.backward")
_LOSS_STREAM = 1_000  # the loss's seed stream, apart from every layer's


class CaseError(ValueError):
    """A Sequential test case that does not describe a network."""


@dataclass(frozen=True)
class Network:
    """The stand-in network of one test case.

    Fields:
        names: what each layer stands for, e.g. ("ReLU()", "Linear(2, 3)").
        sizes: the widths, the input's first: layer i maps sizes[i] to sizes[i + 1].
        rows: the batch size N.
        seed: the seed the maps are drawn from.
    """

    names: tuple[str, ...]
    sizes: tuple[int, ...]
    rows: int
    seed: int

    def _draw(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, index])
        n_in, n_out = self.sizes[index], self.sizes[index + 1]
        return (rng.uniform(-1.0, 1.0, (n_in, n_out)), rng.uniform(-0.5, 0.5, (1, n_out)),
                rng.uniform(-1.0, 1.0, (n_out, n_in)), rng.uniform(-0.5, 0.5, (1, n_in)))

    def forward_map(self, index: int, x: np.ndarray) -> np.ndarray:
        """Layer ``index``'s forward map of rows of width sizes[index]."""
        a, shift, _, _ = self._draw(index)
        return np.tanh(x @ a + shift)

    def backward_map(self, index: int, grad: np.ndarray) -> np.ndarray:
        """Layer ``index``'s backward map of rows of width sizes[index + 1]."""
        _, _, b, shift = self._draw(index)
        return np.tanh(grad @ b + shift)

    def loss_gradient(self) -> np.ndarray:
        """What the stand-in loss's ``backward`` returns: N rows of width sizes[-1]."""
        rng = np.random.default_rng([self.seed, _LOSS_STREAM])
        return rng.uniform(-1.0, 1.0, (self.rows, self.sizes[-1]))

    def activations(self, x: np.ndarray) -> list[np.ndarray]:
        """[x, layer 0's output, ..., the last layer's output]: what each layer must receive, then the answer."""
        values = [np.asarray(x, dtype=np.float64)]
        for index in range(len(self.names)):
            values.append(self.forward_map(index, values[-1]))
        return values

    def gradients(self) -> list[np.ndarray]:
        """The gradient each layer's backward must receive, by layer: the last one gets the loss's."""
        received = [self.loss_gradient()]
        for index in reversed(range(1, len(self.names))):
            received.insert(0, self.backward_map(index, received[0]))
        return received


def network(case: dict, rows: int) -> Network:
    """The stand-in network a case describes (``layers``, ``sizes``, ``seed``), for batches of ``rows``.

    Raises:
        CaseError: the case is inconsistent (a test-writing mistake, never a student's).
    """
    names, sizes, seed = case.get("layers"), case.get("sizes"), case.get("seed")
    if not (isinstance(names, list) and names and all(isinstance(n, str) for n in names)):
        raise CaseError("a Sequential case needs layers=[names of the layers, ...]")
    if not (isinstance(sizes, list) and len(sizes) == len(names) + 1
            and all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in sizes)):
        raise CaseError("a Sequential case needs sizes=[one width more than it has layers, each > 0]")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise CaseError("a Sequential case needs a seed (an int >= 0)")
    if not isinstance(rows, int) or rows <= 0:
        raise CaseError("a Sequential case needs a batch of at least one row")
    return Network(tuple(names), tuple(sizes), rows, seed)


class Log:
    """The calls made to a test's stand-ins, and what the layers received.

    Fields:
        calls: [event, index] pairs in call order (at most MAX_CALLS); index LOSS for the loss.
        received: per layer, copies of the first MAX_KEPT values its ``watched`` method got
            (None for one that is not an array of numbers).
    """

    def __init__(self, layers: int, watched: str) -> None:
        self.calls: list[list] = []
        self.received: list[list] = [[] for _ in range(layers)]
        self.watched = watched

    def record(self, event: str, index: int, value: Any = None) -> None:
        if len(self.calls) < MAX_CALLS:
            self.calls.append([event, index])
        if event == self.watched and len(self.received[index]) < MAX_KEPT:
            self.received[index].append(_readable(value))

    def report(self) -> dict:
        """What ``run`` reports: the call log and the received values."""
        return {"calls": [list(call) for call in self.calls], "received": [list(kept) for kept in self.received]}


def _readable(value: Any) -> np.ndarray | None:
    """A float64 copy of ``value`` if it is an array of numbers, else None."""
    try:
        array = np.array(value, dtype=np.float64, copy=True)
    except Exception:
        return None
    return array if array.dtype == np.float64 else None


class StandInLayer:
    """Layer ``index`` of a stand-in network: its seeded forward and backward maps, logged.

    Fields:
        name: what the layer stands for, e.g. "Linear(2, 3)".
        index: its position in the network.
    """

    def __init__(self, net: Network, index: int, log: Log) -> None:
        self.name = net.names[index]
        self.index = index
        self._net = net
        self._log = log

    def __repr__(self) -> str:
        return f"{self.name} (stand-in)"

    def _apply(self, value: Any, width_in: int, width_out: int, mapping) -> np.ndarray:
        array = _readable(value)
        if array is None or array.shape != (self._net.rows, width_in):
            return np.full((self._net.rows, width_out), np.nan)
        return mapping(self.index, array)

    def forward(self, x: Any) -> np.ndarray:
        self._log.record("forward", self.index, x)
        sizes = self._net.sizes
        return self._apply(x, sizes[self.index], sizes[self.index + 1], self._net.forward_map)

    def backward(self, grad: Any) -> np.ndarray:
        self._log.record("backward", self.index, grad)
        sizes = self._net.sizes
        return self._apply(grad, sizes[self.index + 1], sizes[self.index], self._net.backward_map)


class StandInLoss:
    """A loss whose ``backward`` returns the network's seeded loss gradient; both methods are logged."""

    def __init__(self, net: Network, log: Log) -> None:
        self._net = net
        self._log = log

    def __repr__(self) -> str:
        return "CrossEntropyLoss (stand-in)"

    def forward(self, logits: Any, labels: Any) -> float:
        self._log.record("loss.forward", LOSS)
        return 0.0

    def backward(self) -> np.ndarray:
        self._log.record("loss.backward", LOSS)
        return self._net.loss_gradient()


def standins(net: Network, watched: str) -> tuple[list[StandInLayer], Log]:
    """Fresh stand-in layers for ``net`` and the log they share (keeping what ``watched`` receives)."""
    log = Log(len(net.names), watched)
    return [StandInLayer(net, index, log) for index in range(len(net.names))], log
