"""``ignore_patterns.is_ignored`` gives nbgrader's answer for every path and pattern, on a real tree.

The tree is a course folder (two: a plain name, and one glob reads as a pattern) with a ``submitted/``
of several students: hidden files and folders, names with ``[ ] * ?``, symbolic links to
files, to folders, to outside the course, broken ones and a loop, a named pipe, nested
folders, a folder named like a pattern. Every path in it (and paths that do not exist, odd
spellings, relative ones) is asked about every pattern: the course's real ignore list
(``nbgrader_config.py`` loaded for that folder) and patterns chosen to reach every branch of
glob's algorithm. nbgrader's own ``is_ignored`` is the reference, on the same files.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from nbgrader import utils
from traitlets.config.loader import PyFileConfigLoader

from assignment.instructor.grading import ignore_patterns
from course_tools import ROOT

ORIGINAL = ignore_patterns.NBGRADER_IS_IGNORED

STUDENTS = ["ada", ".hidden_student", "b[r]acket", "st*r", "q?mark", "with space"]
ENTRIES = ["01_forward.ipynb", ".ipynb_checkpoints/01_forward-checkpoint.ipynb", "mytorch/nn.py",
           "mytorch/__pycache__/nn.cpython-311.pyc", "mytorch/.secret", ".hidden_dir/inner.txt", "[ab].txt", "a.txt",
           "*.pyc", "?", "[", "]x", "nested/deeper/deepest/file.py", "feedback/x.html", "notes.pyc",
           ".pytest_cache/v", "timestamp.txt"]

PATTERNS = [
    "*", ".*", "?", "??", "*.pyc", "*.txt", "[ab].txt", "[[]ab].txt", "[!.]*", "[.]*", "[", "]x", "[]]x", "**", "*/", ".*/",
    "*/*", "*/*.py", "mytorch", "mytorch/", "mytorch/*", "mytorch/*/", "mytorch/.*", "mytorch/__pycache__",
    "nested/*/deepest", "nested/**/file.py", "*/deeper/*/file.py", ".", "..", "", "./*", "../*", "a.txt", "a.txt/",
    "__pycache__", ".ipynb_checkpoints", "feedback", ".pytest_cache", "link*", "broken*", "fifo", "self_loop/*",
]


def _build_tree(top: Path, name: str) -> Path:
    course = top / name
    outside = top / "outside"
    (outside / "dir").mkdir(parents=True)
    (outside / "file.txt").write_text("outside")
    for student in STUDENTS:
        folder = course / "submitted" / student / "mlp"
        for entry in ENTRIES:
            path = folder / entry
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(entry)
        (folder / "link_file").symlink_to(folder / "a.txt")
        (folder / "link_dir").symlink_to(folder / "mytorch")
        (folder / "link_outside").symlink_to(outside / "dir")
        (folder / "broken_link").symlink_to(top / "nowhere")
        (folder / "self_loop").symlink_to(folder / "self_loop")
        os.mkfifo(folder / "fifo")
        (folder / "mytorch" / "link_up").symlink_to(folder)
    (course / "submitted" / "ada" / "stray_file").write_text("a file where a submission folder would be")
    (course / "submitted" / "link_student").symlink_to(course / "submitted" / "ada")
    (course / "submitted" / "broken_student").symlink_to(top / "missing")
    for name in ("mlp/01_forward.ipynb", "mlp/mytorch/__init__.py", "mlp/data/x.csv", "mlp/.hidden"):
        path = course / "source" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)
    shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    return course


def _course_ignore(course: Path) -> list[str]:
    """``c.CourseDirectory.ignore`` as the course's nbgrader_config.py builds it in ``course``."""
    config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    return list(config.CourseDirectory.ignore)


def _every_path(course: Path) -> list[str]:
    """Every file, folder and link below ``course`` (links not followed), and spellings around them."""
    paths = [str(course)]
    for dirpath, dirnames, filenames in os.walk(course):
        paths += [os.path.join(dirpath, name) for name in dirnames + filenames]
    extra = []
    for path in paths[::7]:
        extra += [path + "/", path + "/.", path.replace("/submitted/", "//submitted/"), path + "/missing",
                  os.path.join(os.path.dirname(path), ".", os.path.basename(path)), path + "/../x"]
    # below what is not a folder: a file, a pipe, links (broken, looping, to a file, to a folder)
    for path in paths:
        if os.path.basename(path) in ("stray_file", "fifo", "a.txt", "link_file", "link_dir", "link_outside",
                                      "broken_link", "self_loop", "link_student", "broken_student"):
            extra += [path + "/x", path + "/", path + "/x/y"]
    return paths + extra


