"""Benchmark: Python time of every visualizer interaction, on the reference mytorch.

Each visualizer of ``assignment.student.viz`` is built with the reference ``mytorch`` (imported
from the repository root) and each of its interactions (a stepper click, a slider
move, a toggle, a training refresh) is driven N times through the widget API, as
the front end would drive it. What is timed is the whole Python side of one
interaction: the callback, the calls into mytorch, the redraw and the PNG encoding
(not the browser's display). The budget is 50 ms per interaction.

    python bench/viz_latency.py            # N = 30
    python bench/viz_latency.py --n 100
    python bench/viz_latency.py --quick    # N = 3, for a smoke test
    python bench/viz_latency.py --side-by-side   # the fast drawing against plain matplotlib

Two tables come out: interactions (median, p90, max wall-clock ms, median CPU ms of
the process, within budget or not) and one-off actions (building each widget; one
epoch of training from the Train button). On a busy machine the wall-clock times
grow with the load while the CPU column stays put: read both.

``--side-by-side`` builds every widget twice, once with the fast drawing of
``assignment/student/viz/_fastdraw.py`` (cached layers, cached text bitmaps, the small PNG writer)
and once with plain matplotlib (``canvas.draw()`` of the whole figure, matplotlib's PNG
writer), and alternates their interactions call by call, so that a burst of load elsewhere
costs both alike; it prints both medians and p90s and their ratios.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))  # the reference mytorch and the assignment package live at the root

import matplotlib  # noqa: E402

matplotlib.use("Agg")

import numpy as np  # noqa: E402

BUDGET_MS = 50.0


def _cycle(values: Sequence) -> Callable[[], object]:
    it = itertools.cycle(values)
    return lambda: next(it)


def interactions(nn, optim) -> list[tuple[str, str, object, Callable[[], None]]]:
    """(visualizer, interaction, widget, do-it-once) for every interaction of every visualizer."""
    from assignment.student import viz

    out = []

    def add(name, what, widget, action):
        out.append((name, what, widget, action))

    w = viz.linear_forward(nn)
    add("linear_forward", "Next entry", w, (lambda w=w: w.stepper.press("next")))
    jump = _cycle([5, 2, 4, 0, 3, 1])
    add("linear_forward", "slider jump", w, lambda w=w: setattr(w.stepper.controls, "value", jump()))
    add("linear_forward", "Play tick", w, lambda w=w: setattr(w.stepper.controls, "value", (w.stepper.controls.value + 1) % 6))

    w = viz.relu_forward(nn)
    add("relu_forward", "Next entry", w, (lambda w=w: w.stepper.press("next")))

    w = viz.sequential_forward(nn)
    add("sequential_forward", "Next stage", w, (lambda w=w: w.stepper.press("next")))
    modes = _cycle(list(w.mode_buttons.options)[::-1])
    add("sequential_forward", "switch layers", w, lambda w=w: setattr(w.mode_buttons, "value", modes()))

    w = viz.xeloss_forward(nn)
    # a drag back and forth over the slider's range, 0.1 apart
    drag = _cycle([round(v, 1) for v in np.concatenate([np.arange(-4, 4, 0.1), np.arange(4, -4, -0.1)])])
    add("xeloss_forward", "logit slider drag", w, lambda w=w: setattr(w.logit_slider, "value", drag()))
    add("xeloss_forward", "Next example", w, (lambda w=w: w.stepper.press("next")))
    classes = _cycle([0, 1, 2, 3])
    add("xeloss_forward", "change class", w, lambda w=w: setattr(w.class_select, "value", classes()))

    w = viz.xeloss_backward(nn)
    add("xeloss_backward", "Next entry", w, (lambda w=w: w.stepper.press("next")))

    w = viz.linear_backward(nn)
    add("linear_backward", "Next entry", w, (lambda w=w: w.stepper.press("next")))
    targets = _cycle(["bias", "input", "weight"])
    add("linear_backward", "switch W/b/X", w, lambda w=w: setattr(w.target, "value", targets()))

    w = viz.relu_backward(nn)
    add("relu_backward", "Next entry", w, (lambda w=w: w.stepper.press("next")))

    w = viz.sequential_backward(nn)
    add("sequential_backward", "Next step", w, (lambda w=w: w.stepper.press("next")))
    back_modes = _cycle(list(w.mode_buttons.options)[::-1])
    add("sequential_backward", "switch layers", w, lambda w=w: setattr(w.mode_buttons, "value", back_modes()))

    w = viz.sgd_step(nn, optim)
    lrs = _cycle([round(float(v), 4) for v in np.concatenate([np.geomspace(0.001, 3, 60), np.geomspace(3, 0.001, 60)])])
    add("sgd_step", "lr slider drag", w, lambda w=w: setattr(w.lr_slider, "value", lrs()))

    w = viz.training_dashboard(nn, optim, epochs=1, autorun=True)
    sizes = _cycle(["32", "64, 32", "16"])
    add("training_dashboard", "edit a control", w, lambda w=w: setattr(w.hidden_text, "value", sizes()))

    def curves(w=w):  # what a throttled on_batch refresh does while training
        w._set_curves()
        w.render()

    add("training_dashboard", "curves refresh", w, curves)
    from assignment.student.viz.training_dashboard import _digits

    data = _digits()
    add("training_dashboard", "epoch refresh", w, lambda w=w: w._set_analysis(data))
    return out


def one_offs(nn, optim) -> list[tuple[str, str, Callable[[], object]]]:
    """(visualizer, action, do-it) for the actions that are not interactions."""
    from assignment.student import viz

    out = []
    for name in ("linear_forward", "relu_forward", "sequential_forward", "xeloss_forward", "xeloss_backward",
                 "linear_backward", "relu_backward", "sequential_backward"):
        out.append((name, "build", lambda name=name: getattr(viz, name)(nn)))
    out.append(("sgd_step", "build", lambda: viz.sgd_step(nn, optim)))
    out.append(("training_dashboard", "build", lambda: viz.training_dashboard(nn, optim)))
    dash = viz.training_dashboard(nn, optim, hidden=(32,), epochs=1)
    out.append(("training_dashboard", "Train: 1 epoch", dash.train_button.click))
    out.append(("training_dashboard", "build, autorun (notebook default)",
                lambda: viz.training_dashboard(nn, optim, autorun=True)))
    return out


class Times(list):
    """Wall-clock milliseconds of each call, with the process CPU milliseconds in ``cpu``."""

    cpu: list


def measure(action: Callable[[], object], n: int, warmup: int = 1) -> Times:
    """Milliseconds of ``n`` calls of ``action`` (after ``warmup`` untimed ones)."""
    for _ in range(warmup):
        action()
    times = Times()
    times.cpu = []
    for _ in range(n):
        start, start_cpu = time.perf_counter(), time.process_time()
        action()
        times.cpu.append((time.process_time() - start_cpu) * 1000)
        times.append((time.perf_counter() - start) * 1000)
    return times


def p90(values: list[float]) -> float:
    return float(np.percentile(values, 90))


def format_rows(rows: list[tuple[str, str, list[float]]], *, budget: bool) -> str:
    head = (f"{'visualizer':<20} {'interaction':<34} {'n':>4} {'median ms':>10} {'p90 ms':>8} {'max ms':>8}"
            f" {'CPU ms':>7}")
    if budget:
        head += f"  {'< 50 ms':>7}"
    lines = [head, "-" * len(head)]
    for name, what, times in rows:
        median = statistics.median(times)
        line = (f"{name:<20} {what:<34} {len(times):>4} {median:>10.1f} {p90(times):>8.1f} {max(times):>8.1f}"
                f" {statistics.median(times.cpu):>7.1f}")
        if budget:
            line += f"  {'yes' if p90(times) < BUDGET_MS else 'NO':>7}"
        lines.append(line)
    return "\n".join(lines)


def side_by_side(nn, optim, n: int) -> str:
    """The table of every interaction with the fast drawing and with plain matplotlib, alternated."""
    from assignment.student.viz import _fastdraw

    built = {}
    for plain in (False, True):
        _fastdraw.use_plain(plain)
        built[plain] = interactions(nn, optim)
    times: dict = {False: [], True: []}
    for (name, what, _, fast), (_, _, _, slow) in zip(built[False], built[True]):
        runs = {False: Times(), True: Times()}
        for plain in (False, True):
            runs[plain].cpu = []
            _fastdraw.use_plain(plain)
            (slow if plain else fast)()  # one warm-up each
        for _ in range(n):
            for plain, action in ((False, fast), (True, slow)):
                _fastdraw.use_plain(plain)
                start, start_cpu = time.perf_counter(), time.process_time()
                action()
                runs[plain].cpu.append((time.process_time() - start_cpu) * 1000)
                runs[plain].append((time.perf_counter() - start) * 1000)
        for plain in (False, True):
            times[plain].append((name, what, runs[plain]))
    _fastdraw.use_plain(False)
    head = (f"{'visualizer':<20} {'interaction':<24} {'fast med':>8} {'p90':>6} {'plain med':>9} {'p90':>6}"
            f" {'ratio med':>9} {'ratio p90':>9}  {'plain < 50':>10}")
    lines = [head, "-" * len(head)]
    for (name, what, fast), (_, _, slow) in zip(times[False], times[True]):
        fm, fp, sm, sp = statistics.median(fast), p90(fast), statistics.median(slow), p90(slow)
        lines.append(f"{name:<20} {what:<24} {fm:>8.1f} {fp:>6.1f} {sm:>9.1f} {sp:>6.1f} {sm / fm:>8.2f}x {sp / fp:>8.2f}x"
                     f"  {'yes' if sp < BUDGET_MS else 'NO':>10}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=30, help="repetitions of each interaction")
    parser.add_argument("--builds", type=int, default=5, help="repetitions of each one-off action")
    parser.add_argument("--quick", action="store_true", help="3 repetitions of everything (smoke test)")
    parser.add_argument("--side-by-side", action="store_true",
                        help="the fast drawing against plain matplotlib, interactions alternated")
    args = parser.parse_args(argv)
    n, builds = (3, 1) if args.quick else (args.n, args.builds)

    from mytorch import nn, optim

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"viz latency: Python time per interaction, reference mytorch, {platform.python_implementation()} "
          f"{platform.python_version()}, numpy {np.__version__}, matplotlib {matplotlib.__version__}, "
          f"{os.cpu_count()} CPUs, load average {load:.1f}")
    if args.side_by_side:
        print()
        print(f"Interactions, fast drawing against plain matplotlib (each {n} times, alternated; ms)")
        print(side_by_side(nn, optim, n))
        return 0
    rows = [(name, what, measure(action, n)) for name, what, _, action in interactions(nn, optim)]
    print()
    print(f"Interactions (each {n} times after one warm-up; budget {BUDGET_MS:g} ms at the 90th percentile)")
    print(format_rows(rows, budget=True))
    one = [(name, what, measure(action, builds, warmup=0)) for name, what, action in one_offs(nn, optim)]
    print()
    print(f"One-off actions (each {builds} times; not interactions, no budget)")
    print(format_rows(one, budget=False))
    slow = [(name, what) for name, what, times in rows if p90(times) >= BUDGET_MS]
    print()
    print("all interactions within budget" if not slow else
          "over budget: " + ", ".join(f"{name} {what}" for name, what in slow))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
