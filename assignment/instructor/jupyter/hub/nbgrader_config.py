"""The hub-wide nbgrader configuration: /etc/jupyter/nbgrader_config.py (see docs/deploy.md).

Every account reads it: the students' Assignments tab and the instructor's formgrader
use the same exchange and course id. The instructor's own ~/.jupyter/nbgrader_config.py
and the course's nbgrader_config.py add the rest for the instructor.
"""

c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)

c.CourseDirectory.course_id = "mytorch"
# Created by root before the first release: see "The exchange" in docs/deploy.md.
c.Exchange.root = "/srv/nbgrader/exchange"
# The Validate button runs every cell of a notebook in the student's own kernel;
# the training notebook needs more than nbgrader's default 30 s per cell.
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True
