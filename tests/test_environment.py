"""The conda environment and pyproject.toml pin the same course dependencies."""

from __future__ import annotations

import re
import tomllib

from course_tools import ROOT


def _pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {}
    for requirement in project["dependencies"]:
        name, version = requirement.split("==")
        pins[name.lower()] = version
    return pins


def _conda_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "environment.yml").read_text().splitlines():
        match = re.fullmatch(r"\s*-\s*([A-Za-z0-9_.-]+)=([0-9][^\s#]*)\s*(#.*)?", line)
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def test_every_dependency_is_pinned_exactly():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"]:
        assert "==" in requirement, f"{requirement} is not pinned"


def test_conda_environment_matches_pyproject():
    conda = _conda_pins()
    conda.pop("python", None)
    assert conda == _pyproject_pins()


def test_the_reference_solution_is_never_packaged():
    text = (ROOT / "pyproject.toml").read_text()
    assert 'include = ["assignment*"]' in text
    assert "mytorch" not in tomllib.loads(text)["tool"]["setuptools"]["packages"]["find"]["include"]