# A plain course folder, and one whose name glob reads as a pattern (there nbgrader's relative patterns,
# joined to each file's folder, match nothing: the same here).
@pytest.fixture(scope="module", params=["course", "co[u]rse*?"])
def tree(tmp_path_factory, request) -> tuple[Path, list[str], list[str]]:
    course = _build_tree(tmp_path_factory.mktemp("ignore_patterns"), request.param)
    ignore = _course_ignore(course)
    assert any(os.path.isabs(p) for p in ignore) and ".ipynb_checkpoints" in ignore
    return course, ignore, _every_path(course)


def test_the_course_list_is_the_one_autograde_uses(tree):
    course, ignore, _ = tree
    assert os.path.join(glob_escape(str(course)), "submitted", "*", "*", "*") in ignore


def glob_escape(text: str) -> str:
    import glob

    return glob.escape(text)


def test_every_path_and_pattern_answers_as_nbgrader(tree):
    course, ignore, paths = tree
    patterns = PATTERNS + ignore + [os.path.join(glob_escape(str(course)), p) for p in PATTERNS] + [
        os.path.join(str(course), "submitted", "*", "mlp", "*"),  # unescaped: the course's own [u] is magic
        os.path.join(glob_escape(str(course)), "submitted", "[!.]*", "*", "[!.]*"),
        os.path.join(glob_escape(str(course)), "submitted", "*", "*", "*", "*", "*"),
        "/", "//", "/*", "/tmp", str(course) + "/", glob_escape(str(course)) + "//submitted/*"]
    checked = matched = 0
    wrong = []
    for path in paths:
        for pattern in patterns:
            expected = ORIGINAL(path, [pattern])
            got = ignore_patterns.is_ignored(path, [pattern])
            checked += 1
            matched += expected
            if got != expected:
                wrong.append((path, pattern, expected, got))
    assert not wrong, wrong[:20]
    assert matched > 200 and checked - matched > 200, (matched, checked)  # both answers well represented
    for path in paths:  # the whole list at once, as find_all_files asks
        assert ignore_patterns.is_ignored(path, ignore + ["*.ipynb"]) == ORIGINAL(path, ignore + ["*.ipynb"]), path


def test_relative_paths_answer_as_nbgrader(tree, monkeypatch):
    """A relative filename: its folder is "" or relative, patterns are globbed from the current folder."""
    course, ignore, _ = tree
    folder = course / "submitted" / "b[r]acket" / "mlp"
    monkeypatch.chdir(folder)
    relative = [name for name in os.listdir(".")] + ["mytorch/nn.py", "./a.txt", "missing", "mytorch/", "nested/deeper"]
    for path in relative:
        for pattern in PATTERNS + ignore:
            assert ignore_patterns.is_ignored(path, [pattern]) == ORIGINAL(path, [pattern]), (path, pattern)


def test_find_all_files_finds_the_same_files(tree):
    """nbgrader's find_all_files with each is_ignored: the same files, for a submission and the source."""
    course, ignore, _ = tree
    installed = utils.is_ignored
    try:
        for folder in [course / "submitted" / s / "mlp" for s in STUDENTS] + [course / "source" / "mlp", course]:
            utils.is_ignored = ORIGINAL
            expected = utils.find_all_files(str(folder), ignore + ["*.ipynb"])
            utils.is_ignored = ignore_patterns.is_ignored
            assert utils.find_all_files(str(folder), ignore + ["*.ipynb"]) == expected
    finally:
        utils.is_ignored = installed
    submission = str(course / "submitted" / "ada" / "mlp")
    assert utils.find_all_files(submission, ignore + ["*.ipynb"]) == []  # the course copies nothing itself


def test_what_glob_cannot_take_is_answered_by_nbgrader(tree):
    course, ignore, _ = tree
    for path in [str(course) + "/a\0b", str(course) + "/\ud800", b"/tmp/x"]:
        for pattern in ["*", "a\0*", "\ud800*"]:
            try:
                expected = ORIGINAL(path, [pattern])
            except Exception as error:  # noqa: BLE001 (the same exception is expected)
                with pytest.raises(type(error)):
                    ignore_patterns.is_ignored(path, [pattern])
            else:
                assert ignore_patterns.is_ignored(path, [pattern]) == expected
    assert ignore_patterns.is_ignored("/x", None) is False


def test_the_plugin_installs_it():
    import assignment.instructor.grading.nbgrader_plugin  # noqa: F401

    assert utils.is_ignored is ignore_patterns.is_ignored
