"""nbgrader's ``is_ignored``, answered from the file's own path instead of by listing every submission.

``nbgrader.utils.is_ignored(filename, globs)`` is true when ``filename`` is one of
``glob.glob(os.path.join(os.path.dirname(filename), expr))`` for some ``expr`` of ``globs``.
``find_all_files`` asks it for every file and folder it walks (autograde walks each
student's submission and the assignment's source). The course's ignore list holds absolute
patterns (``<course>/submitted/*/*/*`` and the ``.*`` variants, ``nbgrader_config.py``), so
each of those globs lists every entry of every student's submission: per student, the cost
grew with the size of the class (over a whole class, with its square).

``is_ignored`` below gives the same answer without building those lists. It follows the
algorithm of ``glob.glob`` (Python 3.11, ``recursive=False``, ``include_hidden=False``)
backwards: given the pattern and the one path it is asked about, it decides whether glob
would have produced that path, component by component:

- the pattern is split where glob splits it (``os.path.split``); a component with ``*``,
  ``?`` or ``[`` (``glob.has_magic``) is matched with ``fnmatch.fnmatchcase`` (case-sensitive,
  as ``fnmatch.filter`` is on POSIX), and only to a name its folder's listing holds
  (``os.scandir``, as glob lists it; intermediate components only to folders, by
  ``DirEntry.is_dir``, as glob does); a name starting with ``.`` only when the component
  starts with ``.``;
- a literal last component must exist as ``os.path.lexists`` says (an empty one, after a
  trailing ``/``, as ``os.path.isdir`` says); a literal folder part is taken as written, as
  glob takes it (its existence shows in what is below it);
- a pattern without magic at all is the path itself, if it exists (``os.path.lexists``);
- the path must be the very string glob would have joined (``os.path.join``), so relative
  patterns (joined to the file's folder, as nbgrader joins them) and odd spellings behave alike.

The only folders it lists are those on the path asked about (with the course's patterns: a
submission's own folders and ``submitted/`` itself, read until the student's name is found),
and only once every name on the way has matched its pattern; a path outside ``submitted/``
costs no system call at all. It raises no audit events (``glob.glob`` raises
``sys.audit("glob.glob", ...)``). Where it would not mirror glob exactly (a non-POSIX system, a
path or pattern that is not text, holds a NUL or cannot be encoded for the file system, where
glob may raise), nbgrader's own function answers.

``install`` puts it in ``nbgrader.utils`` (``find_all_files`` looks ``is_ignored`` up there at
each call); ``nbgrader_plugin`` installs it when it is imported, so every nbgrader command run
with the course's configuration uses it. It keeps nothing between calls, so a long-lived
process (formgrader's server) can never see a stale answer.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import posixpath
from collections.abc import Iterable

from nbgrader import utils

# nbgrader's own function, kept once even if this module is imported again after install()
NBGRADER_IS_IGNORED = getattr(utils.is_ignored, "nbgrader_original", utils.is_ignored)


def _mirrorable(text: object) -> bool:
    """Whether glob's handling of ``text`` (a filename or pattern) is mirrored here: text, no NUL,
    encodable for the file system (else glob's ``os.scandir`` may raise where ``lexists`` says False)."""
    if not isinstance(text, str) or "\0" in text:
        return False
    try:
        os.fsencode(text)
    except UnicodeError:
        return False
    return True


def _listed(folder: str, name: str, dironly: bool) -> bool:
    """Whether ``name`` is among the names glob's ``_listdir(folder, None, dironly)`` returns.

    As glob: ``os.scandir`` of the folder (of ``os.curdir`` for ""), each entry kept (with
    ``dironly``: only if ``DirEntry.is_dir()``, errors meaning no), a failing listing meaning
    no names (or those read before the failure).
    """
    try:
        with os.scandir(folder or os.curdir) as entries:
            for entry in entries:
                if entry.name != name:
                    continue
                if not dironly:
                    return True
                try:
                    if entry.is_dir():
                        return True
                except OSError:
                    pass
    except OSError:
        return False
    return False


def _yields(pathname: str, target: str, dironly: bool) -> bool:
    """Whether glob's ``_iglob(pathname, "", None, False, dironly)`` yields exactly ``target``.

    Every check on strings is made before any on the file system (the answer is their
    conjunction), so a path that cannot match costs no system call.
    """
    dirname, basename = os.path.split(pathname)
    if not glob.has_magic(pathname):
        if target != pathname:
            return False
        if basename:
            return os.path.lexists(pathname)
        return os.path.isdir(dirname)  # a pattern ending with "/" matches only a folder
    if not dirname:  # glob lists the current folder
        if "/" in target or not target:
            return False
        if basename[0] != "." and target[0] == ".":
            return False
        return fnmatch.fnmatchcase(target, basename) and _listed("", target, dironly)
    # glob yields os.path.join(folder, name) for each folder the dirname part yields and each name
    # found in it: name is the target's last component (glob's names hold no "/").
    name = target.rpartition("/")[2]
    if glob.has_magic(basename):
        if not name or (basename[0] != "." and name[0] == "."):
            return False
        if not fnmatch.fnmatchcase(name, basename):
            return False

        def found_in(folder: str) -> bool:
            return _listed(folder, name, dironly)
    else:
        if name != basename:
            return False

        def found_in(folder: str) -> bool:
            # glob's _glob0: the literal name exists, or (an empty name) the folder is one
            return os.path.lexists(os.path.join(folder, basename)) if basename else os.path.isdir(folder)
    prefix = target[:len(target) - len(name)]
    folders = {prefix, prefix[:-1]}  # os.path.join(folder, name) is folder + name or folder + "/" + name
    magic_folder = dirname != pathname and glob.has_magic(dirname)
    for folder in folders:
        if not folder or os.path.join(folder, name) != target:
            continue
        if magic_folder:
            if _yields(dirname, folder, True) and found_in(folder):
                return True
        elif folder == dirname and found_in(folder):
            return True
    return False


def is_ignored(filename: str, ignore_globs: Iterable[str] | None = None) -> bool:
    """nbgrader's ``is_ignored``: whether ``filename`` is one of the paths ``glob.glob`` gives for
    ``os.path.join(os.path.dirname(filename), expr)``, for some ``expr`` of ``ignore_globs``.

    Args:
        filename: the path asked about (as ``find_all_files`` builds it).
        ignore_globs: the patterns (``CourseDirectory.ignore`` and more); None: nothing is ignored.

    Returns:
        The same answer as ``nbgrader.utils.is_ignored`` on the same file system.
    """
    if ignore_globs is None:
        return False
    if os.path is not posixpath or not _mirrorable(filename):
        return NBGRADER_IS_IGNORED(filename, ignore_globs)
    dirname = os.path.dirname(filename)
    for expr in ignore_globs:
        pattern = os.path.join(dirname, expr)  # raises as nbgrader's would for a pattern that is not text
        if not _mirrorable(pattern):
            if NBGRADER_IS_IGNORED(filename, [expr]):
                return True
        elif _yields(pattern, filename, False):
            return True
    return False


is_ignored.nbgrader_original = NBGRADER_IS_IGNORED


def install(exact_and_lean: bool = True) -> None:
    """Make ``nbgrader.utils.is_ignored`` this module's function (or, with False, nbgrader's own again)."""
    utils.is_ignored = is_ignored if exact_and_lean else NBGRADER_IS_IGNORED
