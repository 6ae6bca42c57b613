"""Visualizers of the mytorch course: one per question, on the student's own code.

Each function takes the student's modules and returns an ipywidgets widget::

    from assignment.student import viz
    viz.linear_forward(nn)

Each visualizer is a pure probe and a thin view: ``viz/<key>.py`` holds ``probe(nn, ...)``
(student modules in, plain data out: the question's verdict, arrays, marks, status lines; no
ipywidgets or matplotlib) and the function above, which draws the probe's data with the view
of ``viz/views/<key>.py`` (imported only then).

Nothing here holds a solution: expected values come from definitions the
notebooks state (a row times a column plus a bias, max(x, 0), the mean of
-log p) or from central finite differences of the student's own forward pass.
"""

from assignment.shared.questions import KEYS
from assignment.student.viz.linear_backward import linear_backward
from assignment.student.viz.linear_forward import linear_forward
from assignment.student.viz.relu_backward import relu_backward
from assignment.student.viz.relu_forward import relu_forward
from assignment.student.viz.sequential_backward import sequential_backward
from assignment.student.viz.sequential_forward import sequential_forward
from assignment.student.viz.sgd_step import sgd_step
from assignment.student.viz.training_dashboard import training_dashboard
from assignment.student.viz.xeloss_backward import xeloss_backward
from assignment.student.viz.xeloss_forward import xeloss_forward

__all__ = [*KEYS, "training_dashboard"]  # one visualizer per question, then the dashboard
