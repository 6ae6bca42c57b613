"""From a probe to its view: the one place that imports a view (and so ipywidgets and matplotlib).

Every ``viz.<key>(nn, ...)`` is ``show(key, probe, nn, ...)``: the probe of ``viz/<key>.py``
runs the student's code and returns plain data; the view class of ``viz/views/<key>.py``
draws it. Nothing raises into the notebook: a failure of either becomes a widget saying so.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

__all__ = ["show"]


def show(key: str, view: str, probe: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``views.<key>.<view>(probe(*args, **kwargs))``, or a widget naming what failed.

    Args:
        key: the visualizer's module name (a question key or ``training_dashboard``).
        view: the view class's name in ``assignment/viz/views/<key>.py``.
        probe: the probe function; ``args`` and ``kwargs`` are passed to it.

    Returns:
        An ipywidgets widget; never raises.
    """
    try:
        found = probe(*args, **kwargs)
        return getattr(importlib.import_module(f"assignment.viz.views.{key}"), view)(found)
    except Exception as error:  # noqa: BLE001 - Run All must go on
        from assignment.viz._base import failed

        return failed(key, error)
