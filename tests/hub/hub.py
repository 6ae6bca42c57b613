"""A real JupyterHub on loopback: PAM logins, LocalProcessSpawner, configurable-http-proxy.

The configuration is the one docs/deploy.md gives for a hub with system users,
with the ports picked at random (the machine is shared) and the hub's state in the
run's own folder.
"""

from __future__ import annotations

import os
import signal
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from tests.servers import free_port, wait_until_serving

ROOT = Path(__file__).resolve().parents[2]
JUPYTERHUB = ROOT / ".venv" / "bin" / "jupyterhub"


def write_config(state: Path, users: list[str], student_env: Path, proxy: Path,
                 config_path: Path) -> tuple[Path, int]:
    """Write jupyterhub_config.py for the test's hub.

    Args:
        state: the hub's private folder (its database, cookie secret, pid files, log).
        users: the users allowed to log in.
        student_env: the environment the users' servers run from.
        proxy: the configurable-http-proxy executable.
        config_path: the folder standing in for /etc/jupyter (the hub-wide nbgrader config).

    Returns:
        (the config file, the public port).
    """
    port, hub_port, api_port = free_port(), free_port(), free_port()
    config = state / "jupyterhub_config.py"
    config.write_text(f'''
c = get_config()
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{api_port}"
c.ConfigurableHTTPProxy.command = [{str(proxy)!r}]
c.ConfigurableHTTPProxy.pid_file = {str(state / "proxy.pid")!r}
c.JupyterHub.pid_file = {str(state / "jupyterhub.pid")!r}
c.JupyterHub.db_url = "sqlite:///" + {str(state / "jupyterhub.sqlite")!r}
c.JupyterHub.cookie_secret_file = {str(state / "jupyterhub_cookie_secret")!r}
c.JupyterHub.authenticator_class = "pam"
c.Authenticator.allowed_users = {set(users)!r}
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [{str(student_env / "bin" / "jupyterhub-singleuser")!r}]
c.Spawner.default_url = "/lab"
# The users' environment first on PATH: nbgrader runs `alembic` by name.
c.Spawner.env_keep = ["LANG", "LC_ALL"]
c.Spawner.environment = {{
    "PATH": {str(student_env / "bin")!r} + ":/usr/local/bin:/usr/bin:/bin",
    # Stands in for /etc/jupyter, which a test on a shared machine must not change.
    "JUPYTER_CONFIG_PATH": {str(config_path)!r},
}}
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
''')
    return config, port


@contextmanager
def running_hub(state: Path, config: Path, port: int) -> Iterator[str]:
    """Start JupyterHub (its own process group) and yield its URL; stop everything after.

    Args:
        state: the hub's private folder (its log goes there too).
        config: the jupyterhub_config.py to use.
        port: the public port in that config.
    """
    log = open(state / "jupyterhub.log", "wb")
    process = subprocess.Popen(
        [str(JUPYTERHUB), "-f", str(config)], cwd=state, stdout=log, stderr=subprocess.STDOUT,
        env={"PATH": f"{ROOT / '.venv' / 'bin'}:/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
             "HOME": str(state)},
        start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(f"{url}/hub/api/", process, state / "jupyterhub.log", "JupyterHub")
        yield url
    finally:
        _stop(process, state)
        log.close()


def _stop(process: subprocess.Popen, state: Path) -> None:
    """SIGTERM the hub (it stops the users' servers and the proxy), then kill what is left."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    # The proxy runs in a session of its own: end it by the id the hub recorded.
    pid_file = state / "proxy.pid"
    if pid_file.exists():
        try:
            pid = int(pid_file.read_text().strip())
            os.killpg(pid, signal.SIGKILL)
        except (ValueError, ProcessLookupError, PermissionError):
            pass
