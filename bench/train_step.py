"""Benchmark: one training step of an MLP, in mytorch, in hand-written NumPy and in PyTorch.

One *training step* is: zero the gradients, forward pass, cross-entropy loss (as a
Python float), backward pass, SGD update. It is measured at three shapes, float32:

    64-32-10          batch N = 32
    784-256-128-10    batch N = 128
    784-1024-1024-10  batch N = 512

(widths of the layers, input first; a ReLU between two Linear layers).

The contenders, all starting from the same parameters and the same batch:

``mytorch``
    The reference implementation in ``mytorch/`` (imported from the repository root),
    used as a student would: ``zero_grad``, ``Sequential.forward``,
    ``CrossEntropyLoss.forward``, ``Sequential.backward``, ``SGD.step``.

``numpy``
    The same step written by hand in plain NumPy, in one function, the way a NumPy
    user would write it: ``h @ W + b`` and ``np.maximum(z, 0)`` forward; a stable
    log-softmax loss whose softmax is reused for the gradient
    (``probs[range(N), y] -= 1; probs /= N``); ``X.T @ G``, ``G.sum(0)``, ``G @ W.T``
    and ``G * (z > 0)`` backward, every layer's ``G @ W.T`` included (see below);
    ``W = W - lr * gW`` update. Same math and the same
    allocation policy as mytorch (new arrays; parameters are replaced, never updated
    in place). It has no ``zero_grad`` to do: its gradients are local variables.

``torch``
    PyTorch on the CPU, idiomatic: ``nn.Sequential`` of ``nn.Linear``/``nn.ReLU``,
    ``F.cross_entropy``, ``loss.backward()``, ``optim.SGD``, and ``loss.item()`` so
    that it, too, hands back the loss as a Python float.

All three compute the gradient of the loss with respect to the batch itself (the input
gradient of the first Linear layer), although nothing uses it: mytorch's
``Linear.backward`` returns dLoss/dX wherever the layer sits, as the assignment asks, so
the others do the same work. The hand-written step computes ``G @ W.T`` for the first
layer too, and PyTorch's batch ``requires_grad`` (its ``.grad`` is cleared with the
parameters' at every step, so that it is assigned rather than accumulated). That matrix
product is a third of the first layer's work, which dominates when the first layer is
the widest (784 inputs); skipping it in one contender only would flatter that one by up
to a third. Each contender keeps that gradient (``input_grad()``), and the agreement
check compares it too.

What mytorch pays for being a library rather than one function: method calls, shape
checks, the label check, the one-hot matrix, and the fresh zero arrays of
``zero_grad``. Like the hand-written step (and PyTorch), its loss computes the
softmax once: forward keeps it for backward.

Threads: PyTorch gets as many threads as NumPy's BLAS has (read with threadpoolctl;
``--threads N`` sets both). OPENBLAS_CORETYPE, if set, is printed, never changed.

Method: the contenders are interleaved. Each round visits every shape and, at each
shape, every contender (in an order that rotates from round to round), timing blocks
of steps with ``time.perf_counter`` (garbage collection off, as ``timeit`` does).
mytorch and NumPy share one block in which their steps alternate (mytorch, NumPy,
mytorch, ...), each step timed on its own, so the two see exactly the same moments of
load; a shared machine's bursts, which move one block by tens of per cent, then move
both. PyTorch gets blocks of its own (see the pause below). Block lengths are
calibrated once per shape to about ``--block-ms`` milliseconds per contender. The
first table shows, per shape, the median over the rounds of the time per step, and
for each ratio the median of the rounds' own ratios; the second table shows the best
round, and the ratio of the best times. Before any timing, one step of each contender
from the same start is checked to give the same loss and the same updated parameters.

Before each timed block the benchmark pauses (``--pause-ms``, 150 ms by default) and
then runs a few untimed warm-up steps. The pause matters: after a multi-threaded
matrix product, OpenBLAS's worker threads keep spinning for a while (about 0.1 s)
before they sleep, and PyTorch's OpenMP threads do the same; timed straight after
the other library, a contender shares the cores with those spinning threads. On the
2-CPU machine this was written on, PyTorch at the largest shape measured 31 ms per
step on its own, but 65 ms when timed right after NumPy without a pause.

Run from the repository root: ``python bench/train_step.py`` (``make bench``);
``--quick`` for a short run. The default run takes about a minute.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path[:1]:
    sys.path.insert(0, str(ROOT))  # the reference mytorch of this repository, not any other

from mytorch import nn, optim  # noqa: E402

try:  # PyTorch is a test/benchmark-only dependency, never one of mytorch's.
    import torch
except ImportError:  # pragma: no cover - the benchmark still runs, without the torch columns
    torch = None

try:
    import threadpoolctl
except ImportError:  # pragma: no cover
    threadpoolctl = None

DTYPE = np.float32
LR = 0.01
SHAPES: list[tuple[str, list[int], int]] = [
    ("64-32-10", [64, 32, 10], 32),
    ("784-256-128-10", [784, 256, 128, 10], 128),
    ("784-1024-1024-10", [784, 1024, 1024, 10], 512),
]
TINY_SHAPES: list[tuple[str, list[int], int]] = [("8-4-3", [8, 4, 3], 5), ("6-5-4-3", [6, 5, 4, 3], 4)]
CONTENDERS = ["mytorch", "numpy", "torch"]
# Timed step by step in turn within one block (both run on NumPy's BLAS, so neither leaves
# spinning threads in the other's way): the ratio of each round is then measured under
# exactly the same load. PyTorch, with threads of its own, gets blocks of its own.
ALTERNATED = ("mytorch", "numpy")
RATIOS = [("mytorch", "numpy"), ("mytorch", "torch")]


# --------------------------------------------------------------------------------------
# Problem data: one batch and one set of initial parameters, shared by every contender.
# --------------------------------------------------------------------------------------


def make_problem(widths: list[int], n: int, seed: int = 0):
    """A float32 batch, its labels and initial (W, b) pairs drawn like ``nn.Linear``."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, widths[0])).astype(DTYPE)
    labels = rng.integers(0, widths[-1], size=n)
    params = []
    for fan_in, fan_out in zip(widths[:-1], widths[1:]):
        bound = 1.0 / np.sqrt(fan_in)
        weight = rng.uniform(-bound, bound, (fan_in, fan_out)).astype(DTYPE)
        bias = rng.uniform(-bound, bound, (1, fan_out)).astype(DTYPE)
        params.append((weight, bias))
    return x, labels, params


