"""Smoke test of bench/viz_latency.py: every visualizer and interaction runs and the tables print."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from viz_fakes import NN_ONLY, WITH_OPTIM

BENCH = Path(__file__).resolve().parents[2] / "bench" / "viz_latency.py"


@pytest.mark.slow
def test_quick_run_prints_both_tables(capsys):
    spec = importlib.util.spec_from_file_location("bench_viz_latency", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        assert module.main(["--quick"]) == 0
    finally:
        sys.modules.pop(spec.name, None)
    out = capsys.readouterr().out
    assert "Interactions" in out and "One-off actions" in out
    for name in NN_ONLY + WITH_OPTIM:
        assert name in out
    assert "median ms" in out and "p90 ms" in out
