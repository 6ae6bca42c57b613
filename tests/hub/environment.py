"""What the hub test installs, as docs/deploy.md tells an administrator to.

- The students' environment: a venv of Debian's own Python (every user can run it:
  the interpreter the repository's .venv uses lives under /root, which no student can
  enter), with the course package installed *non-editably from a built wheel*, its
  ``hub`` extra (jupyterhub-singleuser) and the student configuration copied into the
  venv's ``etc/jupyter``. It holds no ``mytorch/``, no ``source/``, no example
  submission: the test checks it.
- configurable-http-proxy from npm, in a local folder (never a global install).

Both are cached under .artifacts/hub/ (the course wheel is rebuilt and reinstalled when
the package's files change, pip adds what changed requirements need), so reruns take
seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import tempfile
import tomllib
import zipfile
from pathlib import Path

from assignment.instructor.jupyter import STUDENT, config_files

ROOT = Path(__file__).resolve().parents[2]
SYSTEM_PYTHON = Path("/usr/bin/python3")
PROXY_VERSION = "5.3.0"
# The one cache of this test; used only if every folder above it lets other users in.
DEFAULT_CACHE = ROOT / ".artifacts" / "hub"
FALLBACK_CACHE = Path("/var/tmp/mytorch-hub-test")


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run a setup command; fail with its output when it fails."""
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, command))} failed ({result.returncode}):\n"
                           f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def world_traversable(path: Path) -> bool:
    """Whether every folder from / down to ``path`` lets any user pass (o+x)."""
    path = path.resolve()
    for folder in [path, *path.parents]:
        if folder.exists() and not folder.stat().st_mode & stat.S_IXOTH:
            return False
    return True


def cache_dir() -> Path:
    """.artifacts/hub/, or a folder under /var/tmp when students could not reach the former."""
    DEFAULT_CACHE.mkdir(parents=True, exist_ok=True)
    if world_traversable(DEFAULT_CACHE):
        return DEFAULT_CACHE
    FALLBACK_CACHE.mkdir(mode=0o755, exist_ok=True)
    return FALLBACK_CACHE


def _package_digest(source: Path) -> str:
    """A digest of everything that goes into the course wheel built from ``source``."""
    digest = hashlib.sha256((source / "pyproject.toml").read_bytes())
    for path in sorted((source / "assignment").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            digest.update(str(path.relative_to(source)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def build_wheel(out: Path, source: Path = ROOT) -> Path:
    """Build the course package's wheel from a copy of pyproject.toml and assignment/.

    A copy, so that setuptools' build/ and egg-info never land in the course folder.

    Args:
        out: the folder the wheel is written to.
        source: the course repository (or a snapshot of it).

    Returns:
        The wheel's path.
    """
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mytorch-wheel-") as tmp:
        shutil.copy(source / "pyproject.toml", tmp)
        shutil.copytree(source / "assignment", Path(tmp) / "assignment",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        # The venv's setuptools builds it: no download of a build environment.
        _run([str(ROOT / ".venv" / "bin" / "python"), "-m", "pip", "wheel", "--no-deps",
              "--no-build-isolation", "-w", str(out), tmp])
    (wheel,) = out.glob("mytorch_course-*.whl")
    return wheel


def wheel_names(wheel: Path) -> list[str]:
    """The files inside a wheel."""
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


# What the students' (and the instructor's) environment installs from the wheel, as
# docs/deploy.md says: the single-user server and the grader's sandbox dependencies.
EXTRAS = ("hub", "grading")


def _dependencies_digest(source: Path) -> str:
    """A digest of the requirements the environment installs (the other extras do not count)."""
    project = tomllib.loads((source / "pyproject.toml").read_text())["project"]
    extras = project.get("optional-dependencies", {})
    wanted = [*project["dependencies"], *(req for extra in EXTRAS for req in extras.get(extra, []))]
    return hashlib.sha256("\n".join(sorted(wanted)).encode()).hexdigest()[:16]


def student_environment(source: Path = ROOT) -> Path:
    """The students' venv (cached); returns its prefix.

    Built once with Debian's Python; when the course package changes, its wheel is
    rebuilt and reinstalled, and pip adds what changed requirements need.

    Args:
        source: the course repository the wheel is built from: the same snapshot the
            instructor's course is copied from, so that both hold the same files.

    Returns:
        The venv's folder: ``<prefix>/bin/jupyterhub-singleuser`` starts a user's server.
    """
    if not SYSTEM_PYTHON.exists():
        raise RuntimeError("Debian's python3 is missing: apt-get install python3 python3-venv")
    prefix = cache_dir() / "student-env"
    stamp = prefix / ".installed"
    key = f"{_dependencies_digest(source)} {_package_digest(source)}"
    if stamp.exists() and stamp.read_text() == key:
        return prefix
    if not (prefix / "bin" / "python").exists():
        shutil.rmtree(prefix, ignore_errors=True)
        _run([str(SYSTEM_PYTHON), "-m", "venv", str(prefix)])
    wheels = cache_dir() / "wheels"
    shutil.rmtree(wheels, ignore_errors=True)
    wheel = build_wheel(wheels, source)
    pip = [str(prefix / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    # As docs/deploy.md says: the wheel (never the repository, never -e), with its extras.
    _run(pip + [f"{wheel}[{','.join(EXTRAS)}]"])
    _run(pip + ["--no-deps", "--force-reinstall", str(wheel)])
    install_student_config(prefix)
    # Readable and runnable by everyone, as a hub's shared environment is.
    _run(["chmod", "-R", "go+rX", str(prefix)])
    stamp.write_text(key)
    return prefix


def install_student_config(prefix: Path) -> None:
    """Copy the shipped student configuration into ``<prefix>/etc/jupyter`` (as deploy.md says)."""
    target = prefix / "etc" / "jupyter"
    for relative in config_files(STUDENT):
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(STUDENT / relative, target / relative)


def site_packages(prefix: Path) -> Path:
    """The venv's site-packages folder."""
    (site,) = prefix.glob("lib/python3*/site-packages")
    return site


def proxy_command() -> Path:
    """configurable-http-proxy from npm, installed once into the cache's node/ folder."""
    if shutil.which("npm") is None:
        raise RuntimeError("npm is missing: apt-get install nodejs npm")
    node = cache_dir() / "node"
    binary = node / "node_modules" / ".bin" / "configurable-http-proxy"
    manifest = node / "node_modules" / "configurable-http-proxy" / "package.json"
    if binary.exists() and manifest.exists() and json.loads(manifest.read_text())["version"] == PROXY_VERSION:
        return binary
    node.mkdir(parents=True, exist_ok=True)
    _run(["npm", "install", "--prefix", str(node), "--no-audit", "--no-fund", "--no-save",
          f"configurable-http-proxy@{PROXY_VERSION}"], env={**os.environ, "npm_config_update_notifier": "false"})
    return binary
