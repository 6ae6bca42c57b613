"""nbgrader configuration of the mytorch course. The course root is this folder.

Stock commands work from here: ``nbgrader generate_assignment mlp``,
``nbgrader autograde mlp``, ``nbgrader generate_feedback mlp``,
``nbgrader export``; formgrader's buttons read this same file.
"""

import glob
import os

c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)

COURSE_ROOT = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.root = COURSE_ROOT
c.CourseDirectory.course_id = "mytorch"
# The gradebook: SQLite at the course root, unless MYTORCH_GRADEBOOK_URL names another
# database (e.g. postgresql+psycopg2://user@host/mytorch, for several graders writing at once).
c.CourseDirectory.db_url = os.environ.get("MYTORCH_GRADEBOOK_URL") or "sqlite:///" + os.path.join(
    COURSE_ROOT, "gradebook.db")
# Caches and checkpoints never travel between instructor and students.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".pytest_cache"]
# Autograde copies nothing of submitted/ itself: nbgrader would copy every entry of a submission
# into autograded/ (and so into feedback/), following symbolic links (to the gradebook, the source
# notebooks, another student's files), without a size limit, and would stop at the first named
# pipe or socket. CourseDirectory.include and max_file_size do not help there (autograde ignores
# them; they apply to the exchange only). These absolute patterns match every entry of every
# submission (hidden ones and hidden student folders too) and nothing a student could name, since
# nbgrader's exchange matches patterns against bare file names. The course's notebook reader
# (Autograde.exporter_class, below) copies what grading and feedback need instead, safely, and tells
# each student what it left out (assignment/instructor/grading/intake.py).
c.CourseDirectory.ignore += [os.path.join(glob.escape(COURSE_ROOT), "submitted", student, "*", entry)
                             for student in ("*", ".*") for entry in ("*", ".*")]
# The exchange (submit, collect) skips files above 50 MiB, the most the reader reads of a notebook.
c.CourseDirectory.max_file_size = -(-50 * 2**20 // 1000)  # in nbgrader's kilobytes (1000 bytes), rounded up

# Release: the stock pipeline, then the course's build step (student stubs of
# mytorch derived from the reference, and the leak check that fails the build).
c.GenerateAssignment.preprocessors = [
    "nbgrader.preprocessors.IncludeHeaderFooter",
    "nbgrader.preprocessors.InstantiateTests",
    "nbgrader.preprocessors.LockCells",
    "nbgrader.preprocessors.ClearSolutions",
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.CheckCellMetadata",
    "nbgrader.preprocessors.ComputeChecksums",
    "nbgrader.preprocessors.SaveCells",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbgrader.preprocessors.ClearMarkScheme",
    "nbgrader.preprocessors.ComputeChecksums",
    "nbgrader.preprocessors.CheckCellMetadata",
    "assignment.instructor.release.nbgrader_plugin.BuildStudentFiles",
]

# Autograde: grade the student's own mytorch. Without this, nbgrader would
# overwrite the student's files with same-named files from source/.
c.Autograde.exclude_overwriting = {"mlp": ["mytorch/__init__.py", "mytorch/nn.py", "mytorch/optim.py"]}
# Deleted graded cells come back from the gradebook (and score what they deserve).
c.OverwriteCells.add_missing_cells = True
# nbgrader's sanitizing steps, with OverwriteCells reading the source cells once per run instead of
# once per cell (assignment/instructor/grading/run_cache.py; nbgrader's own code otherwise).
c.Autograde.sanitize_preprocessors = [
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "assignment.instructor.grading.run_cache.CachedOverwriteCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]
# Trusted grading: nbgrader's Execute (the student's kernel) is replaced by
# GradeInSandbox, which runs each test from the gradebook on the student's
# mytorch/*.py in a bubblewrap sandbox and writes the verdict into the cell.
c.Autograde.autograde_preprocessors = [
    "assignment.instructor.grading.nbgrader_plugin.GradeInSandbox",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "assignment.instructor.grading.run_cache.BatchedSaveAutoGrades",  # one commit per notebook, not per cell
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
# A malformed or tampered notebook must not stop the run: read what can be read,
# else stand the released notebook in (grades never depend on notebook content).
c.Autograde.exporter_class = "assignment.instructor.grading.reader.TolerantNotebookExporter"
# The same exporter, built only where a grading sandbox can run (else autograde stops at once).
c.Autograde.exporter_class = "assignment.instructor.grading.nbgrader_plugin.SandboxCheckedExporter"
# The sandbox: "auto" takes bubblewrap where user namespaces work, else "landlock" (Landlock +
# seccomp, for containers); with neither, autograde refuses before touching any previous result
# (the exporter below checks when autograde starts, before --force removes autograded notebooks).
c.GradeInSandbox.backend = "auto"
# Ceilings: each test gets 20x the reference's slowest test (at least 2 s), the training check
# 4x the reference's training (at least 4 s), as measured by generate_assignment; these when unmeasured.
# Seconds of CPU time; wall-clock time may reach 2 times that (a loaded machine slows honest tests).
c.GradeInSandbox.timeout = 20  # seconds per test
c.GradeInSandbox.training_timeout = 120  # seconds for the training check
c.GradeInSandbox.memory_mib = 1536
# Kernel settings for `nbgrader validate` (students' own runs).
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True

# Feedback shows each failed test's message, never a hidden test's code.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
c.ClearHiddenTests.enforce_metadata = False

# Grades for an LMS (README, "Grades to Canvas or Moodle"), written at the course root by
#   nbgrader export --exporter=assignment.instructor.lms_export.CanvasExportPlugin   (or MoodleExportPlugin)
# c.CanvasExportPlugin.roster = os.path.join(COURSE_ROOT, "roster.csv")  # e.g. Canvas's gradebook export
# c.CanvasExportPlugin.assignment_ids = {"mlp": 1234}  # Canvas's id of the assignment
# c.MoodleExportPlugin.identifier = "email"  # or "username", "idnumber"
