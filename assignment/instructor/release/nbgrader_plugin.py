"""The release build, run by ``nbgrader generate_assignment`` itself.

nbgrader copies an assignment's ``.py`` files verbatim, so the solution must
not sit in ``source/``. Instead this preprocessor, added to
``GenerateAssignment.preprocessors`` in ``nbgrader_config.py``, writes the
student's ``mytorch/`` (derived from the reference) into the release and runs
the leak check on every notebook it converts. Being a preprocessor, a failure
here fails ``generate_assignment`` (and formgrader's Generate button) loudly,
and nbgrader removes the half-built release.
"""

from __future__ import annotations

from pathlib import Path

from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import NbGraderPreprocessor

from assignment.instructor.release.leaks import LeakError, check_release
from assignment.instructor.release.stubs import write_student_package


class BuildStudentFiles(NbGraderPreprocessor):
    """Write the student's mytorch stubs into the release, then check for leaks."""

    def preprocess(self, nb, resources):
        coursedir = CourseDirectory(parent=self)
        assignment = resources["nbgrader"]["assignment"]
        notebook = resources["nbgrader"]["notebook"]
        root = Path(coursedir.root).resolve()
        release = Path(coursedir.format_path(coursedir.release_directory, ".", assignment)).resolve()
        write_student_package(root / "mytorch", release / "mytorch")
        self.log.info("Wrote the student's mytorch stubs to %s", release / "mytorch")
        leaks = check_release(root, assignment, extra_notebooks=[(f"{notebook}.ipynb (being released)", nb)])
        if leaks:
            listing = "\n  ".join(str(leak) for leak in leaks)
            raise LeakError(f"the release of {assignment!r} would leak:\n  {listing}")
        # The reference's own test times, from which grading derives its time limits.
        from assignment.instructor.grading.nbgrader_plugin import GradeInSandbox
        from assignment.instructor.grading.timing import measure_notebook
        measure_notebook(root, resources["nbgrader"]["db_url"], assignment, notebook,
                         GradeInSandbox(parent=self).backend, self.log.warning)
        return nb, resources