# --------------------------------------------------------------------------------------
# The contenders. Each has step() -> loss, params() -> [(W, b), ...], with W shaped
# (in, out) and b shaped (1, out), as NumPy arrays, and input_grad() -> dLoss/dX of the
# last step, shaped like the batch.
# --------------------------------------------------------------------------------------


class MytorchStep:
    """One training step with the reference mytorch."""

    def __init__(self, x, labels, params, lr=LR):
        layers = []
        for i, (weight, bias) in enumerate(params):
            linear = nn.Linear(*weight.shape, dtype=DTYPE)
            linear.weight, linear.bias = weight.copy(), bias.copy()
            layers.append(linear)
            if i < len(params) - 1:
                layers.append(nn.ReLU())
        self.model = nn.Sequential(*layers)
        self.loss_function = nn.CrossEntropyLoss()
        self.optimizer = optim.SGD(self.model, lr=lr)
        self.x, self.labels = x, labels

    def step(self) -> float:
        self.optimizer.zero_grad()
        logits = self.model.forward(self.x)
        loss = self.loss_function.forward(logits, self.labels)
        self.grad_x = self.model.backward(self.loss_function)
        self.optimizer.step()
        return loss

    def params(self):
        return [(layer.weight, layer.bias) for layer in self.model.layers if isinstance(layer, nn.Linear)]

    def input_grad(self) -> np.ndarray:
        return self.grad_x


