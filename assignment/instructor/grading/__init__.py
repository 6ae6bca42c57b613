"""Trusted grading: verdicts that student code cannot fake.

Stock nbgrader runs the tests inside the student's own kernel, so whatever the
student's code does to that kernel decides the grade. Here, instead:

- ``cases``: the tests are read from the gradebook (saved there by
  ``generate_assignment``), never from the student's notebook;
- ``policy``: only the student's ``mytorch/*.py`` files are taken, and their
  imports are checked (NumPy and the standard library only);
- ``sandbox``: each test runs the student's code in a fresh process inside a
  bubblewrap sandbox, with no view of the course, the gradebook, other
  students or the network, unprivileged, with memory, CPU, output and
  wall-clock limits;
- ``runner``: the script that runs inside the sandbox and reports the
  student's answers as plain JSON data (never pickle);
- ``verdicts``: the trusted process compares those answers with the expected
  ones (``assignment.shared.questions``);
- ``nbgrader_plugin``: the autograde preprocessor that does all of the above
  and writes each verdict into its graded cell, so nbgrader's gradebook,
  formgrader and feedback show it. No student code runs in a kernel.
"""
