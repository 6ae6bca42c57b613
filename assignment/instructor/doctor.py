"""``python -m assignment doctor [--course DIR]``: is this course installed safely and completely?

Each check prints one line: ``ok``, ``WARN`` (works, but worth a look) or
``FAIL`` (broken or unsafe: the line says what to run to fix it). The command
exits 1 when any check fails. What it checks:

- **config**: the course's ``nbgrader_config.py`` loads, together with the
  global ones, in the order nbgrader itself loads them;
- **sandbox**: the backend grading would use here, and why
  (``assignment.instructor.grading.sandbox.describe_backend``, with the preference
  ``c.GradeInSandbox.backend``, "auto" when unset);
- **permissions**: the course folder, ``source/``, ``mytorch/``, the students'
  folders and the SQLite gradebook: other users may neither read nor write
  them (the course holds the solution, the hidden tests and the grades);
  group access is a warning, unless the course is group-shared
  (``c.CourseDirectory.groupshared = True``, nbgrader's own setting for that);
- **exchange**: nbgrader's exchange folder (``c.Exchange.root``), when the
  course uses it: it exists, every user may write to it, and it is sticky;
  the course's ``inbound/`` does not let students list each other's work;
- **course package**: formgrader (which imports the installed ``assignment``
  package) and the command line (``nbgrader`` at the course root puts the
  course folder first on ``sys.path``, so a course that holds ``assignment/``
  uses that one) grade with the same files, compared by digest;
- **gradebook**: the database (SQLite, or ``MYTORCH_GRADEBOOK_URL``) can be
  opened with nbgrader's ``Gradebook``;
- **limits**: ``c.GradeInSandbox.timeout``, ``training_timeout`` and
  ``memory_mib`` are in sensible ranges;
- **disk**: free space at the course root.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

OK, WARN, FAIL = "ok", "WARN", "FAIL"
# What a verdict depends on: the code and the data (docs are not compared).
PACKAGE_PATTERNS = ("**/*.py", "data/*")
MIN_FREE_GIB = 2.0  # autograded notebooks and feedback: a few MB per student and assignment
# Limits outside these ranges still work, but cost honest students points (too short: a
# sandbox starts Python and NumPy in about half a second on a busy machine) or the grader
# hours (too long: an endless loop waits out every one of its tests).
TIMEOUT_RANGE = (2.0, 300.0)
TRAINING_TIMEOUT_RANGE = (6.0, 1800.0)
MIN_MEMORY_MIB = 512  # NumPy and the digits need about 200 MiB of address space; training more
STUDENT_FOLDERS = ("submitted", "autograded", "feedback")


@dataclass(frozen=True)
class Finding:
    """One line of the doctor's output.

    Fields:
        status: OK, WARN or FAIL.
        topic: what was checked ("sandbox", "permissions"...).
        text: what was found and, for a WARN or FAIL, what to do.
    """

    status: str
    topic: str
    text: str

    def line(self) -> str:
        return f"{self.status:<4} {self.topic}: {self.text}"


# ---------------------------------------------------------------------------------------------
# config


def config_paths() -> list[Path]:
    """The folders nbgrader reads global config files from, highest priority first (``jupyter --paths``)."""
    from jupyter_core.paths import jupyter_config_path

    return [Path(p) for p in jupyter_config_path()]


def load_course_config(course: Path) -> tuple[Config, list[Path]]:
    """The configuration nbgrader uses at the course root, and the files it came from.

    As nbgrader's apps do: ``jupyter_config.py`` then ``nbgrader_config.py`` of
    every Jupyter config folder (``~/.jupyter``, the environment's, the system's;
    the first folder of ``jupyter --paths`` wins), then the course's own
    ``nbgrader_config.py``, which wins over all of them.

    Args:
        course: the course root.

    Returns:
        (the merged config, the files loaded, lowest priority first).

    Raises:
        FileNotFoundError: the course has no nbgrader_config.py.
        Exception: whatever a config file raises while it runs.
    """
    config = Config()
    loaded: list[Path] = []
    folders = list(reversed(config_paths()))  # lowest priority first, so that later merges win
    for name in ("jupyter_config.py", "nbgrader_config.py"):
        for folder in folders:
            path = folder / name
            if path.is_file():
                config.merge(PyFileConfigLoader(name, path=str(folder)).load_config())
                loaded.append(path)
    own = course / "nbgrader_config.py"
    if not own.is_file():
        raise FileNotFoundError(f"{own} does not exist")
    config.merge(PyFileConfigLoader(own.name, path=str(course)).load_config())
    loaded.append(own)
    return config, loaded


def _home(path: Path) -> str:
    home = str(Path.home())
    text = str(path)
    return "~" + text[len(home):] if text.startswith(home + os.sep) else text


# ---------------------------------------------------------------------------------------------
# sandbox


def sandbox_findings(config: Config) -> list[Finding]:
    """The sandbox backend grading would use, for the course's preference."""
    from assignment.instructor.grading.sandbox import describe_backend

    section = config.get("GradeInSandbox", {})
    preference = str(section["backend"]) if "backend" in section else "auto"
    try:
        name, why = describe_backend(preference)
    except Exception as error:  # an unknown preference, or a probe that broke
        return [Finding(FAIL, "sandbox", f"c.GradeInSandbox.backend = {preference!r}: {error}")]
    asked = "" if preference == "auto" else f", as c.GradeInSandbox.backend = {preference!r} asks"
    if name is None:
        return [Finding(FAIL, "sandbox", f"no sandbox can run here{asked} ({why}); grading refuses to run "
                                         "until one can")]
    return [Finding(OK, "sandbox", f"{name}{asked} ({why})")]


