"""What the hub test does in the browser: a person's clicks in the hub, formgrader and
the Assignments tab, each followed by a screenshot.

Formgrader is opened at ``/user/<name>/formgrader`` in its own tab: since JupyterHub
4.1 a single-user server forbids framing (``frame-ancestors 'none'``), so the panel
JupyterLab would embed stays blank (nbgrader's documentation says the same).
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.hub.system_users import User

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]


class Session:
    """One user's browser tab on the hub, with numbered screenshots.

    Args:
        browser: a Playwright browser.
        hub_url: the hub's public URL.
        user: who logs in.
        shots: the folder the screenshots go to.
    """

    def __init__(self, browser, hub_url: str, user: User, shots: Path, label: str) -> None:
        self.context = browser.new_context(viewport={"width": 1400, "height": 900})
        self.page = self.context.new_page()
        self.page.on("dialog", lambda dialog: dialog.accept())
        self.hub_url, self.user, self.shots, self.label = hub_url, user, shots, label
        self.count = 0

    def shot(self, step: str) -> Path:
        """Screenshot the page as ``<label>-<n>-<step>.png``."""
        self.count += 1
        path = self.shots / f"{self.label}-{self.count:02d}-{step}.png"
        self.page.screenshot(path=str(path))
        return path

    def log_in(self) -> None:
        """Log in on the hub's login page; the hub starts the user's server and opens JupyterLab."""
        page = self.page
        page.goto(f"{self.hub_url}/hub/login")
        page.fill("#username_input", self.user.name)
        page.fill("#password_input", self.user.password)
        self.shot("login")
        page.click("#login_submit")
        page.wait_for_url(re.compile(rf".*/user/{re.escape(self.user.name)}/lab.*"), timeout=150_000)
        page.wait_for_selector("#jp-main-dock-panel", timeout=120_000)
        page.wait_for_selector(".jp-DirListing-content", timeout=60_000)
        page.wait_for_timeout(1500)

    @property
    def server(self) -> str:
        return f"{self.hub_url}/user/{self.user.name}"

    def menu_items(self, menu: str) -> list[str]:
        """Open a JupyterLab menu of the menu bar and return its item labels (then close it)."""
        page = self.page
        bar = page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(rf"^{menu}$"))
        if bar.count() == 0:
            return []
        bar.first.click()
        page.wait_for_selector(".lm-Menu-content", timeout=10_000)
        labels = page.locator(".lm-Menu-content .lm-Menu-itemLabel").all_inner_texts()
        self.shot(f"menu-{menu.lower()}")
        page.keyboard.press("Escape")
        return [label.strip() for label in labels if label.strip()]

    def menu_bar(self) -> list[str]:
        """The labels of JupyterLab's menu bar."""
        return [t.strip() for t in self.page.locator(".lm-MenuBar-itemLabel").all_inner_texts()]

    # --- formgrader (the instructor) ---------------------------------------------------------

    def open_formgrader(self) -> None:
        """Open formgrader's Manage Assignments page in this tab."""
        self.page.goto(f"{self.server}/formgrader")
        self.page.wait_for_selector("td.name a", timeout=60_000)

    def assignment_row(self, assignment: str):
        return self.page.locator("tr", has=self.page.locator("td.name a", has_text=re.compile(rf"^{assignment}$")))

    def formgrader_action(self, row, cell: str, step: str, timeout_s: float = 300) -> str:
        """Click the button in ``cell`` of a formgrader table row and wait for its result dialog.

        Returns:
            The text of the success dialog (a failure dialog fails the test with its log).
        """
        page = self.page
        row.locator(f"td.{cell} a").click()
        dialog = page.locator("#success-modal, #error-modal")
        dialog.first.wait_for(state="visible", timeout=timeout_s * 1000)
        page.wait_for_timeout(500)  # the dialog fades in
        self.shot(step)
        text = dialog.first.inner_text()
        if page.locator("#error-modal").count():
            raise AssertionError(f"formgrader {step} failed:\n{text[-4000:]}")
        dialog.first.locator(".modal-footer button").click()
        dialog.first.wait_for(state="detached", timeout=20_000)
        return text

    def submissions_page(self, assignment: str) -> None:
        self.page.goto(f"{self.server}/formgrader/manage_submissions/{assignment}")
        self.page.wait_for_selector("td.student-id", timeout=60_000)

    def submission_row(self, student: str):
        return self.page.locator("tr", has=self.page.locator("td.student-id", has_text=re.compile(rf"^{re.escape(student)}$")))

    # --- the Assignments tab (students) ------------------------------------------------------

    def open_assignments(self) -> None:
        """Nbgrader > Assignment List, as a student opens it."""
        page = self.page
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Nbgrader$")).click()
        page.locator(".lm-Menu-content .lm-Menu-itemLabel", has_text=re.compile(r"^Assignment List$")).click()
        page.wait_for_selector("#assignments", timeout=30_000)
        self.wait_for_lists()

    def wait_for_lists(self) -> None:
        """Wait until the Assignments tab has loaded its three lists."""
        self.page.wait_for_function(
            "() => [...document.querySelectorAll('#assignments .list_loading')].every(e => e.hidden || e.offsetParent === null)",
            timeout=60_000)
        self.page.wait_for_timeout(500)

    def list_button(self, section: str, assignment: str):
        """The action button of ``assignment`` in one list (released, fetched, submitted)."""
        item = self.page.locator(f"#{section}_assignments_list .list_item",
                                 has=self.page.locator(".item_name", has_text=assignment))
        return item.first.locator(".item_status button").first  # the notebooks' rows come after

    def click_and_wait(self, button, busy: str, step: str, timeout_s: float = 180) -> None:
        """Click a button of the Assignments tab and wait until its work is done."""
        button.click()
        self.page.wait_for_function(
            f"() => ![...document.querySelectorAll('#assignments button')].some(b => b.innerText.startsWith({busy!r}))",
            timeout=timeout_s * 1000)
        self.wait_for_lists()
        self.shot(step)

    def validate(self, notebook: str, step: str, timeout_s: float = 300) -> tuple[bool, str]:
        """Press Validate beside one notebook of the downloaded assignment.

        Returns:
            (whether the button turned green, the text of the Validation Results dialog).
        """
        page = self.page
        toggle = page.locator("#fetched_assignments_list .assignment-notebooks-link").first
        if toggle.get_attribute("aria-expanded") != "true" and not page.locator(
                "#fetched_assignments_list .collapse.in").count():
            toggle.click()
            page.wait_for_timeout(500)
        row = page.locator("#fetched_assignments_list .collapse .col-md-12",
                           has=page.locator(".item_name", has_text=notebook))
        button = row.first.locator("button")
        button.click()
        page.wait_for_selector(".jp-Dialog", timeout=timeout_s * 1000)
        page.wait_for_timeout(500)
        self.shot(step)
        text = page.locator(".jp-Dialog").inner_text()
        passed = "btn-success" in (button.get_attribute("class") or "")
        page.locator(".jp-Dialog button", has_text=re.compile("^ok$", re.I)).click()
        page.wait_for_selector(".jp-Dialog", state="detached", timeout=10_000)
        return passed, text
