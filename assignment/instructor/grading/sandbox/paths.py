"""What of the machine a sandbox may read: the interpreter, its standard library, NumPy, their libraries.

Both backends expose exactly this (bubblewrap mounts it, Landlock allows it):
nothing else of ``/usr`` (so no system ``dist-packages``), no ``site-packages``
(so a computed ``__import__("ya" + "ml")`` finds nothing), no ``/etc`` but the
dynamic loader's cache.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import numpy

LOADER_CACHE = Path("/etc/ld.so.cache")


@dataclass(frozen=True)
class Installation:
    """The files of the Python installation that the sandbox needs.

    Fields:
        executable: the real interpreter (not a virtual environment's link to it).
        stdlib: the standard library folders (``stdlib``, ``platstdlib``; lib-dynload is inside).
        hidden: folders inside ``stdlib`` to keep out (the installation's own site-packages).
        numpy_dirs: NumPy's package folder and its bundled libraries (``numpy.libs``).
        libraries: every shared library the interpreter, the standard library's
            extension modules and NumPy's load, as (path the loader asks for, real file).
    """

    executable: Path
    stdlib: tuple[Path, ...]
    hidden: tuple[Path, ...]
    numpy_dirs: tuple[Path, ...]
    libraries: tuple[tuple[Path, Path], ...]


@functools.cache
def installation() -> Installation:
    """The installation grading runs on (computed once per process)."""
    executable = Path(getattr(sys, "_base_executable", sys.executable)).resolve()
    prefix = Path(sys.base_prefix).resolve()
    base = {"base": str(prefix), "platbase": str(prefix), "installed_base": str(prefix),
            "installed_platbase": str(prefix)}
    paths = sysconfig.get_paths(vars=base)
    stdlib = tuple(sorted({Path(paths[k]).resolve() for k in ("stdlib", "platstdlib") if Path(paths[k]).is_dir()}))
    hidden = tuple(sorted({Path(paths[k]).resolve() for k in ("purelib", "platlib")
                           if Path(paths[k]).is_dir() and any(Path(paths[k]).resolve().is_relative_to(s)
                                                              for s in stdlib)}))
    site = Path(numpy.__file__).resolve().parents[1]
    numpy_dirs = tuple(site / name for name in ("numpy", "numpy.libs") if (site / name).is_dir())
    objects = [executable]
    for folder in stdlib:
        dynload = folder / "lib-dynload"
        if dynload.is_dir():
            objects += sorted(dynload.glob("*.so"))
    objects += sorted((site / "numpy").rglob("*.so"))
    # NumPy's bundled libraries are reached through its own folders ($ORIGIN), not at their host path.
    libraries = tuple((requested, real) for requested, real in _libraries(objects)
                      if not any(real.is_relative_to(folder) for folder in numpy_dirs))
    return Installation(executable, stdlib, hidden, numpy_dirs, libraries)


@functools.cache
def stdlib_entries() -> tuple[str, ...]:
    """The interpreter and every entry of its standard library folders but the hidden ones
    (``Installation.hidden``): what a Landlock domain lets a runner read of the installation."""
    found = installation()
    hidden = {str(h) for h in found.hidden}
    read = [str(found.executable)]
    for folder in found.stdlib:
        for entry in sorted(folder.iterdir()):
            if str(entry) not in hidden and not any(str(entry).startswith(h + os.sep) for h in hidden):
                read.append(str(entry))
    return tuple(read)


def _libraries(objects: list[Path]) -> list[tuple[Path, Path]]:
    """(requested path, real file) of every library the dynamic loader resolves for ``objects``.

    Asks ``ldd`` (the loader's own listing; it only reads these trusted, installed files).
    """
    found: dict[Path, Path] = {}
    for start in range(0, len(objects), 64):
        chunk = [str(p) for p in objects[start:start + 64]]
        try:
            listing = subprocess.run(["ldd", *chunk], capture_output=True, text=True, timeout=60).stdout
        except (OSError, subprocess.TimeoutExpired):
            listing = ""
        for line in listing.splitlines():
            line = line.strip()
            if "=>" in line:
                target = line.split("=>", 1)[1].strip().split(" (", 1)[0].strip()
            elif line.startswith("/") and " (" in line:  # the loader itself
                target = line.split(" (", 1)[0].strip()
            else:
                continue
            if target.startswith("/") and os.path.exists(target):
                found[Path(target)] = Path(target).resolve()
    # The interpreter's loader (PT_INTERP) may be missing from an empty listing; look it up.
    for loader in (Path("/lib64/ld-linux-x86-64.so.2"), Path("/lib/ld-linux-aarch64.so.1")):
        if loader.exists():
            found.setdefault(loader, loader.resolve())
    return sorted(found.items())