class NumpyStep:
    """One training step written by hand in NumPy (see the module docstring)."""

    def __init__(self, x, labels, params, lr=LR):
        self.weights = [w.copy() for w, _ in params]
        self.biases = [b.copy() for _, b in params]
        self.x, self.labels, self.lr = x, labels, lr
        self.rows = np.arange(x.shape[0])

    def step(self) -> float:
        weights, biases, labels, rows = self.weights, self.biases, self.labels, self.rows
        n = self.x.shape[0]
        last = len(weights) - 1

        # forward: keep each layer's input and each ReLU's input (pre-activation)
        inputs, pre = [], []
        h = self.x
        for i, (w, b) in enumerate(zip(weights, biases)):
            inputs.append(h)
            z = h @ w + b
            if i < last:
                pre.append(z)
                h = np.maximum(z, 0)
            else:
                h = z

        # loss: stable log-softmax; its softmax is reused for the gradient
        shifted = h - h.max(axis=1, keepdims=True)
        exps = np.exp(shifted)
        sums = exps.sum(axis=1, keepdims=True)
        loss = float(np.mean(np.log(sums[:, 0]) - shifted[rows, labels]))
        grad = exps / sums
        grad[rows, labels] -= 1
        grad /= n

        # backward, down to the gradient of the batch itself (as mytorch's first Linear returns it)
        grads = [None] * len(weights)
        for i in range(last, -1, -1):
            grads[i] = (inputs[i].T @ grad, grad.sum(axis=0, keepdims=True))
            grad = grad @ weights[i].T
            if i > 0:
                grad = grad * (pre[i - 1] > 0)
        self.grad_x = grad

        # SGD
        for i, (gw, gb) in enumerate(grads):
            weights[i] = weights[i] - self.lr * gw
            biases[i] = biases[i] - self.lr * gb
        return loss

    def params(self):
        return list(zip(self.weights, self.biases))

    def input_grad(self) -> np.ndarray:
        return self.grad_x


class TorchStep:
    """One training step with PyTorch on the CPU, idiomatic."""

    def __init__(self, x, labels, params, lr=LR):
        modules = []
        for i, (weight, bias) in enumerate(params):
            linear = torch.nn.Linear(*weight.shape, dtype=torch.float32)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(weight.T)))
                linear.bias.copy_(torch.from_numpy(bias[0].copy()))
            modules.append(linear)
            if i < len(params) - 1:
                modules.append(torch.nn.ReLU())
        self.model = torch.nn.Sequential(*modules)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=lr)
        # The batch's gradient is computed, as mytorch's first Linear computes it.
        self.x = torch.from_numpy(x.copy()).requires_grad_(True)
        self.labels = torch.from_numpy(labels.copy())

    def step(self) -> float:
        self.optimizer.zero_grad()
        self.x.grad = None  # like the parameters' (zero_grad sets them to None): assigned, not accumulated
        loss = torch.nn.functional.cross_entropy(self.model(self.x), self.labels)
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def params(self):
        linears = [m for m in self.model if isinstance(m, torch.nn.Linear)]
        return [(m.weight.detach().numpy().T, m.bias.detach().numpy()[None, :]) for m in linears]

    def input_grad(self) -> np.ndarray:
        return self.x.grad.numpy()


def make_contender(name: str, x, labels, params):
    makers = {
        "mytorch": lambda: MytorchStep(x, labels, params),
        "numpy": lambda: NumpyStep(x, labels, params),
        "torch": lambda: TorchStep(x, labels, params),
    }
    if name not in makers:
        raise ValueError(f"unknown contender {name!r}; known: {', '.join(makers)}")
    return makers[name]()


def available_contenders() -> list[str]:
    return [c for c in CONTENDERS if torch is not None or not c.startswith("torch")]


# --------------------------------------------------------------------------------------
# Fairness and environment
# --------------------------------------------------------------------------------------


def blas_threads() -> tuple[int | None, str]:
    """NumPy's BLAS thread count and a one-line description of the BLAS."""
    if threadpoolctl is None:
        return None, "threadpoolctl not installed: NumPy's BLAS thread count unknown"
    for info in threadpoolctl.threadpool_info():
        if info.get("user_api") == "blas":
            desc = (f"{info.get('internal_api')} {info.get('version')}, "
                    f"core type {info.get('architecture')}, {info['num_threads']} threads")
            return int(info["num_threads"]), desc
    return None, "no BLAS found by threadpoolctl"


def set_threads(n: int | None = None) -> str:
    """Give PyTorch as many threads as NumPy's BLAS has, after limiting the BLAS to
    ``n`` threads if ``n`` is given. Returns a note of what was done."""
    if n is not None:
        if threadpoolctl is None:
            return "cannot limit NumPy's BLAS threads: threadpoolctl is not installed"
        threadpoolctl.threadpool_limits(limits=n, user_api="blas")
    if torch is None:
        return "torch not installed: no torch columns"
    n, _ = blas_threads()
    if n is None:
        return (f"NumPy's BLAS thread count unknown (threadpoolctl missing): torch keeps its "
                f"{torch.get_num_threads()} threads, which may not match")
    torch.set_num_threads(n)
    return f"torch.set_num_threads({n}) to match NumPy's BLAS"


