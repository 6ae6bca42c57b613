"""What every visualizer shares: the widget frame, status messages, the stepper."""

from __future__ import annotations

import functools
import html
import time
from typing import Any, Callable

import ipywidgets as widgets

from assignment.student.viz import _safe
from assignment.student.viz._controls import Picture, Steps
from assignment.student.viz._plots import LayeredFigure
from assignment.student.viz._probe import SYMBOLS, Message, Probe, Status, level_of

__all__ = ["Message", "Visualizer", "ModesViz", "Stepper", "failed", "guarded", "level_of", "text_block"]

# level -> (symbol, text colour, background)
_STYLE = {
    "ok": (SYMBOLS["ok"], "#1a7f37", "#e9f6ec"),
    "info": (SYMBOLS["info"], "#1f4e79", "#eef4fb"),
    "todo": (SYMBOLS["todo"], "#7a5b00", "#fff6d6"),
    "warn": (SYMBOLS["warn"], "#7a5b00", "#fff6d6"),
    "error": (SYMBOLS["error"], "#b42318", "#fdecea"),
}


def _messages_html(messages: list[Message]) -> str:
    lines = []
    for message in messages:
        symbol, colour, background = _STYLE.get(message.level, _STYLE["info"])
        lines.append(
            f'<div style="color:{colour};background:{background};padding:2px 8px;margin:1px 0;'
            f'border-radius:3px;font-size:13px;line-height:1.35">{symbol} {html.escape(message.text)}</div>'
        )
    return "".join(lines)


class Visualizer(widgets.VBox, Status):
    """The frame of a view: heading, status box, figure picture, controls; drawn from its probe.

    Fields read by tests:
        probe: what the probe found (plain data); its fields read on the view too (``w.x`` is
            ``w.probe.x``) unless the view keeps a value of its own (one an interaction changes).
        messages: the status lines (``Message``); ``status_text``, ``state``, ``passed``, ``problems``
            as ``_probe.Status`` words them.
        image: the ``Picture`` holding the rendered figure (PNG bytes) and its alt text.
        render_ms: Python time of the last render, in milliseconds.
    """

    heading = ""
    #: what the picture shows, in words (its alt text begins with it, then comes the verdict)
    picture = ""

    def __init__(self, probe: Probe | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.probe = probe
        self.header = widgets.HTML(
            f'<div style="font-size:15px;font-weight:600;margin:2px 0">{html.escape(self.heading)}</div>')
        self.status = widgets.HTML()
        self.image = Picture(layout=widgets.Layout(max_width="100%"))
        self.messages: list[Message] = list(probe.messages) if probe is not None else []
        self.judgements: list = list(probe.judgements) if probe is not None else []
        self.figure: LayeredFigure | None = None
        self.render_ms = 0.0

    def __getattr__(self, name: str) -> Any:
        # Only reached when the view has no such attribute: the probe's field of that name.
        if name.startswith("_") or name == "probe":
            raise AttributeError(name)
        probe = self.__dict__.get("probe")
        if probe is None or not hasattr(probe, name):
            raise AttributeError(f"{type(self).__name__!r} has no attribute {name!r}")
        return getattr(probe, name)

    def alt_text(self) -> str:
        """The picture's alt text: what it shows, then the verdict."""
        shows = (self.picture or self.heading).rstrip(".")
        return f"{shows}. {self.verdict()}"

    def show_messages(self) -> None:
        self.status.value = _messages_html(self.messages)
        self.image.alt = self.alt_text()

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


class ModesViz(Visualizer):
    """A view with two runs (the student's own layers, the stand-ins), a toggle between them and a
    stepper whose length follows the run shown (the Sequential views).

    Subclasses call ``_start(runs, default, count)`` with each run's figure drawn, and define
    ``_show(position)``; a run needs ``messages`` and ``shapes``.

    Fields read by tests:
        mode_buttons: ToggleButtons between the runs' modes.
        figures: mode -> that run's LayeredFigure; ``panels`` the shown run's panels.
        stepper, stage, highlight, arithmetic, arithmetic_text: what the current step shows.
    """

    def __init__(self, probe: Probe) -> None:
        super().__init__(probe)
        self.arithmetic = widgets.HTML()
        self.arithmetic_text = ""
        self.stage = 0
        self.highlight: dict = {}
        self.figures: dict = {}
        self.panel_sets: dict = {}
        self.shown = None

    def _start(self, runs: dict, default: str, description: str) -> None:
        """Build the toggle and the stepper and show run ``default``."""
        for mode in runs:
            self.figures[mode].draw()  # draw the static layer now: switching modes is then quick
        self.runs_by_mode = runs
        self.mode_buttons = widgets.ToggleButtons(options=list(runs), value=default, description="layers:",
                                                  style={"button_width": "170px"})
        self.stepper = Stepper(len(runs[default].shapes) + 1, self._show, description=description, interval=1200)
        self.mode_buttons.observe(self._switch, names="value")
        self.children = [self.header, self.status, self.mode_buttons, self.image, self.stepper, self.arithmetic]
        self._activate(default)

    @property
    def panels(self) -> dict:
        """The shown run's panels, by name."""
        return self.panel_sets[self.shown.mode]

    def _activate(self, mode: str) -> None:
        self.shown = self.runs_by_mode[mode]
        self.figure = self.figures[mode]
        self.messages = list(self.shown.messages)
        self.show_messages()
        self.stepper.set_count(len(self.shown.shapes) + 1)  # the modes may have different numbers of layers

    @guarded
    def _switch(self, change: dict) -> None:
        self._activate(change["new"])

    def _say(self, text: str) -> None:
        """Show ``text`` under the picture and render."""
        self.arithmetic_text = text
        self.arithmetic.value = text_block(text)
        self.render()
