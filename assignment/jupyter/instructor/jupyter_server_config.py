"""The instructor's Jupyter server on a hub: ~/.jupyter/jupyter_server_config.py.

Copied from the course package (assignment/jupyter/instructor/) by the instructor;
see docs/deploy.md. The hub-wide configuration is the students' one (no formgrader,
no create-assignment, no course list); this file turns the instructor's tools back on
for this one account and keeps everything the server writes private.
"""

import os

c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)

# Everything this server and its kernels and terminals create (the gradebook, the
# release, collected submissions, autograded notebooks, feedback) is readable by the
# instructor alone: files 0600, folders 0700. nbgrader sets the exchange's permissions
# itself, so students can still fetch releases and feedback.
os.umask(0o077)

# Every nbgrader server extension is named, so that this list replaces the hub-wide
# one instead of being merged with it.
c.ServerApp.jpserver_extensions = {
    "nbgrader.server_extensions.formgrader": True,
    "nbgrader.server_extensions.course_list": True,
    "nbgrader.server_extensions.assignment_list": True,
    "nbgrader.server_extensions.validate_assignment": True,
}