def environment_lines() -> list[str]:
    _, blas = blas_threads()
    lines = [
        f"python {platform.python_version()}, numpy {np.__version__}"
        + (f", torch {torch.__version__}" if torch is not None else ", torch not installed"),
        f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs",
        f"NumPy BLAS: {blas}",
        f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(not set)')}",
    ]
    if torch is not None:
        lines.append(f"torch threads: {torch.get_num_threads()}")
    lines.append(load_line())
    return lines


def load_line() -> str:
    """The load average, with a warning when other processes compete for the CPUs."""
    try:
        load = os.getloadavg()[0]
    except OSError:  # pragma: no cover - not on every system
        return "load average: unknown"
    busy = load > 0.5 * (os.cpu_count() or 1)
    return f"load average (1 min): {load:.2f}" + (
        " - other processes are busy: expect noisy timings (compare with the best-round table)" if busy else "")


# --------------------------------------------------------------------------------------
# Checking and timing
# --------------------------------------------------------------------------------------


def check_agreement(widths: list[int], n: int, names: list[str] | None = None) -> None:
    """One step of every contender from the same start: same loss, same new parameters and
    the same gradient of the batch (every contender does the same work)."""
    names = names or available_contenders()
    x, labels, params = make_problem(widths, n)
    results = {}
    for name in names:
        contender = make_contender(name, x, labels, params)
        loss = contender.step()
        grad_x = contender.input_grad()
        if grad_x is None or np.shape(grad_x) != x.shape:
            raise AssertionError(f"{name}: no gradient of the batch shaped {x.shape} after one step")
        results[name] = (loss, contender.params(), grad_x)
    ref_loss, ref_params, ref_grad_x = results[names[0]]
    for name in names[1:]:
        loss, new_params, grad_x = results[name]
        if not np.isclose(loss, ref_loss, rtol=1e-5):
            raise AssertionError(f"{name}: loss {loss} differs from {names[0]}'s {ref_loss}")
        np.testing.assert_allclose(grad_x, ref_grad_x, rtol=1e-4, atol=1e-7, err_msg=f"{name}: gradient of the batch")
        for k, ((w, b), (rw, rb)) in enumerate(zip(new_params, ref_params)):
            np.testing.assert_allclose(w, rw, rtol=1e-4, atol=1e-6, err_msg=f"{name}: weight {k}")
            np.testing.assert_allclose(b, rb, rtol=1e-4, atol=1e-6, err_msg=f"{name}: bias {k}")


def time_block(step: Callable[[], float], repeats: int) -> float:
    """Seconds per step over ``repeats`` consecutive steps (garbage collector off)."""
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(repeats):
            step()
        elapsed = time.perf_counter() - start
    finally:
        if gc_was_enabled:
            gc.enable()
    return elapsed / repeats


def time_alternating(steps: list[Callable[[], float]], repeats: int) -> list[float]:
    """Seconds per step of each of ``steps``, run in turn (a, b, a, b, ...) ``repeats`` times
    within one block, so that all of them see the same moments of load (garbage collector off)."""
    totals = [0.0] * len(steps)
    clock = time.perf_counter
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeats):
            for i, step in enumerate(steps):
                start = clock()
                step()
                totals[i] += clock() - start
    finally:
        if gc_was_enabled:
            gc.enable()
    return [total / repeats for total in totals]


def calibrate(step: Callable[[], float], block_seconds: float) -> int:
    """How many steps fill about ``block_seconds`` (after a warm-up step)."""
    step()
    per_step = min(time_block(step, 1), time_block(step, 1))
    return max(1, int(round(block_seconds / max(per_step, 1e-9))))


