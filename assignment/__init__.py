"""The mytorch course kit: data, student checks, visualizers and the nbgrader extension.

Nothing in this package holds a solution of the assignment or a hidden test:
it is installed in the students' environment. Three parts, by who uses them:

- ``student/``: what the notebooks call: the visible tests (``checks``), the progress cell,
  the figures and the visualizers (``viz/<key>.py``);
- ``shared/``: what a student's notebook and the grader's sandbox both run: each question's
  ``run``, ``form`` and ``check`` (``questions/<key>.py``), the training loop and the digits;
- ``instructor/``: grading (``grading/``: the sandbox, the verdicts, the nbgrader
  preprocessors), the release build, the parallel and Dask commands, the class report, the
  demo, the lab, the doctor, the LMS export and the command line.
"""

from pathlib import Path

__version__ = "0.1.0"

PACKAGE_DIR = Path(__file__).resolve().parent  # the course package, assignment/
