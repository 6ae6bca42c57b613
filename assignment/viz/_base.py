"""What every visualizer shares: the widget frame, status messages, the stepper."""

from __future__ import annotations

import functools
import html
import time
from dataclasses import dataclass
from typing import Any, Callable

import ipywidgets as widgets

from assignment.viz import _safe
from assignment.viz._controls import Picture, Steps
from assignment.viz._plots import LayeredFigure

__all__ = ["Message", "Visualizer", "Stepper", "failed", "guarded", "level_of", "safely", "text_block"]

# level -> (symbol, text colour, background)
_STYLE = {
    "ok": ("✔", "#1a7f37", "#e9f6ec"),
    "info": ("ℹ", "#1f4e79", "#eef4fb"),
    "todo": ("✎", "#7a5b00", "#fff6d6"),
    "warn": ("⚠", "#7a5b00", "#fff6d6"),
    "error": ("✘", "#b42318", "#fdecea"),
}


def level_of(kind: str) -> str:
    """The display level of an outcome kind."""
    if kind == _safe.OK:
        return "ok"
    if kind in (_safe.NOT_IMPLEMENTED, _safe.MISSING):
        return "todo"
    return "error"


@dataclass
class Message:
    """One line of a visualizer's status box."""

    level: str  # ok, info, todo, warn, error
    text: str
    kind: str = _safe.OK  # the outcome kind behind it (for tests and for ``state``)


def _messages_html(messages: list[Message]) -> str:
    lines = []
    for message in messages:
        symbol, colour, background = _STYLE.get(message.level, _STYLE["info"])
        lines.append(
            f'<div style="color:{colour};background:{background};padding:2px 8px;margin:1px 0;'
            f'border-radius:3px;font-size:13px;line-height:1.35">{symbol} {html.escape(message.text)}</div>'
        )
    return "".join(lines)


class Visualizer(widgets.VBox):
    """The frame of a visualizer: heading, status box, figure picture, controls.

    Fields read by tests:
        messages: the status lines (``Message``).
        status_text: the status lines as plain text.
        state: ``"ok"`` or the kind of the first problem (``"not_implemented"``,
            ``"error"``, ``"none"``, ``"shape"``, ``"nan"``, ``"mismatch"``, ...).
        image: the ``Picture`` holding the rendered figure (PNG bytes) and its alt text.
        render_ms: Python time of the last render, in milliseconds.
    """

    heading = ""
    #: what the picture shows, in words (its alt text begins with it, then comes the verdict)
    picture = ""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.header = widgets.HTML(
            f'<div style="font-size:15px;font-weight:600;margin:2px 0">{html.escape(self.heading)}</div>')
        self.status = widgets.HTML()
        self.image = Picture(layout=widgets.Layout(max_width="100%"))
        self.messages: list[Message] = []
        self.judgements: list = []  # the questions' verdicts on this view's cases (``_judge.Verdict``)
        self.figure: LayeredFigure | None = None
        self.render_ms = 0.0

    def verdict(self) -> str:
        """The verdict in words: '✔ ...' or '✘ ...' from the status lines (never colour alone)."""
        problems = [m for m in self.messages if m.level in ("error", "todo")]
        if problems:
            symbol = _STYLE[problems[0].level][0]
            more = f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})" \
                if len(problems) > 1 else ""
            return f"Verdict: {symbol} {problems[0].text}{more}"
        done = [m for m in self.messages if m.level == "ok"]
        if done:
            return "Verdict: ✔ " + " ".join(m.text for m in done)
        return "Verdict: " + (self.messages[0].text if self.messages else "nothing checked yet.")

    def alt_text(self) -> str:
        """The picture's alt text: what it shows, then the verdict."""
        shows = (self.picture or self.heading).rstrip(".")
        return f"{shows}. {self.verdict()}"

    # -- status -------------------------------------------------------
    def note(self, level: str, text: str, kind: str = _safe.OK) -> None:
        """Add a status line (a line already shown is not repeated)."""
        if not any(message.text == text for message in self.messages):
            self.messages.append(Message(level, text, kind))

    def note_outcome(self, outcome: _safe.Outcome, ok_text: str | None = None) -> None:
        """Add the outcome's message (or ``ok_text`` when it is fine) and its notes."""
        if outcome.ok:
            if ok_text:
                self.note("ok", ok_text)
        else:
            self.note(level_of(outcome.kind), outcome.message, outcome.kind)
        for extra in outcome.notes:
            self.note("warn", extra)

    @property
    def passed(self) -> bool:
        """True when every check this view ran on its cases passes (and it ran one)."""
        return bool(self.judgements) and all(verdict.passed for verdict in self.judgements)

    @property
    def problems(self) -> list[str]:
        """The checks' problems on this view's cases, in their words."""
        return [problem for verdict in self.judgements for problem in verdict.problems]

    def note_verdict(self, verdict, ok_text: str, prefix: str = "") -> None:
        """The question's check on this view's case (``_judge.Verdict``): ``ok_text`` when it
        passes, else each of its problems in the check's own words (the first is the verdict)."""
        if not any(known is verdict for known in self.judgements):
            self.judgements.append(verdict)
        if verdict.passed:
            self.note("ok", ok_text)
            return
        for problem, kind in zip(verdict.problems, verdict.kinds):
            self.note(level_of(kind), prefix + problem, kind)

    def show_messages(self) -> None:
        self.status.value = _messages_html(self.messages)
        self.image.alt = self.alt_text()

    @property
    def status_text(self) -> str:
        return "\n".join(message.text for message in self.messages)

    @property
    def state(self) -> str:
        for message in self.messages:
            if message.level in ("error", "todo"):
                return message.kind if message.kind != _safe.OK else "error"
        return "ok"

    # -- drawing ------------------------------------------------------
    def render(self) -> None:
        """Render the figure into the image widget."""
        if self.figure is None:
            return
        start = time.perf_counter()
        self.image.value = self.figure.png()
        self.image.alt = self.alt_text()
        self.render_ms = (time.perf_counter() - start) * 1000

    def internal_error(self, error: BaseException) -> None:
        """Show a bug of the visualizer itself as a status line, not a traceback."""
        self.messages = [m for m in self.messages if not m.text.startswith("The visualizer itself failed")]
        self.note("error", f"The visualizer itself failed ({type(error).__name__}: {error}). "
                  "Please tell the course staff; your code may be fine.", _safe.ERROR)
        self.show_messages()


