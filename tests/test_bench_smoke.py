"""Smoke test of bench/train_step.py: it imports and runs one tiny round.

Not a timing assertion: only that every contender runs, that they agree on one
step, and that the table comes out.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "train_step.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_train_step", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def test_one_tiny_round_runs_and_prints_a_table(bench):
    shapes = bench.TINY_SHAPES
    for _, widths, n in shapes:
        bench.check_agreement(widths, n)
    times = bench.run(shapes, rounds=1, block_seconds=0.0005, pause_seconds=0.0)
    names = bench.available_contenders()
    assert {"mytorch", "numpy"} <= set(names)
    for label, _, _ in shapes:
        assert set(times[label]) == set(names)
        assert all(len(v) == 1 and v[0] > 0 for v in times[label].values())
    table = bench.format_table(times, shapes)
    assert "mytorch/numpy" in table
    for label, _, _ in shapes:
        assert label in table


def test_main_tiny_prints_both_tables(bench, capsys):
    assert bench.main(["--tiny"]) == 0
    out = capsys.readouterr().out
    assert "all contenders agree" in out
    assert "Median over the rounds" in out and "Best round" in out
    assert "OPENBLAS_CORETYPE=" in out


def test_every_contender_does_the_same_work(bench):
    """mytorch's first Linear returns the batch's own gradient, as the assignment asks: the
    hand-written step and PyTorch compute it too, the same one."""
    x, labels, params = bench.make_problem([6, 5, 4, 3], 4)
    grads = {}
    for name in bench.available_contenders():
        contender = bench.make_contender(name, x, labels, params)
        for _ in range(2):  # a second step: PyTorch's batch gradient is assigned, not accumulated
            contender.step()
        grads[name] = np.asarray(contender.input_grad())
        assert grads[name].shape == x.shape, name
    for name, grad in grads.items():
        np.testing.assert_allclose(grad, grads["numpy"], rtol=1e-5, atol=1e-7, err_msg=name)
    assert np.abs(grads["numpy"]).max() > 0


def test_paired_ratios_are_the_median_of_each_rounds_ratio(bench):
    """A burst that slows one whole round moves both contenders of that round: the paired
    ratio ignores it, where the ratio of the medians would not."""
    shapes = [("8-4-3", [8, 4, 3], 5)]

    def ratio_cell(times, **kwargs):
        return bench.format_table(times, shapes, **kwargs).splitlines()[-1].split("|")[-2].strip()

    assert ratio_cell({"8-4-3": {"mytorch": [1.0, 1.0, 5.0], "numpy": [1.0, 1.0, 5.0]}}, paired=True) == "1.00×"
    # per-round ratios 1.1, 3.3, 1.1: their median is 1.1; the medians' ratio would say 3.3
    times = {"8-4-3": {"mytorch": [1.1, 3.3, 5.5], "numpy": [1.0, 1.0, 5.0]}}
    assert ratio_cell(times, paired=True) == "1.10×"
    assert ratio_cell(times) == "3.30×"


def test_alternated_contenders_take_turns_step_by_step(bench):
    calls = []
    seconds = bench.time_alternating([lambda: calls.append("a"), lambda: calls.append("b")], repeats=3)
    assert calls == ["a", "b"] * 3
    assert len(seconds) == 2 and all(s >= 0 for s in seconds)
    assert set(bench.ALTERNATED) <= set(bench.CONTENDERS)
