"""From a probe to its view: the one place that imports a view (and so ipywidgets and matplotlib).

Every ``viz.<key>(nn, ...)`` is ``show(key, probe, nn, ...)``: the probe of ``viz/<key>.py``
runs the student's code and returns plain data; the view class of ``viz/views/<key>.py``
draws it. Nothing raises into the notebook: a failure of either becomes a widget saying so.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any, Callable

__all__ = ["show", "entry"]


def show(key: str, view: str, probe: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``views.<key>.<view>(probe(*args, **kwargs))``, or a widget naming what failed.

    Args:
        key: the visualizer's module name (a question key or ``training_dashboard``).
        view: the view class's name in ``assignment/student/viz/views/<key>.py``.
        probe: the probe function; ``args`` and ``kwargs`` are passed to it.

    Returns:
        An ipywidgets widget; never raises.
    """
    try:
        found = probe(*args, **kwargs)
        return getattr(importlib.import_module(f"assignment.student.viz.views.{key}"), view)(found)
    except Exception as error:  # noqa: BLE001 - Run All must go on
        from assignment.student.viz._base import failed

        return failed(key, error)


def entry(key: str, view: str, probe: Callable[..., Any], takes_optim: bool, what: str) -> Callable[..., Any]:
    """The public ``viz.<key>``: ``probe``'s arguments (without ``optim`` for a question of nn.py), shown.

    Args:
        key, view: as for ``show``.
        probe: the probe function; its signature and its Args are the visualizer's.
        takes_optim: whether the visualizer is called with the student's optim too.
        what: what it visualizes, e.g. "the student's ``Linear.forward``".

    Returns:
        A function ``(nn[, optim], **keywords) -> widget`` that never raises.
    """
    signature = inspect.signature(probe)
    kept = [p for name, p in signature.parameters.items() if takes_optim or name != "optim"]
    call = "nn, optim" if takes_optim else "nn"

    def visualizer(*args: Any, **kwargs: Any) -> Any:
        return show(key, view, probe, *args, **kwargs)

    visualizer.__name__ = visualizer.__qualname__ = key
    visualizer.__module__ = probe.__module__
    visualizer.__signature__ = signature.replace(parameters=kept, return_annotation=Any)
    args = (probe.__doc__ or "").split("Args:", 1)[-1].split("Returns:", 1)[0].rstrip()
    args = args.replace("; ``optim`` is not used", "")
    visualizer.__doc__ = (f"Visualize {what}: ``viz.{key}({call})``.\n\n    Args:{args}\n\n    Returns:\n"
                          f"        A ``{view}`` (an ``ipywidgets.VBox``); never raises.\n    ")
    return visualizer