def guarded(method: Callable) -> Callable:
    """Wrap a widget callback so that no exception reaches the notebook."""

    @functools.wraps(method)
    def wrapper(self, *args: Any, **kwargs: Any):
        try:
            return method(self, *args, **kwargs)
        except Exception as error:  # noqa: BLE001 - shown in the widget instead
            try:
                self.internal_error(error)
            except Exception:  # noqa: BLE001
                pass
            return None

    return wrapper


def text_block(text: str, colour: str = "#ff7f0e") -> str:
    """Monospace HTML for the arithmetic of one entry, with a coloured bar on its left."""
    return (f'<pre style="font-size:13px;line-height:1.4;margin:4px 0;border-left:4px solid {colour};'
            f'padding-left:8px;white-space:pre-wrap">{html.escape(text)}</pre>')


class Stepper(widgets.VBox):
    """Play / Stop / Repeat / Prev / Next / Reset buttons and a slider over ``count`` positions,
    each with an accessible name (``_controls.Steps``).

    ``callback(position)`` is called whenever the position changes, and by
    ``reset()`` even if it was already 0.

    Fields read by tests:
        controls: the ``Steps`` widget; ``controls.press("next")`` is what pressing Next does.
        count: the number of positions; value: the current one.
    """

    def __init__(self, count: int, callback: Callable[[int], None], *, description: str = "entry",
                 interval: int = 900) -> None:
        count = max(int(count), 1)
        self.count = count
        self._callback = callback
        self._quiet = False
        self.controls = Steps(count=count, value=0, interval=int(interval), description=description)
        self.controls.on_same = callback
        self.controls.observe(self._moved, names="value")
        super().__init__([self.controls])

    @property
    def value(self) -> int:
        return int(self.controls.value)

    def press(self, button: str) -> None:
        """Press one of the buttons ("play", "stop", "repeat", "prev", "next", "reset")."""
        self.controls.press(button)

    def set_count(self, count: int) -> None:
        """Walk ``count`` positions from now on; go back to 0 (and call back once)."""
        count = max(int(count), 1)
        self._quiet = True
        try:
            self.controls.playing = False
            self.controls.value = 0
            self.count = count
            self.controls.count = count
        finally:
            self._quiet = False
        self._callback(0)

    def _moved(self, change: dict) -> None:
        if not self._quiet:
            self._callback(int(change["new"]))

    def next(self) -> None:
        self.press("next")

    def previous(self) -> None:
        self.press("prev")

    def reset(self) -> None:
        self.press("reset")


class _Failed(widgets.VBox):
    """What a visualizer returns when it cannot even start."""

    def __init__(self, name: str, error: BaseException) -> None:
        self.messages = [Message("error", f"The {name} visualizer could not start ({type(error).__name__}: {error}). "
                                 "Please tell the course staff; your code may be fine.", _safe.ERROR)]
        self.status = widgets.HTML(_messages_html(self.messages))
        super().__init__([self.status])

    state = "error"

    @property
    def status_text(self) -> str:
        return "\n".join(message.text for message in self.messages)


def failed(name: str, error: BaseException) -> widgets.Widget:
    return _Failed(name, error)


def safely(name: str, cls: type, *args: Any, **kwargs: Any) -> widgets.Widget:
    """``cls(*args, **kwargs)``; if that fails, a widget saying so (never raises)."""
    try:
        return cls(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 - Run All must go on
        return failed(name, error)
