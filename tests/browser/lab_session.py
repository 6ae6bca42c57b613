"""A real JupyterLab server in student mode and a real Chromium driving it.

Shared by the browser tests: start the server on a free loopback port with a
token, open notebooks, run all cells through JupyterLab's own command, wait
for the kernel, and read back what a person would see.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from assignment.instructor import student_lab
from tests.servers import free_port, wait_until_serving

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


@contextmanager
def jupyterlab(workdir: Path, release: Path) -> Iterator[tuple[str, str]]:
    """Start student-mode JupyterLab on a working copy of ``release``; yield (base url, token)."""
    root = student_lab.prepare(workdir, release=release)
    page_config = workdir / ".jupyter" / "labconfig" / "page_config.json"
    config = json.loads(page_config.read_text())
    config["exposeAppInBrowser"] = True  # lets the test call JupyterLab's commands, as menus do
    page_config.write_text(json.dumps(config))
    # Render every cell (no windowing), so that what is counted is all there.
    student_lab.write_user_setting(workdir, "@jupyterlab/notebook-extension", "tracker", {"windowingMode": "none"})
    port, token = free_port(), secrets.token_hex(16)
    log = open(workdir / "jupyterlab.log", "wb")
    process = subprocess.Popen(
        student_lab.lab_command(root, port, token=token, open_browser=False)
        + ["--LabApp.expose_app_in_browser=True", "--ServerApp.disable_check_xsrf=True"],
        cwd=root, env=student_lab.lab_environment(workdir), stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(f"{base}/api/status?token={token}", process, workdir / "jupyterlab.log", "JupyterLab")
        yield base, token
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def server_extensions(base: str, token: str) -> dict:
    """What the running server says about its extensions (for the student-mode check)."""
    with urllib.request.urlopen(f"{base}/api/me?token={token}", timeout=5) as response:
        return json.loads(response.read())


def run_all(page, base: str, token: str, notebook: str, timeout_s: float = 180) -> None:
    """Open ``notebook``, run all its cells with JupyterLab's command, wait until every cell ran."""
    page.goto(f"{base}/lab/tree/{notebook}?token={token}&reset")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
    page.wait_for_function(
        "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
        " && window.jupyterapp.shell.currentWidget.sessionContext"
        " && window.jupyterapp.shell.currentWidget.sessionContext.session"
        " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
        " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.connectionStatus === 'connected'",
        timeout=90_000)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    # Every code cell shows an execution count when it has run; none may still show [*].
    page.wait_for_function(
        """() => {
            const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')];
            if (prompts.length === 0) return false;
            const done = prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
            const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
            return done && kernel.status === 'idle';
        }""", timeout=timeout_s * 1000, polling=500)
    page.wait_for_timeout(1500)  # let widget views finish rendering their images


def visible_state(page) -> dict:
    """What a person sees: widget views, images inside them, error and stderr outputs."""
    return page.evaluate("""() => ({
        widgets: document.querySelectorAll('.jp-OutputArea-output .jupyter-widgets').length,
        widget_outputs: [...document.querySelectorAll('.jp-OutputArea-output')].filter(e => e.querySelector(':scope > .jupyter-widgets')).length,
        widget_images: [...document.querySelectorAll('.jupyter-widgets img.mt-picture')].filter(i => i.naturalWidth > 0).length,
        images: [...document.querySelectorAll('.jp-OutputArea-output img')].filter(i => i.naturalWidth > 0).length,
        errors: [...document.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]')].map(e => e.textContent.slice(0, 300)),
        stderr: [...document.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')].map(e => e.textContent.slice(0, 300)),
        passed: [...document.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stdout"]')].filter(e => e.textContent.includes('Passed.')).length,
        formgrader: !!document.querySelector('[title="Formgrader"], #formgrader'),
        figure_text: [...document.querySelectorAll('.jp-OutputArea-output')].map(e => e.textContent)
            .filter(t => t.includes('<Figure size')).map(t => t.slice(0, 200)),
        static_figures: [...document.querySelectorAll('.jp-OutputArea-output img:not(.mt-picture)')]
            .filter(i => i.naturalWidth > 0).map(i => i.getAttribute('alt') || ''),
    })""")


def accessibility_problems(page) -> list[str]:
    """What a screen reader would miss: a picture without alt text, a control without a name.

    Reads the accessible names Chromium computes (the ARIA snapshot of every widget output),
    so that what counts is what the accessibility tree really exposes.
    """
    import re

    problems = []
    outputs = page.locator('.jp-OutputArea-output:has(.jupyter-widgets), .jp-OutputArea-output:has(img)')
    for i in range(outputs.count()):
        snapshot = outputs.nth(i).aria_snapshot()
        for line in snapshot.splitlines():
            entry = line.strip().lstrip("- ").strip("'")
            role = re.match(r"(img|button|slider|combobox|textbox|checkbox|radio|spinbutton|switch)\b", entry)
            if role and not re.match(rf'{role.group(1)} "[^"]{{2,}}', entry):
                problems.append(f"output {i + 1}: {entry[:120]}")
    return problems


def picture_alts(page) -> list[str]:
    """The alt text of every visualizer picture (the widgets' <img>)."""
    return page.evaluate("() => [...document.querySelectorAll('img.mt-picture')].map(i => i.getAttribute('alt') || '')")


def keyboard_walk(page) -> dict:
    """Use the first stepper and the first named slider by keyboard alone; return what each key did.

    Tab from Play reaches Next (Stop, Repeat, Prev in between), Enter and Space press it,
    Tab twice more reaches the position slider, and the right arrow moves it.
    """
    stepper = page.locator('[role="group"][aria-label^="Stepper"]').first
    output = stepper.locator("output")
    seen = {"start": output.text_content()}
    stepper.locator('button[data-button="play"]').focus()
    for _ in range(4):
        page.keyboard.press("Tab")
    seen["focused"] = page.evaluate("() => document.activeElement.getAttribute('aria-label')")

    def after(key: str, label: str) -> None:
        before = output.text_content()
        page.keyboard.press(key)
        try:
            page.wait_for_function("([el, before]) => el.textContent !== before", arg=[output.element_handle(), before],
                                   timeout=5000)
        except Exception:  # noqa: BLE001 - recorded as unchanged, the test says so
            pass
        seen[label] = output.text_content()

    after("Enter", "enter")
    after(" ", "space")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    seen["slider_focused"] = page.evaluate("() => document.activeElement.getAttribute('aria-label')")
    after("ArrowRight", "arrow")
    return seen
