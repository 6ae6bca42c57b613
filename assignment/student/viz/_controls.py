"""Accessible widgets: a picture with alt text, a named stepper and a named slider.

ipywidgets 8 renders an ``Image`` as an ``<img>`` without ``alt``, its ``Play``
as three icon-only buttons, and a slider's handle without a name (its
description label is not tied to it): a screen reader hears "button, button,
button, slider". These three widgets (anywidget, so no front-end build) render
plain HTML elements instead: an ``<img alt=...>``, ``<button>``s with visible
text and an ``aria-label`` (``aria-pressed`` for the two toggles), and an
``<input type="range">`` with an ``aria-label`` and its value as
``aria-valuetext``. Native elements work by keyboard alone: Tab reaches them,
Enter or Space presses a button, the arrow keys move a slider.

The kernel owns the logic: a button press arrives as a message
(``{"event": "press", "button": "next"}``) and is handled by :meth:`Steps.press`,
which the tests call directly, as the front end does.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import anywidget
import traitlets

__all__ = ["Picture", "Steps", "RangeSlider", "BUTTONS"]

_STYLE = """
.mt-row { display: flex; flex-wrap: wrap; align-items: center; gap: 4px; margin: 2px 0; }
.mt-row button { font-size: 13px; padding: 2px 10px; min-height: 28px; cursor: pointer;
  border: 1px solid #8c8c8c; border-radius: 3px; background: #f3f3f3; color: #1a1a1a; }
.mt-row button[aria-pressed="true"] { background: #d6e4f5; border-color: #1f4e79; }
.mt-row button:focus-visible, .mt-row input:focus-visible { outline: 3px solid #1f4e79; outline-offset: 1px; }
.mt-row label { font-size: 13px; margin-left: 8px; }
.mt-row input[type=range] { width: 260px; }
.mt-row output { font-size: 13px; font-family: monospace; min-width: 4em; }
"""

# name -> (visible text, accessible name); Play and Repeat are toggles (aria-pressed).
BUTTONS = {
    "play": ("▶ Play", "Play: step through the positions automatically"),
    "stop": ("■ Stop", "Stop playing and go back to the first position"),
    "repeat": ("↻ Repeat", "Repeat: start again after the last position while playing"),
    "prev": ("◀ Prev", "Previous position"),
    "next": ("Next ▶", "Next position"),
    "reset": ("Reset", "Reset to the first position"),
}


# The keyboard handling of every range slider the controls draw (shared by their _esm scripts).
_SLIDER_KEYS_JS = """
    const KEYS = { ArrowRight: 1, ArrowUp: 1, ArrowLeft: -1, ArrowDown: -1, PageUp: 5, PageDown: -5 };
    // JupyterLab's shortcut handling cancels the arrow keys' default action on a range input,
    // so the slider moves itself (and cancels the default, so that it never moves twice).
    function keys(slider) {
      slider.addEventListener("keydown", (e) => {
        if (!(e.key in KEYS) && e.key !== "Home" && e.key !== "End") return;
        const step = Number(slider.step) || 1, lo = Number(slider.min), hi = Number(slider.max);
        let v = Number(slider.value) + (KEYS[e.key] || 0) * step;
        if (e.key === "Home") v = lo;
        if (e.key === "End") v = hi;
        slider.value = Number(Math.min(hi, Math.max(lo, v)).toFixed(6));
        slider.dispatchEvent(new Event("input"));
        e.preventDefault();
        e.stopPropagation();
      });
    }
    // A labelled range input and its readout at the end of row, in el; the keys are the control's.
    function sliderIn(row, el, model) {
      const label = document.createElement("label");
      const slider = document.createElement("input");
      slider.type = "range";
      const output = document.createElement("output");
      label.appendChild(document.createTextNode(model.get("description") + " "));
      label.appendChild(slider);
      row.appendChild(label);
      row.appendChild(output);
      el.appendChild(row);
      // Keys belong to the control (arrows move the slider), not to JupyterLab's shortcuts.
      el.setAttribute("data-lm-suppress-shortcuts", "true");
      return [slider, output];
    }
"""

class Picture(anywidget.AnyWidget):
    """A PNG shown as ``<img alt=...>``.

    Fields:
        value: the PNG bytes.
        alt: what the picture shows and its verdict, in words.
        format: always "png" (kept for the tests' and ipywidgets.Image's vocabulary).
    """

    _esm = """
    function render({ model, el }) {
      const img = document.createElement("img");
      img.className = "mt-picture";
      img.style.maxWidth = "100%";
      img.style.height = "auto";
      el.appendChild(img);
      let url = null;
      const draw = () => {
        const data = model.get("value");
        if (url) URL.revokeObjectURL(url);
        url = URL.createObjectURL(new Blob([data], { type: "image/png" }));
        img.src = url;
      };
      const describe = () => img.setAttribute("alt", model.get("alt"));
      draw(); describe();
      model.on("change:value", draw);
      model.on("change:alt", describe);
      return () => { if (url) URL.revokeObjectURL(url); };
    }
    export default { render };
    """
    value = traitlets.Bytes(b"").tag(sync=True)
    alt = traitlets.Unicode("").tag(sync=True)
    format = traitlets.Unicode("png").tag(sync=True)


class Steps(anywidget.AnyWidget):
    """Play / Stop / Repeat / Prev / Next / Reset buttons and a slider over ``count`` positions.

    Fields:
        value: the current position (0 to count - 1).
        count: how many positions there are.
        playing: whether Play is on (the front end sends a "tick" every ``interval`` ms).
        repeat: whether playing starts again after the last position.
        description: what a position is ("entry", "step"): the slider's visible label and name.
    """

    _esm = """
    const BUTTONS = %s;
    %s
    function render({ model, el }) {
      const row = document.createElement("div");
      row.className = "mt-row";
      row.setAttribute("role", "group");
      const buttons = {};
      for (const [name, [text, label]] of Object.entries(BUTTONS)) {
        const b = document.createElement("button");
        b.type = "button";
        b.textContent = text;
        b.setAttribute("aria-label", label);
        b.title = label;
        b.dataset.button = name;
        b.addEventListener("click", () => model.send({ event: "press", button: name }));
        row.appendChild(b);
        buttons[name] = b;
      }
      const [slider, output] = sliderIn(row, el, model);
      slider.min = 0;
      slider.step = 1;
      row.setAttribute("aria-label", "Stepper over the " + model.get("description") + " positions");
      keys(slider);
      slider.addEventListener("input", () => {
        model.set("value", Number(slider.value));
        model.save_changes();
      });
      let timer = null;
      const update = () => {
        const count = model.get("count"), value = model.get("value");
        slider.max = Math.max(count - 1, 0);
        slider.value = value;
        const text = model.get("description") + " " + (value + 1) + " of " + count;
        slider.setAttribute("aria-label", model.get("description") + " position");
        slider.setAttribute("aria-valuetext", text);
        output.textContent = (value + 1) + " / " + count;
        const playing = model.get("playing");
        buttons.play.textContent = playing ? "⏸ Pause" : "▶ Play";
        buttons.play.setAttribute("aria-label", playing ? "Pause" : BUTTONS.play[1]);
        buttons.play.setAttribute("aria-pressed", String(playing));
        buttons.repeat.setAttribute("aria-pressed", String(model.get("repeat")));
        if (playing && timer === null) {
          timer = setInterval(() => model.send({ event: "press", button: "tick" }), model.get("interval"));
        } else if (!playing && timer !== null) {
          clearInterval(timer);
          timer = null;
        }
      };
      update();
      model.on("change", update);
      return () => { if (timer !== null) clearInterval(timer); };
    }
    export default { render };
    """ % (str({name: list(texts) for name, texts in BUTTONS.items()}).replace("'", '"'), _SLIDER_KEYS_JS)
    _css = _STYLE
    value = traitlets.Int(0).tag(sync=True)
    count = traitlets.Int(1).tag(sync=True)
    playing = traitlets.Bool(False).tag(sync=True)
    repeat = traitlets.Bool(True).tag(sync=True)
    interval = traitlets.Int(900).tag(sync=True)
    description = traitlets.Unicode("entry").tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        #: called with the position when Reset is pressed at the position already shown
        self.on_same: Callable[[int], None] | None = None
        self.on_msg(self._message)

    def _message(self, _widget: Any, content: dict, _buffers: list) -> None:
        if isinstance(content, dict) and content.get("event") == "press":
            self.press(str(content.get("button")))

    def press(self, button: str) -> None:
        """What the front end's button ``button`` does (also "tick": Play's timer)."""
        count = max(int(self.count), 1)
        if button == "play":
            self.playing = not self.playing
        elif button == "stop":
            self.playing = False
            self._go(0)
        elif button == "repeat":
            self.repeat = not self.repeat
        elif button == "next":
            self._go((self.value + 1) % count)
        elif button == "prev":
            self._go((self.value - 1) % count)
        elif button == "reset":
            self.playing = False
            self._go(0, always=True)
        elif button == "tick" and self.playing:
            if self.value + 1 < count:
                self._go(self.value + 1)
            elif self.repeat:
                self._go(0)
            else:
                self.playing = False

    def _go(self, value: int, always: bool = False) -> None:
        """Move to ``value``; with ``always``, ``on_same`` is told even when the position does not change."""
        if value == self.value and always and self.on_same is not None:
            self.on_same(value)
        self.value = value


class RangeSlider(anywidget.AnyWidget):
    """A named slider (``<input type="range">``), linear or on a log10 scale.

    Fields:
        value: the value (for a log slider, the value itself, not its exponent).
        min, max, step: the range; for a log slider, of the exponent (as FloatLogSlider's).
        log: True for a log10 scale.
        description: the visible label and the accessible name.
        readout_format: how the value is written beside the slider ("3g": 3 significant digits,
            "1f": one decimal, "d": whole number).
    """

    _esm = _SLIDER_KEYS_JS + """
    function render({ model, el }) {
      const row = document.createElement("div");
      row.className = "mt-row";
      const [slider, output] = sliderIn(row, el, model);
      const log = () => model.get("log");
      const format = (v) => {
        const f = model.get("readout_format");
        if (f === "d") return String(Math.round(v));
        if (f.endsWith("f")) return v.toFixed(Number(f.slice(0, -1)));
        return Number(v.toPrecision(Number(f.slice(0, -1)) || 3)).toString();
      };
      keys(slider);
      slider.addEventListener("input", () => {
        const position = Number(slider.value);
        model.set("value", log() ? Math.pow(10, position) : position);
        model.save_changes();
      });
      const update = () => {
        slider.min = model.get("min");
        slider.max = model.get("max");
        slider.step = model.get("step");
        const value = model.get("value");
        slider.value = log() ? Math.log10(value) : value;
        output.textContent = format(value);
        slider.setAttribute("aria-label", model.get("description"));
        slider.setAttribute("aria-valuetext", model.get("description") + " " + format(value));
      };
      update();
      model.on("change", update);
    }
    export default { render };
    """
    _css = _STYLE
    value = traitlets.Float(0.0).tag(sync=True)
    min = traitlets.Float(0.0).tag(sync=True)
    max = traitlets.Float(1.0).tag(sync=True)
    step = traitlets.Float(0.1).tag(sync=True)
    log = traitlets.Bool(False).tag(sync=True)
    description = traitlets.Unicode("").tag(sync=True)
    readout_format = traitlets.Unicode("3g").tag(sync=True)

    @traitlets.validate("value")
    def _clip(self, proposal: dict) -> float:
        """Keep the value in range (on a log slider, 10**min to 10**max), as ipywidgets' sliders do."""
        value = float(proposal["value"])
        low, high = (10 ** self.min, 10 ** self.max) if self.log else (self.min, self.max)
        if math.isnan(value):
            return low
        return min(max(value, low), high)
