"""Reading a submission's files without trusting what they are.

A submitted entry may be a symbolic link (to the gradebook, the source
notebooks, another student's work, ``/dev/zero``), a named pipe that blocks
whoever opens it, a socket, a device or a sparse file of many gigabytes.
Everything here looks at an entry with ``lstat`` before opening it, opens it
with ``O_NOFOLLOW | O_NONBLOCK`` (a link is never followed, a pipe never
blocks), checks again on the open descriptor that it is the same regular file
(so a swap between the two steps is caught), and reads at most a given number
of bytes. Folders are opened the same way and files are then opened relative
to the folder's descriptor, so no symbolic link is followed at any level below
the folder first opened.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_READ_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_READ_DIR = os.O_RDONLY | os.O_NOFOLLOW | os.O_DIRECTORY | os.O_CLOEXEC


class RefusedFile(Exception):
    """Why an entry was not read, in words a student understands (e.g. "is a symbolic link")."""


def kind_of(mode: int) -> str:
    """What a file mode is, as a noun phrase: "a regular file", "a named pipe (FIFO)"..."""
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a file"


def size_text(n_bytes: int) -> str:
    """``n_bytes`` in the unit a limit is stated in (KiB below a MiB, else MiB)."""
    return f"{n_bytes // 2**20} MiB" if n_bytes >= 2**20 else f"{n_bytes // 1024} KiB"


def open_folder(name: str | Path, dir_fd: int | None = None) -> int:
    """Open the folder ``name`` (relative to ``dir_fd`` if given), never through a symbolic link.

    Args:
        name: the folder's path, or its name inside ``dir_fd``.
        dir_fd: an open folder descriptor, or None.

    Returns:
        A descriptor of the folder (the caller closes it).

    Raises:
        RefusedFile: it is missing, not a folder (a link, a file...) or cannot be opened.
    """
    try:
        mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
    except OSError as error:
        raise RefusedFile(f"cannot be read ({error.strerror})") from None
    if not stat.S_ISDIR(mode):
        raise RefusedFile(f"is {kind_of(mode)}, not a folder")
    try:
        return os.open(name, _READ_DIR, dir_fd=dir_fd)
    except OSError as error:
        raise RefusedFile(f"cannot be opened ({error.strerror})") from None


def read_regular(name: str | Path, max_bytes: int, dir_fd: int | None = None) -> bytes:
    """The content of the regular file ``name``, if it is one and holds at most ``max_bytes``.

    Args:
        name: the file's path, or its name inside ``dir_fd``.
        max_bytes: the most it may hold.
        dir_fd: an open folder descriptor, or None.

    Returns:
        The file's bytes.

    Raises:
        RefusedFile: it is not a regular file (a link, a pipe, a device...), is too large,
            changed while it was read, or cannot be read.
    """
    try:
        before = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError as error:
        raise RefusedFile(f"cannot be read ({error.strerror})") from None
    if not stat.S_ISREG(before.st_mode):  # refused before opening: opening a device can have effects
        raise RefusedFile(f"is {kind_of(before.st_mode)}, not a regular file")
    if before.st_size > max_bytes:
        raise RefusedFile(f"is larger than {size_text(max_bytes)}")
    try:
        fd = os.open(name, _READ_FILE, dir_fd=dir_fd)
    except OSError as error:
        raise RefusedFile(f"cannot be opened ({error.strerror})") from None
    try:
        now = os.fstat(fd)
        if not stat.S_ISREG(now.st_mode) or (now.st_dev, now.st_ino) != (before.st_dev, before.st_ino):
            raise RefusedFile("changed while it was being read")
        chunks, left = [], max_bytes + 1  # one byte more than allowed tells a file that grew
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as error:
        raise RefusedFile(f"cannot be read ({error.strerror})") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > max_bytes:
        raise RefusedFile(f"is larger than {size_text(max_bytes)}")
    return data


def read_file(path: str | Path, max_bytes: int) -> bytes:
    """``read_regular`` of ``path``, whose folder must not be a symbolic link either.

    Args:
        path: the file.
        max_bytes: the most it may hold.

    Returns:
        The file's bytes.

    Raises:
        RefusedFile: as ``read_regular``, or its folder is not a real folder.
    """
    folder, name = os.path.split(os.fspath(path))
    try:
        fd = open_folder(folder or ".")
    except RefusedFile as why:
        raise RefusedFile(f"is in a folder that {why}") from None
    try:
        return read_regular(name, max_bytes, dir_fd=fd)
    finally:
        os.close(fd)


def entries(fd: int) -> list[tuple[str, int]]:
    """(name, mode) of every entry of an open folder, sorted by name, links not followed."""
    found = []
    with os.scandir(fd) as listing:
        for entry in listing:
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError:
                mode = 0
            found.append((entry.name, mode))
    return sorted(found)