# ---------------------------------------------------------------------------------------------
# permissions


def _who(mode: int, read: int, write: int) -> list[str]:
    return [word for bit, word in ((read, "readable"), (write, "writable")) if mode & bit]


def _mode(mode: int) -> str:
    return f"{stat.S_IMODE(mode):04o}"


def root_findings(root: Path, groupshared: bool) -> list[Finding]:
    """The course folder itself: closed to other users (and to the group unless group-shared)."""
    try:
        mode = root.stat().st_mode
    except OSError as error:
        return [Finding(FAIL, "permissions", f"cannot read the course folder {root}: {error}")]
    fix = f"chmod o-rwx {root}" if groupshared else f"chmod 700 {root}"
    others = _who(mode, stat.S_IROTH, stat.S_IWOTH)
    if others:
        return [Finding(FAIL, "permissions", f"course folder {root} is {' and '.join(others)} by other users "
                                             f"(mode {_mode(mode)}): {fix}")]
    if mode & stat.S_IXOTH:
        return [Finding(FAIL, "permissions", f"course folder {root} lets other users open the files inside "
                                             f"whose names they know (mode {_mode(mode)}): {fix}")]
    group = mode & stat.S_IRWXG
    if group and not groupshared:
        return [Finding(WARN, "permissions", f"course folder {root} is open to its group (mode {_mode(mode)}): "
                                             f"{fix}, or, if the group is your teaching staff, say so with "
                                             "c.CourseDirectory.groupshared = True")]
    shared = " (group-shared: c.CourseDirectory.groupshared)" if group else ""
    return [Finding(OK, "permissions", f"course folder {root} (mode {_mode(mode)}) is closed to other "
                                       f"users{shared}")]


