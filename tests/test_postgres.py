"""The gradebook in a real PostgreSQL server: the same grades as with SQLite.

The test starts its own throwaway server (Debian's ``postgresql``, installed
with apt-get if missing; ``bench/autograde.py``'s ``PostgresServer``): a data
folder of its own, initdb as the ``postgres`` user, a free loopback port. The
course reads the gradebook URL from ``MYTORCH_GRADEBOOK_URL``
(``nbgrader_config.py``). ``nbgrader generate_assignment`` and ``python -m
assignment autograde mlp --jobs 2`` (with PostgreSQL, two nbgrader processes
write grades at once) grade the mixed class of ``test_parallel``; every grade
cell must equal the SQLite serial run's. The server is stopped and its files
removed whatever happens.
"""

from __future__ import annotations

import pytest

import parallel_tools as pt
from assignment.instructor.demo import collect
from parallel_tools import PLAN

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("postgres")]


@pytest.fixture(scope="module")
def postgres():
    bench = pt.bench()
    try:
        server = bench.PostgresServer()
    except bench.PostgresUnavailable as error:
        pytest.skip(f"PostgreSQL cannot be installed here: {error}")
    try:
        server.start()
        yield server
    finally:
        server.stop()
    assert not server.folder.exists()


def test_parallel_autograde_on_postgresql_equals_sqlite(postgres, tmp_path_factory, tmp_path):
    graded = pt.graded_class(tmp_path_factory)
    url = postgres.create_database("mytorch")
    course = pt.generated_course(tmp_path / "course", url)
    assert not (course / "gradebook.db").exists()  # the gradebook is the server's
    collect(course, graded / "submissions")

    result = pt.parallel_command(course, url=url)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "(2 at a time)" in result.stdout.split("grades written by", 1)[1]  # two writers allowed

    assert pt.grade_rows(url) == pt.grade_rows(pt.sqlite_url(graded / "serial"))
    assert pt.row_counts(url) == {"grade": len(PLAN) * pt.GRADES, "submitted_notebook": len(PLAN) * 4,
                                  "submitted_assignment": len(PLAN)}
    assert not (course / "gradebook.db").exists()

    # The report reads the same gradebook through the course's config.
    from assignment.instructor.report import write_report

    with pt.gradebook_url(url):
        report = write_report(course, "mlp", tmp_path / "report", echo=lambda *a: None)
    assert set(report.scores) == {student for student, _ in PLAN}


def test_the_server_listens_on_loopback_only(postgres):
    conf = (postgres.data / "postmaster.opts").read_text(encoding="utf-8")
    assert "listen_addresses=127.0.0.1" in conf
    assert postgres.url("x") == f"postgresql+psycopg2://{postgres.user}@127.0.0.1:{postgres.port}/x"
