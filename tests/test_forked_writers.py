"""The parallel command forks its writers (``parallel.Writer.forked``) once it has imported what they run.

The grading through forked writers is what tests/test_parallel.py, test_writer_reuse.py and
test_postgres.py compare with serial nbgrader. Here, the processes themselves: no writer holds
another's pipes (so a writer whose parent is gone reads the end of its requests and leaves, as a
spawned one does), each writes its output in its own log, and each leaves with its exit code.
"""

from __future__ import annotations

import os
import time

import pytest

pytestmark = pytest.mark.slow


def _pipes(pid: int) -> set[str]:
    folder = f"/proc/{pid}/fd"
    found = set()
    for fd in os.listdir(folder):
        try:
            target = os.readlink(f"{folder}/{fd}")
        except OSError:
            continue
        if target.startswith("pipe:"):
            found.add(target)
    return found


def _answered(writer, batch) -> None:
    deadline = time.monotonic() + 60
    while writer.poll() is None:
        assert time.monotonic() < deadline, "the writer did not answer"
        time.sleep(0.05)
    assert batch.returncode == 0


def test_forked_writers_hold_none_of_each_others_pipes_and_leave_at_the_end_of_input(tmp_path):
    from assignment.instructor import parallel, writer

    writer.prepare()
    pool: list[parallel.Writer] = []
    for number in (1, 2, 3):
        pool.append(parallel.Writer.forked(tmp_path, tmp_path / f"writer-{number}.log", siblings=pool))
    for each in pool:
        each.start_reading()
    try:
        for number, each in enumerate(pool):  # each answers once: it has set itself up (closed what it must)
            _answered(each, each.start(["--version"], [], tmp_path / f"batch-{number}.log"))
        mine = {each: os.readlink(f"/proc/self/fd/{each.process.stdin.fileno()}") for each in pool}
        for each in pool:
            others = _pipes(each.process.pid)
            assert all(mine[other] not in others for other in pool if other is not each)
        # The first writer's requests end without the closing empty line (its parent died): it leaves.
        pool[0].process.stdin.close()
        deadline = time.monotonic() + 30
        while pool[0].process.poll() is None:
            assert time.monotonic() < deadline, "the writer did not leave at the end of its input"
            time.sleep(0.05)
        assert pool[0].process.returncode == 0
    finally:
        for each in pool[1:]:
            each.close()
    assert [each.process.returncode for each in pool] == [0, 0, 0]


def test_a_forked_writer_runs_nbgrader_and_says_so_in_its_own_log(tmp_path):
    from assignment.instructor import parallel, writer

    writer.prepare()
    one = parallel.Writer.forked(tmp_path, tmp_path / "writer-1.log", siblings=[])
    one.start_reading()
    try:
        _answered(one, one.start(["--version"], [], tmp_path / "batch.log"))
        assert (tmp_path / "batch.log").read_text(encoding="utf-8").strip()  # nbgrader's version, in the batch's log
    finally:
        one.close()
    assert one.process.returncode == 0