def item_findings(root: Path, item: Path, label: str, groupshared: bool, file_fix: str = "600",
                  strict: bool = False) -> list[Finding]:
    """A folder or file of the course: what other users (and the group) can do to it.

    An item that other users cannot reach, because the course folder does not
    let them in, is fine whatever its own mode (a fresh clone's ``0755``
    folders are), unless ``strict``: then its mode alone is a warning (the
    gradebook is copied into backups with its mode).

    Args:
        root: the folder that holds ``item``.
        item: the folder or file.
        label: what it is, in the output ("gradebook").
        groupshared: whether the course is group-shared (group access is then fine).
        file_fix: the mode a file should get.
        strict: warn about an open mode even when the folder keeps others out.

    Returns:
        one finding (none when ``item`` does not exist).
    """
    try:
        mode = item.stat().st_mode
        root_mode = root.stat().st_mode
    except FileNotFoundError:
        return []
    except OSError as error:
        return [Finding(FAIL, "permissions", f"cannot read {label} {item}: {error}")]
    is_dir = stat.S_ISDIR(mode)
    fix = (f"chmod -R o-rwx {item}" if is_dir else f"chmod o-rwx {item}") if groupshared else \
        (f"chmod -R go-rwx {item}" if is_dir else f"chmod {file_fix} {item}")
    others = _who(mode, stat.S_IROTH, stat.S_IWOTH)
    group = _who(mode, stat.S_IRGRP, stat.S_IWGRP)
    others_reach = bool(root_mode & stat.S_IXOTH)
    group_reach = bool(root_mode & stat.S_IXGRP)
    if others and others_reach:
        return [Finding(FAIL, "permissions", f"{label} {item} is {' and '.join(others)} by other users "
                                             f"(mode {_mode(mode)}): {fix}")]
    if group and group_reach and not groupshared:
        return [Finding(WARN, "permissions", f"{label} {item} is {' and '.join(group)} by its group "
                                             f"(mode {_mode(mode)}): {fix}, unless the group is your teaching "
                                             "staff (then: c.CourseDirectory.groupshared = True)")]
    if strict and (others or (group and not groupshared)):
        return [Finding(WARN, "permissions", f"{label} {item} has mode {_mode(mode)}: the course folder keeps "
                                             f"others out, but a copy of it (a backup) would not: {fix}")]
    reach = "" if not (others or group) else ", behind the closed course folder"
    return [Finding(OK, "permissions", f"{label} {item} (mode {_mode(mode)}{reach})")]


def sqlite_path(db_url: str) -> Path | None:
    """The file of a ``sqlite:///`` gradebook URL (None for another database or an in-memory one)."""
    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def permission_findings(root: Path, db_url: str, groupshared: bool) -> list[Finding]:
    """The course folder, source/, mytorch/, the students' folders and the SQLite gradebook."""
    findings = root_findings(root, groupshared)
    for name, label in (("source", "source folder (solutions and hidden tests)"),
                        ("mytorch", "reference mytorch")):
        path = root / name
        if not path.exists():
            findings.append(Finding(WARN, "permissions", f"{path} is missing: the release is built from it"))
            continue
        findings += item_findings(root, path, label, groupshared)
    for name in STUDENT_FOLDERS:
        findings += item_findings(root, root / name, f"students' {name} folder", groupshared)
    gradebook = sqlite_path(db_url)
    if gradebook is not None and gradebook.exists():
        folder = gradebook.parent
        findings += item_findings(folder, gradebook, "gradebook", groupshared, strict=True)
        if folder.resolve() != root.resolve():
            findings += item_findings(folder.parent, folder, "gradebook folder", groupshared)
    return findings


# ---------------------------------------------------------------------------------------------
# exchange


def exchange_root(config: Config) -> tuple[str, bool]:
    """(nbgrader's exchange folder for this config, whether the config sets it)."""
    from nbgrader.exchange.default.exchange import Exchange

    section = config.get("Exchange", {})
    if "root" in section:
        return str(section["root"]), True
    return str(Exchange.class_traits()["root"].default_value), False


