"""No surprise at grading: every mistake a hidden test catches can be seen before submitting.

For each bug of the catalogue (``test_source_cases.BUGS``: the reference with one
method's solution replaced by a classic mistake, each of which some hidden test
must catch) that fails a hidden test of its question, the mistake must show
before grading: in the question's visualizer (its verdict, the question's own
check on the view's case, is not a pass) or in the question's visible test 1.
The bugs are the catalogue's own definitions, planted by its own harness.
"""

from __future__ import annotations

import sys

import pytest

from assignment.student import viz
from assignment.shared.questions import question
from course_tools import evaluate
from test_source_cases import BUGS, BY_KEY, load_variant


@pytest.fixture(scope="module")
def variants(tmp_path_factory):
    folder = tmp_path_factory.mktemp("surprise_variants")
    sys.path.insert(0, str(folder))
    yield folder
    sys.path.remove(str(folder))


def view_of(key: str, nn, optim):
    """Question ``key``'s visualizer on these modules, as its notebook cell calls it."""
    if question(key).INFO.module.endswith("optim.py"):
        return getattr(viz, key)(nn, optim)
    return getattr(viz, key)(nn)


@pytest.mark.parametrize("b", BUGS, ids=lambda b: b.id)
def test_a_mistake_that_costs_a_hidden_point_shows_before_grading(b, variants):
    nn, optim = load_variant(variants, [b])
    visible, *hidden = BY_KEY[b.key]
    failing = [tc.grade_id for tc in hidden if evaluate(nn, optim, tc)]
    assert failing, f"{b.id} fails no hidden test (the catalogue's contract, see test_source_cases)"
    visible_problems = evaluate(nn, optim, visible)
    widget = view_of(b.key, nn, optim)
    assert type(widget).__name__ != "_Failed", widget.status_text
    shown_in_view = not widget.passed
    assert shown_in_view or visible_problems, (
        f"{b.id} fails {failing} at grading, yet passes visible test 1 and the {b.key} view says:\n"
        f"{widget.status_text}")
    if shown_in_view:
        # The view's verdict is the check's words, as the alt text of its picture carries them.
        assert widget.state != "ok", widget.status_text
        assert any(problem in widget.image.alt for problem in widget.problems), widget.image.alt


def test_the_views_pass_the_reference():
    """The other half: on the reference, every view's verdict is a pass (no false alarm)."""
    from mytorch import nn, optim

    for key in BY_KEY:
        widget = view_of(key, nn, optim)
        assert widget.passed, (key, widget.status_text)
        assert widget.state == "ok", (key, widget.status_text)
