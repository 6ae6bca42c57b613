"""The instructor's Jupyter server on a hub: ~/.jupyter/jupyter_server_config.py.

Copied from the course package (assignment/instructor/jupyter/instructor/) with the other files of
that folder; see docs/deploy.md. jupyter_server_config.json beside it turns formgrader
and the course list back on for this account (the hub-wide default is the students').
"""

import os

# Everything this server and its kernels and terminals create (the gradebook, the
# release, collected submissions, autograded notebooks, feedback) is readable by the
# instructor alone: files 0600, folders 0700. nbgrader sets the exchange's permissions
# itself, so students can still fetch releases and feedback.
os.umask(0o077)
