"""The instructor's ~/.jupyter/nbgrader_config.py on a hub (a template: see docs/deploy.md).

Formgrader starts in the instructor's home, not in the course, so it finds the course
through this file; nbgrader then also loads the course's own nbgrader_config.py at that
root (the release build, the sandboxed grader, the feedback settings).
"""

c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)

# Where the course lives: a clone of the course repository, mode 0700.
c.CourseDirectory.root = "/home/instructor/mytorch"
