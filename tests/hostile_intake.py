"""Hostile submissions of the intake kind for tests/test_hostile.py (not a test module itself).

Each entry is an hostile_submissions.Case; tests/test_hostile.py grades them in the
same one autograde run as every other hostile student. They attack what nbgrader
reads and copies before any test runs: entries that are not regular files (a
notebook that is a named pipe blocks whoever opens it), symbolic links out of the
submission, huge sparse files, files Python imports but a naive reader rejects
(a byte-order mark, a coding line), files the parser cannot build (nested too
deeply), and text UTF-8 cannot encode. tests/test_intake.py builds the same
submissions for its own checks of what is copied and what the student is told.
"""

from __future__ import annotations

import json
import os
import socket

import hostile_submissions as hs

NN_AND_DEPENDANTS = hs.scores(*hs.NN_KEYS, "sgd_step", "training_accuracy")  # optim.py imports nn.py
SPARSE_BYTES = 2**30
SURROGATE_MESSAGE = "bad value \\ud800 here"  # what a student's ValueError('bad value \ud800 here') shows
PEER_NN = ("submitted", "ada_correct", "mlp", "mytorch", "nn.py")


def _fifo(path) -> None:
    os.mkfifo(path)


def _socket(path) -> None:
    """A UNIX socket left on disk (its inode stays after the socket is closed)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(path))
    finally:
        sock.close()


def _sparse(path, size: int = SPARSE_BYTES) -> None:
    with open(path, "wb") as out:
        out.truncate(size)


def special_files(ctx: hs.Context) -> None:
    """Entries no reader may open as files: nbgrader would block on the pipe, or stop at it."""
    sub = ctx.submission
    (sub / "01_forward.ipynb").unlink()
    _fifo(sub / "01_forward.ipynb")  # opening it for reading would wait forever for a writer
    _fifo(sub / "pipe")
    (sub / "02_backward.ipynb").unlink()
    (sub / "02_backward.ipynb").symlink_to(sub / "pipe")  # a link to a pipe
    _fifo(sub / "answers.txt")
    _fifo(sub / ".hidden_pipe")  # hidden names escape nbgrader's "*" patterns unless matched apart
    _socket(sub / "kernel.sock")
    (sub / "null").symlink_to("/dev/null")  # a link to a device
    _sparse(sub / "weights.npy")  # 1 GiB that takes no disk space until copied
    _fifo(sub / "mytorch" / "extra.py")  # not imported by nn.py or optim.py: costs nothing
    _sparse(sub / "mytorch" / "big.py")


def links_out(ctx: hs.Context) -> None:
    """Symbolic links to what the student may not see: copied, they would land in autograded/ and feedback/."""
    sub = ctx.submission
    (sub / "answers.json").symlink_to(ctx.course / "source" / "mlp" / "01_forward.ipynb")
    (sub / "gradebook.db").symlink_to(ctx.course / "gradebook.db")
    (sub / "secret.txt").symlink_to(ctx.course / "secret.txt")
    (sub / "peer_nn.py").symlink_to(ctx.course.joinpath(*PEER_NN))
    (sub / "course").symlink_to(ctx.course, target_is_directory=True)
    (sub / "mytorch" / "helpers.py").symlink_to(ctx.course.joinpath(*PEER_NN))


def symlinked_nn(ctx: hs.Context) -> None:
    """mytorch/nn.py is a link to another student's nn.py: not graded, and not copied."""
    (ctx.submission / "mytorch" / "nn.py").unlink()
    (ctx.submission / "mytorch" / "nn.py").symlink_to(ctx.course.joinpath(*PEER_NN))


def nested(ctx: hs.Context) -> None:
    """Expressions nested too deeply for Python's parser: MemoryError (nn.py), RecursionError (optim.py)."""
    hs.at_import(ctx, "nn.py", "_DEEP = " + "-" * 100_000 + "1\n")
    hs.at_import(ctx, "optim.py", "_DEEP = 1" + "+1" * 150_000 + "\n")


def bom_and_coding_line(ctx: hs.Context) -> None:
    """Honest code as some editors save it: Python imports both files as they are."""
    nn = ctx.submission / "mytorch" / "nn.py"
    nn.write_bytes(b"\xef\xbb\xbf" + nn.read_bytes().replace(b"\n", b"\r\n"))  # a byte-order mark, CRLF
    optim = ctx.submission / "mytorch" / "optim.py"
    text = optim.read_text(encoding="utf-8")
    text = "# -*- coding: latin-1 -*-\n" + text + "\n_AUTHOR = 'Ren\u00e9e'  # written as one latin-1 byte\n"
    optim.write_bytes(text.encode("latin-1"))


def surrogates(ctx: hs.Context) -> None:
    """Text UTF-8 cannot encode: in an exception's message, in a notebook cell, in a file name."""
    hs.before(ctx, "nn.py", hs.LINEAR_FORWARD, "        raise ValueError('bad value \\ud800 here')\n")
    nb = hs.notebook(ctx, "03_step.ipynb")
    nb["cells"].append({"cell_type": "markdown", "metadata": {}, "source": "my notes \ud800"})
    (ctx.submission / "03_step.ipynb").write_text(json.dumps(nb), encoding="ascii")  # json escapes it as \ud800
    (ctx.submission / os.fsdecode(b"notes-\xff.txt")).write_text("not UTF-8 in its name\n", encoding="utf-8")


CASES: list[hs.Case] = [
    hs.Case("special_files", special_files, hs.scores(), {},
            "01 a named pipe, 02 a link to one; a pipe, a socket, a link to /dev/null, 1 GiB sparse files"),
    hs.Case("links_out", links_out, hs.scores(), {},
            "links to the source notebook, the gradebook, a secret, a peer's nn.py, the course folder"),
    hs.Case("symlinked_nn", symlinked_nn, NN_AND_DEPENDANTS,
            {"linear_forward": "mytorch/nn.py is a symbolic link", "sgd_step": "which cannot be graded",
             "training_accuracy": "is a symbolic link"},
            "mytorch/nn.py is a link to another student's nn.py"),
    hs.Case("nested", nested, NN_AND_DEPENDANTS,
            {"linear_forward": "too deeply nested", "sgd_step": "mytorch/optim.py is too deeply nested"},
            "nn.py and optim.py hold expressions nested 100,000 and 150,000 deep"),
    hs.Case("bom_and_coding_line", bom_and_coding_line, hs.scores(), {},
            "nn.py with a UTF-8 byte-order mark and CRLF line ends, optim.py in latin-1 with a coding line"),
    hs.Case("surrogates", surrogates, hs.scores("linear_forward", "training_accuracy"),
            {"linear_forward": SURROGATE_MESSAGE},
            "Linear.forward raises with a lone surrogate; a notebook cell and a file name hold one"),
]
