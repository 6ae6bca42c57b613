"""``python -m assignment autograde mlp --scheduler tcp://...``: the sandboxes on a Dask cluster.

A real cluster of the ``distributed`` package's own command line: one ``dask
scheduler`` and two ``dask worker`` processes (``--nworkers 1 --nthreads 1``),
each on 127.0.0.1 with a free port, each in its own session so that it can be
killed with everything it started, always in a ``finally``. The class is
``test_parallel``'s mixed class (``parallel_tools.PLAN``: the example students
twice, an endless loop in ``ReLU.forward``, ``os._exit(0)`` at import), graded
serially by stock ``nbgrader autograde`` once per test run. Then:

- the cluster run, with one worker SIGKILLed while it grades, gives every grade
  cell the serial score, each grade once, and leaves no student to the
  fallback (Dask reran the lost worker's task on the other one);
- a re-run configured by ``c.ParallelAutograde.scheduler`` sends no task (the
  verdicts are cached) and keeps the grades;
- an unreachable scheduler is a clear error; a worker's answer that is not a
  well-formed verdict set is refused before anything reaches the cache.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import parallel_tools as pt
from assignment.instructor.demo import collect
from parallel_tools import ASSIGNMENT, PLAN

pytestmark = [pytest.mark.xdist_group("parallel")]


@pytest.fixture()
def cluster(tmp_path):
    """A scheduler and two workers (``bench/autograde.py``'s ``DaskCluster``), always killed."""
    running = pt.bench().DaskCluster(tmp_path / "cluster", workers=2)
    try:
        running.start()
        yield running
    finally:
        running.close()  # also when start() failed half-way
    assert all(p.poll() is not None for p in running.processes.values())


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Path:
    return pt.graded_class(tmp_path_factory)


def _course(graded: Path, target: Path) -> Path:
    course = shutil.copytree(graded / "base", target)
    collect(course, graded / "submissions")
    return course


@pytest.mark.slow
def test_a_cluster_that_loses_a_worker_gives_the_serial_grades(cluster, graded, tmp_path):
    course = _course(graded, tmp_path / "course")
    command = subprocess.Popen([sys.executable, "-m", "assignment", "autograde", ASSIGNMENT, "--course", str(course),
                                "--scheduler", cluster.address], cwd=pt.ROOT, env=pt.env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Kill w1 (nanny, worker and its sandboxes) while it grades a student.
        victim = cluster.worker_address("w1")
        deadline = time.monotonic() + 300
        seen: dict[str, float] = {}  # task -> when w1 was first seen running it
        lost: list[str] = []
        while not lost:
            assert command.poll() is None, command.communicate()
            assert time.monotonic() < deadline, "w1 never ran a task for half a second"
            now = time.monotonic()
            running = cluster.client.processing(workers=[victim]).get(victim, [])
            # Half a second into a task its sandboxes are running: kill w1 then.
            lost = [key for key in running if now - seen.setdefault(key, now) >= 0.5]
            if not lost:
                time.sleep(0.05)
        cluster.kill("w1")
        out, err = command.communicate(timeout=900)
    finally:
        if command.poll() is None:
            command.kill()
            command.communicate()
    assert command.returncode == 0, out[-2000:] + err[-3000:]
    assert "on the Dask cluster at " + cluster.address in out
    assert f"sent {len(PLAN)} of {len(PLAN)} students to the Dask cluster" in out
    assert "could not be graded on the cluster" not in err  # the lost task was rerun by Dask, not left over
    assert cluster.processes["w2"].poll() is None

    serial = pt.grade_rows(pt.sqlite_url(graded / "serial"))
    assert len(serial) == len(PLAN) * pt.GRADES
    assert pt.grade_rows(pt.sqlite_url(course)) == serial
    assert pt.row_counts(pt.sqlite_url(course)) == {"grade": len(PLAN) * pt.GRADES, "submitted_notebook": len(PLAN) * 4,
                                                    "submitted_assignment": len(PLAN)}
    totals = pt.totals(pt.sqlite_url(course))
    assert totals["fay_import_exit"] == 0.0 and 0.0 < totals["eve_relu_loop"] < 30.0

    # A re-run configured in nbgrader_config.py: nothing changed, so no task is sent.
    with open(course / "nbgrader_config.py", "a", encoding="utf-8") as handle:
        handle.write(f"\nc.ParallelAutograde.scheduler = {cluster.address!r}\n")
    again = pt.parallel_command(course)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-3000:]
    assert f"sent 0 of {len(PLAN)} students to the Dask cluster" in again.stdout
    assert pt.grade_rows(pt.sqlite_url(course)) == serial


def test_an_unreachable_scheduler_is_a_clear_error():
    from assignment.instructor.distributed import ClusterUnavailable, connect

    address = f"tcp://127.0.0.1:{pt.bench().free_port()}"  # nothing listens there
    with pytest.raises(ClusterUnavailable, match="cannot reach the Dask scheduler at " + address):
        connect(address, timeout=3)


def test_a_malformed_answer_from_a_worker_reaches_no_cache(tmp_path):
    from assignment.instructor.distributed import store_verdicts
    from assignment.instructor.grading.grader import VerdictCache

    cache = VerdictCache(tmp_path / "cache")
    good_key = "a" * 64
    good = {"grade_id": "linear_forward_1", "passed": True, "title": "Test 1", "problems": []}
    forged = [
        None,
        {"verdicts": []},
        {"verdicts": {"../../escape": good}},
        {"verdicts": {good_key: {**good, "grade_id": "not_sent"}}},
        {"verdicts": {good_key: {**good, "passed": "yes"}}},
        {"verdicts": {good_key: good, "b" * 64: {**good, "problems": [3]}}},
    ]
    for answer in forged:
        with pytest.raises(ValueError, match="worker's answer"):
            store_verdicts(answer, {"linear_forward_1"}, cache)
    assert list(cache.folder.iterdir()) == []
    assert store_verdicts({"verdicts": {good_key: good}}, {"linear_forward_1"}, cache) == [good_key]
    assert cache.get(good_key).passed is True