def exchange_findings(config: Config, course_id: str) -> list[Finding]:
    """nbgrader's exchange folder and the course's folders in it, when the course uses the exchange."""
    factory = config.get("ExchangeFactory", {})
    named = {k: v if isinstance(v, str) else f"{getattr(v, '__module__', '')}.{getattr(v, '__qualname__', v)}"
             for k, v in factory.items()}
    custom = [f"{k} = {v}" for k, v in named.items() if not v.startswith("nbgrader.exchange.default")]
    if custom:
        return [Finding(OK, "exchange", f"a custom exchange is configured ({'; '.join(custom)}): not checked")]
    root_text, configured = exchange_root(config)
    root = Path(root_text)
    if not root.exists():
        if configured:
            return [Finding(FAIL, "exchange", f"{root} (c.Exchange.root) does not exist: "
                                              f"mkdir -p {root} && chmod 1777 {root}")]
        return [Finding(OK, "exchange", f"not used: c.Exchange.root is not set and nbgrader's default {root} "
                                        "does not exist (to use it: "
                                        f"mkdir -p {root} && chmod 1777 {root})")]
    mode = root.stat().st_mode
    if not stat.S_ISDIR(mode):
        return [Finding(FAIL, "exchange", f"{root} is not a folder")]
    findings = []
    everyone = stat.S_IROTH | stat.S_IWOTH | stat.S_IXOTH
    if mode & everyone != everyone:
        findings.append(Finding(FAIL, "exchange", f"{root} is not readable and writable by every user "
                                                  f"(mode {_mode(mode)}): students cannot fetch or submit: "
                                                  f"chmod 1777 {root}"))
    elif not mode & stat.S_ISVTX:
        findings.append(Finding(FAIL, "exchange", f"{root} is writable by every user but not sticky "
                                                  f"(mode {_mode(mode)}): a student can rename the course's "
                                                  "folder and put up their own, then receive the others' "
                                                  f"submissions: chmod +t {root}"))
    else:
        findings.append(Finding(OK, "exchange", f"{root} (mode {_mode(mode)}): writable by every user, sticky"))
    if not course_id:
        return findings  # nbgrader's exchange needs c.CourseDirectory.course_id; nothing more to look at
    course_folder = root / course_id
    if not course_folder.is_dir():
        findings.append(Finding(OK, "exchange", f"{course_folder} does not exist yet "
                                                "(nbgrader release_assignment creates it)"))
        return findings
    findings += _exchange_folder(
        course_folder / "inbound", forbidden=stat.S_IROTH,
        forbidden_says="is readable by every user ({mode}): students can list and copy each other's "
                       "submissions: chmod o-r {path}",
        needed=stat.S_IWOTH | stat.S_IXOTH, missing=FAIL,
        missing_says="does not let students submit ({mode}): chmod o+wx {path}",
        right_says="({mode}): students can submit but not list each other's submissions")
    findings += _exchange_folder(
        course_folder / "outbound", forbidden=stat.S_IWOTH,
        forbidden_says="is writable by every user ({mode}): a student can replace the released "
                       "assignment: chmod o-w {path}",
        needed=stat.S_IROTH | stat.S_IXOTH, missing=WARN,
        missing_says="({mode}) does not let students fetch: chmod o+rx {path}")
    return findings


def _exchange_folder(path: Path, *, forbidden: int, forbidden_says: str, needed: int, missing: str,
                     missing_says: str, right_says: str | None = None) -> list[Finding]:
    """One of the exchange's per-course folders, held to the bits others must not and must have.

    Args:
        path: ``<exchange>/<course>/inbound`` or ``outbound``; nothing is said if it is absent.
        forbidden: permission bits for other users that must be clear (a FAIL otherwise).
        needed: bits for other users that must be set (``missing`` otherwise: FAIL or WARN).
        forbidden_says, missing_says, right_says: the line's text after the path, with ``{mode}``
            and ``{path}`` filled in; no line when right and ``right_says`` is None.

    Returns:
        The findings (none, or one).
    """
    if not path.is_dir():
        return []
    mode = path.stat().st_mode
    words = {"mode": f"mode {_mode(mode)}", "path": path}
    if mode & forbidden:
        return [Finding(FAIL, "exchange", f"{path} " + forbidden_says.format(**words))]
    if mode & needed != needed:
        return [Finding(missing, "exchange", f"{path} " + missing_says.format(**words))]
    return [] if right_says is None else [Finding(OK, "exchange", f"{path} " + right_says.format(**words))]