def run(
    shapes=SHAPES,
    rounds: int = 15,
    block_seconds: float = 0.04,
    pause_seconds: float = 0.15,
    names: list[str] | None = None,
    progress=None,
):
    """Interleaved timing. Returns {shape label: {contender: [seconds per step, one per round]}}."""
    names = names or available_contenders()
    setups = {}
    for label, widths, n in shapes:
        x, labels, params = make_problem(widths, n)
        contenders = {name: make_contender(name, x, labels, params) for name in names}
        repeats = {name: calibrate(c.step, block_seconds) for name, c in contenders.items()}
        setups[label] = (contenders, repeats)
    # Contenders timed together, their steps alternating; every other one in a block of its own.
    units = [tuple(n for n in ALTERNATED if n in names)] if all(n in names for n in ALTERNATED) else []
    units += [(name,) for name in names if not any(name in unit for unit in units)]
    times = {label: {name: [] for name in names} for label, _, _ in shapes}
    for r in range(rounds):
        for label, _, _ in shapes:
            contenders, repeats = setups[label]
            for unit in units[r % len(units):] + units[: r % len(units)]:
                steps = [contenders[name].step for name in unit]
                count = min(repeats[name] for name in unit)
                time.sleep(pause_seconds)  # let the other library's spinning threads go to sleep
                for _ in range(max(2, count // 10)):  # warm-up, untimed
                    for step in steps:
                        step()
                for name, seconds in zip(unit, time_alternating(steps, count)):
                    times[label][name].append(seconds)
        if progress:
            progress(r + 1, rounds)
    return times


def _fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    return f"{seconds * 1e3:.2f} ms"


def format_table(times, shapes=SHAPES, statistic=statistics.median, paired: bool = False) -> str:
    """The medians (or another ``statistic``) over the rounds and their ratios, as a Markdown table.

    ``paired``: each ratio is the ``statistic`` of the rounds' own ratios (two contenders timed
    side by side in one round share that moment's load), rather than the ratio of the two
    ``statistic`` values.
    """
    names = list(next(iter(times.values())))
    ratios = [(a, b) for a, b in RATIOS if a in names and b in names]
    header = ["shape", "N"] + names + [f"{a}/{b}" for a, b in ratios]
    rows = []
    for label, _, n in shapes:
        per_round = times[label]
        value = {name: statistic(per_round[name]) for name in names}

        def ratio(a: str, b: str) -> float:
            if paired:
                return statistic([ta / tb for ta, tb in zip(per_round[a], per_round[b])])
            return value[a] / value[b]

        rows.append([label, str(n)] + [_fmt_time(value[name]) for name in names]
                    + [f"{ratio(a, b):.2f}×" for a, b in ratios])
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]

    def line(cells):
        return "| " + " | ".join(str(c).rjust(w) for c, w in zip(cells, widths)) + " |"

    out = [line(header), "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|"]
    out += [line(row) for row in rows]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds (default 15)")
    parser.add_argument("--block-ms", type=float, default=40.0, help="target length of one timed block (default 40 ms)")
    parser.add_argument("--pause-ms", type=float, default=150.0, help="pause before each block (default 150 ms)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for NumPy's BLAS and for torch (default: NumPy's BLAS as it is)")
    parser.add_argument("--quick", action="store_true", help="5 rounds of 20 ms blocks")
    parser.add_argument("--tiny", action="store_true", help="tiny shapes, one short round: a smoke test, not a measurement")
    args = parser.parse_args(argv)
    shapes = TINY_SHAPES if args.tiny else SHAPES
    rounds, block, pause = args.rounds, args.block_ms / 1000, args.pause_ms / 1000
    if args.quick:
        rounds, block = 5, 0.02
    if args.tiny:
        rounds, block, pause = 1, 0.001, 0.0

    started = time.perf_counter()
    threads_note = set_threads(args.threads)
    print("Training step (zero_grad, forward, loss, backward, SGD step), float32")
    for line in environment_lines():
        print("  " + line)
    print("  " + threads_note)
    for _, widths, n in shapes:
        check_agreement(widths, n)
    print("  all contenders agree on the loss, the updated parameters and the batch's gradient after one step")
    times = run(shapes, rounds=rounds, block_seconds=block, pause_seconds=pause,
                progress=lambda r, total: print(f"  round {r}/{total}", end="\r", file=sys.stderr, flush=True))
    print(" " * 30, end="\r", file=sys.stderr)
    print()
    print("Median over the rounds, time per step; each ratio is the median of the rounds' own ratios")
    print("(mytorch and NumPy alternate step by step in one block, under the same load):")
    print()
    print(format_table(times, shapes, paired=True))
    print()
    print("Best round (minimum), for comparison; a large gap to the median means a noisy machine:")
    print()
    print(format_table(times, shapes, statistic=min))
    print()
    print(f"{rounds} rounds, ~{block * 1000:.0f} ms blocks after {pause * 1000:.0f} ms pauses; "
          f"total run time {time.perf_counter() - started:.0f} s; at the end, {load_line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
