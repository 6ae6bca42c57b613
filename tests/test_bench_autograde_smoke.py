"""Smoke test of bench/autograde.py: the whole benchmark on a tiny class.

No timing assertion: only that every contender runs (serial, parallel, a local
Dask cluster, the cached re-writes, the honest submissions alone and stock
nbgrader), that their grades agree
with the serial ones (the benchmark fails otherwise) and that the table comes
out.
"""

from __future__ import annotations

import pytest

import parallel_tools as pt

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("bench_autograde")]


def test_class_plan_mixes_honest_and_hostile_students():
    bench = pt.bench()
    plan = bench.class_plan(40)
    assert len(plan) == 40 and len({student for student, _ in plan}) == 40
    kinds = [kind for _, kind in plan]
    assert set(kinds) == set(bench.HONEST) | set(bench.HOSTILE)
    assert bench.class_plan(3) == [("s001_ada", "ada_correct"), ("s002_ben", "ben_untouched"),
                                   ("s003_cy", "cy_buggy")]


def test_every_synthetic_submission_is_distinct(tmp_path):
    bench = pt.bench()
    folder = bench.make_class(tmp_path / "class", bench.class_plan(12))
    texts = [p.read_text(encoding="utf-8") for p in sorted(folder.glob("*/mlp/mytorch/nn.py"))]
    assert len(texts) == 12 and len(set(texts)) == 12


def test_the_benchmark_runs_on_a_tiny_class(tmp_path, capsys):
    bench = pt.bench()
    with pt.gradebook_url(None):
        code = bench.main(["--students", "2", "--hostile", "0", "--timeout", "3", "--training-timeout", "8",
                           "--stock", "1", "--workdir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "grades identical for 2 students" in out
    for name in ("serial", "parallel", "dask", "rewrite", "stock writer", "parallel, honest", "stock"):
        assert any(line.startswith(name) for line in out.splitlines()), out
    assert "speed-up" in out and "vs stock" in out
    honest_row = next(line for line in out.splitlines() if line.startswith("parallel, honest"))
    assert honest_row.rstrip().endswith("x") and float(honest_row.split()[-1].rstrip("x")) > 0