# ---------------------------------------------------------------------------------------------
# course package


_FIND_PACKAGE = """
import importlib.util, json
spec = importlib.util.find_spec("assignment")
path = None
if spec is not None:
    path = list(spec.submodule_search_locations or [])[:1] or [spec.origin]
    path = path[0]
try:
    from importlib.metadata import version
    found = version("mytorch-course")
except Exception:
    found = None
print(json.dumps({"path": path, "version": found}))
"""


def installed_package(python: str) -> tuple[Path | None, str | None, str | None]:
    """Where ``python`` imports ``assignment`` from when started outside the course (as formgrader is).

    Args:
        python: the interpreter that runs formgrader.

    Returns:
        (the package folder or None, the installed distribution's version or None, an error or None).
    """
    with tempfile.TemporaryDirectory(prefix="mytorch-doctor-") as neutral:
        try:
            result = subprocess.run([python, "-c", _FIND_PACKAGE], cwd=neutral, capture_output=True,
                                    text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as error:
            return None, None, f"cannot run {python}: {error}"
    if result.returncode != 0:
        return None, None, f"{python} failed: {result.stderr.strip().splitlines()[-1:]}"
    try:
        answer = json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None, None, f"{python} gave no answer: {result.stdout[-200:]!r}"
    path = Path(answer["path"]) if answer.get("path") else None
    return path, answer.get("version"), None


def package_files(folder: Path) -> dict[str, str]:
    """relative path -> SHA-256 of every file of the package a verdict depends on (``PACKAGE_PATTERNS``)."""
    digests = {}
    for pattern in PACKAGE_PATTERNS:
        for path in folder.glob(pattern):
            if path.is_file() and "__pycache__" not in path.parts:
                digests[path.relative_to(folder).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def differing_files(a: Path, b: Path) -> list[str]:
    """The files that differ between two copies of the package (also those only one has), sorted."""
    left, right = package_files(a), package_files(b)
    return sorted(name for name in set(left) | set(right) if left.get(name) != right.get(name))


def course_version(course: Path) -> str | None:
    """The version in the course's pyproject.toml (a clone of this repository has one)."""
    import tomllib

    try:
        return str(tomllib.loads((course / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"])
    except (OSError, ValueError, KeyError):
        return None


def package_findings(course: Path, python: str) -> list[Finding]:
    """Formgrader's package (installed) against the command line's (the course's assignment/, else installed)."""
    installed, version, error = installed_package(python)
    if error or installed is None:
        return [Finding(FAIL, "course package", f"formgrader's Python ({python}) cannot import the course "
                                                f"package ({error or 'not installed'}): pip install {course}")]
    local = course / "assignment"
    if not (local / "__init__.py").is_file():
        return [Finding(OK, "course package", f"formgrader and nbgrader both import {installed} "
                                              f"(version {version or 'unknown'}): the course has no assignment/")]
    if installed.resolve() == local.resolve():
        return [Finding(OK, "course package", f"formgrader and nbgrader both import {local} "
                                              f"(version {version or 'unknown'}, installed in editable mode)")]
    differ = differing_files(installed, local)
    local_version = course_version(course)
    versions = f"{version or 'unknown'} and {local_version or 'unknown'}"
    if not differ and (local_version is None or version == local_version):
        return [Finding(OK, "course package", f"formgrader imports {installed}, nbgrader at the course root "
                                              f"{local}: the same files (version {versions.split(' and ')[0]})")]
    shown = ", ".join(differ[:10]) + (f" and {len(differ) - 10} more" if len(differ) > 10 else "")
    what = f"{len(differ)} file(s) differ: {shown}" if differ else "the files are the same"
    return [Finding(FAIL, "course package", f"formgrader imports {installed} and nbgrader at the course root "
                                            f"imports {local} (versions {versions}); {what}: "
                                            f"reinstall the course package from this course's commit in the instructor's "
                                            f"environment (pip wheel --no-deps {course}, then pip install "
                                            f"--force-reinstall the wheel; never an editable install where "
                                            f"students can import it, see docs/deploy.md)")]


# ---------------------------------------------------------------------------------------------
# gradebook


def shown_url(db_url: str) -> str:
    """The URL without its password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(db_url).render_as_string(hide_password=True)
    except Exception:
        return "<unparsable URL>"


def gradebook_findings(db_url: str, course_id: str) -> list[Finding]:
    """Open the gradebook with nbgrader's Gradebook (after a read-only look, so that nothing is created)."""
    from sqlalchemy import create_engine, inspect

    where = "MYTORCH_GRADEBOOK_URL" if os.environ.get("MYTORCH_GRADEBOOK_URL") == db_url \
        else "c.CourseDirectory.db_url"
    shown = shown_url(db_url)
    path = sqlite_path(db_url)
    if path is not None and not path.exists():
        return [Finding(WARN, "gradebook", f"{path} does not exist yet (nbgrader generate_assignment creates it)")]
    os.environ.setdefault("PGCONNECT_TIMEOUT", "10")  # libpq: an unreachable host fails in 10 s, not minutes
    try:
        engine = create_engine(db_url, future=True)
        try:
            tables = inspect(engine).get_table_names()
        finally:
            engine.dispose()
    except Exception as error:
        reason = " ".join(str(error).split())[:300]
        return [Finding(FAIL, "gradebook", f"cannot open {shown} (from {where}): {type(error).__name__}: "
                                           f"{reason}: start the database or correct the URL")]
    if not tables:
        return [Finding(WARN, "gradebook", f"{shown} is reachable but empty (nbgrader generate_assignment "
                                           "creates the tables)")]
    from nbgrader.api import Gradebook

    try:
        with Gradebook(db_url, course_id) as gb:
            assignments = [a.name for a in gb.assignments]
            students = len(gb.students)
    except Exception as error:
        reason = " ".join(str(error).split())[:300]
        return [Finding(FAIL, "gradebook", f"{shown} is not a gradebook nbgrader can open "
                                           f"({type(error).__name__}: {reason}): nbgrader db upgrade")]
    names = ", ".join(assignments) if assignments else "none yet"
    return [Finding(OK, "gradebook", f"{shown} opens: assignments {names}; {students} student(s)")]


# ---------------------------------------------------------------------------------------------
# limits and disk


def limit_findings(config: Config) -> list[Finding]:
    """c.GradeInSandbox.timeout, training_timeout and memory_mib, as GradeInSandbox reads them."""
    from assignment.instructor.grading.nbgrader_plugin import GradeInSandbox

    try:
        plugin = GradeInSandbox(config=config)
        timeout, training, memory = float(plugin.timeout), float(plugin.training_timeout), int(plugin.memory_mib)
    except Exception as error:
        return [Finding(FAIL, "limits", f"c.GradeInSandbox is not valid: {' '.join(str(error).split())[:300]}")]
    findings = []
    for name, value, (low, high) in (("timeout", timeout, TIMEOUT_RANGE),
                                     ("training_timeout", training, TRAINING_TIMEOUT_RANGE)):
        setting = f"c.GradeInSandbox.{name} = {value:g} s"
        if value <= 0:
            findings.append(Finding(FAIL, "limits", f"{setting}: every test would time out; use {low:g} to {high:g}"))
        elif value < low:
            findings.append(Finding(WARN, "limits", f"{setting} is short: honest code may time out on a busy "
                                                    f"machine; {low:g} to {high:g} s is usual"))
        elif value > high:
            findings.append(Finding(WARN, "limits", f"{setting} is long: an endless loop waits it out in every "
                                                    f"one of its tests; {low:g} to {high:g} s is usual"))
        else:
            findings.append(Finding(OK, "limits", setting))
    if training < timeout:
        findings.append(Finding(WARN, "limits", "the training check gets less time than a single test "
                                                f"({training:g} s < {timeout:g} s)"))
    if memory < MIN_MEMORY_MIB:
        findings.append(Finding(WARN, "limits", f"c.GradeInSandbox.memory_mib = {memory}: below {MIN_MEMORY_MIB}, "
                                                "NumPy may fail to start in the sandbox"))
    else:
        findings.append(Finding(OK, "limits", f"c.GradeInSandbox.memory_mib = {memory}"))
    return findings


def disk_findings(root: Path, min_free_gib: float = MIN_FREE_GIB) -> list[Finding]:
    """Free space where autograded notebooks and feedback will be written."""
    try:
        free = shutil.disk_usage(root).free / 2**30
    except OSError as error:
        return [Finding(FAIL, "disk", f"cannot read the free space at {root}: {error}")]
    if free < min_free_gib:
        return [Finding(WARN, "disk", f"{free:.2f} GiB free at {root}, below {min_free_gib:g} GiB: autograde and "
                                      "feedback write every student's notebooks")]
    return [Finding(OK, "disk", f"{free:.1f} GiB free at {root}")]


# ---------------------------------------------------------------------------------------------


def diagnose(course: Path, python: str | None = None, min_free_gib: float = MIN_FREE_GIB) -> list[Finding]:
    """Every check, in order.

    Args:
        course: the course root.
        python: the interpreter that runs formgrader (default: this one).
        min_free_gib: below this much free disk, a warning.

    Returns:
        the findings, one per line of output.
    """
    from nbgrader.coursedir import CourseDirectory

    course = course.resolve()
    try:
        config, loaded = load_course_config(course)
    except Exception as error:
        reason = " ".join(str(error).split())[:300]
        return [Finding(FAIL, "config", f"cannot load {course / 'nbgrader_config.py'}: "
                                        f"{type(error).__name__}: {reason}"),
                *root_findings(course, False), *disk_findings(course, min_free_gib)]
    findings = [Finding(OK, "config", "loaded " + ", ".join(_home(p) for p in loaded))]
    coursedir = CourseDirectory(config=config)
    configured_root = Path(coursedir.root).resolve() if coursedir.root else course
    if configured_root != course:
        findings.append(Finding(WARN, "config", f"c.CourseDirectory.root is {configured_root}, not {course}: "
                                                "nbgrader grades there; the checks below are of the latter"))
    coursedir.root = str(course)
    checks = [
        ("sandbox", lambda: sandbox_findings(config)),
        ("permissions", lambda: permission_findings(course, coursedir.db_url, bool(coursedir.groupshared))),
        ("exchange", lambda: exchange_findings(config, coursedir.course_id)),
        ("course package", lambda: package_findings(course, python or sys.executable)),
        ("gradebook", lambda: gradebook_findings(coursedir.db_url, coursedir.course_id)),
        ("limits", lambda: limit_findings(config)),
        ("disk", lambda: disk_findings(course, min_free_gib)),
    ]
    for topic, check in checks:
        try:
            findings += check()
        except Exception as error:  # a broken check (say, a half-installed package) is a finding, not a crash
            reason = " ".join(str(error).split())[:300]
            findings.append(Finding(FAIL, topic, f"the check itself failed ({type(error).__name__}: {reason}); "
                                                 "the installation is incomplete"))
    return findings


def summary(findings: Iterable[Finding]) -> str:
    """The last line: how many checks, failures and warnings."""
    findings = list(findings)
    fails = sum(f.status == FAIL for f in findings)
    warns = sum(f.status == WARN for f in findings)
    verdict = "fix the FAIL lines above" if fails else "ready"
    return f"doctor: {len(findings)} checks, {fails} failed, {warns} warning(s): {verdict}"


def main(course: Path, python: str | None = None, min_free_gib: float = MIN_FREE_GIB) -> int:
    """Print every finding and a summary; 1 if any check failed, else 0."""
    findings = diagnose(course, python, min_free_gib)
    for finding in findings:
        print(finding.line())
    print(summary(findings))
    return 1 if any(f.status == FAIL for f in findings) else 0
