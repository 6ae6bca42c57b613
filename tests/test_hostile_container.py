"""The whole hostile suite of tests/test_hostile.py again, graded inside a simulated default container (tests/container_sim.py: namespaces refused by seccomp, /proc masked), where auto must pick Landlock.

Every assertion is test_hostile's own, so the scores, messages and isolation
guarantees must be exactly the same as with bubblewrap.
"""

import pytest

import test_hostile
from test_hostile import *  # noqa: F401,F403 (the same tests, collected here against this module's graded)


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> test_hostile.Graded:
    return test_hostile.grade_class(tmp_path_factory, "container")
