"""Hostile submissions of the judging kind for tests/test_hostile.py (not a test module itself).

Each entry is an hostile_submissions.Case; tests/test_hostile.py grades them in the
same one autograde run as every other hostile student.
"""

from __future__ import annotations

import hostile_submissions as hs

CASES: list[hs.Case] = []
