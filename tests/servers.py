"""Servers the browser and hub tests start: a free loopback port, and waiting until one answers."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_serving(url: str, process: subprocess.Popen, log: Path, what: str, seconds: float = 90) -> None:
    """Return once ``url`` answers 200; raise with the end of ``log`` if ``process`` exits or time runs out.

    Args:
        url: a URL of the server that answers 200 once it is up.
        process: the server's process.
        log: the server's log file, quoted in the error.
        what: the server's name for the error ("JupyterHub").
        seconds: how long to wait at most.
    """
    deadline = time.time() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if process.poll() is not None or time.time() > deadline:
            raise RuntimeError(f"{what} did not start:\n{log.read_text(errors='replace')[-4000:]}")
        time.sleep(0.5)
