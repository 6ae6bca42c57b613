"""Helpers of the writer tests and benchmark (not a test module itself): a gradebook's whole content and an
autograded folder's files, in a form two gradings of the same class can be compared in.

- ``gradebook_dump(db_url)``: every row of every nbgrader table, each generated id (a 32-character
  uuid hex, different in every gradebook) replaced by what the row it names holds, recursively;
- ``folder_files(folder)``: relative path -> bytes of every file below ``folder``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

_UUID = re.compile(r"^[0-9a-f]{32}$")


def gradebook_dump(db_url: str) -> dict[str, list[tuple]]:
    """Every nbgrader table's rows (the alembic version included), comparable across gradebooks.

    Args:
        db_url: the gradebook (any SQLAlchemy URL nbgrader accepts).

    Returns:
        table name -> its rows, sorted; each row a tuple of (column, value) pairs in which a
        generated id, the row's own or one it refers to, is replaced by the natural content of the
        row it identifies (its table and non-id columns, and so on for that row's references).
        Student and course ids (names, not generated) are kept.
    """
    from nbgrader.api import Base
    from sqlalchemy import create_engine, inspect, select, text

    engine = create_engine(db_url)
    try:
        with engine.connect() as connection:
            rows: dict[str, list[dict[str, Any]]] = {}
            tables = {table.name: table for table in Base.metadata.sorted_tables}
            for name, table in tables.items():
                rows[name] = [dict(row._mapping) for row in connection.execute(select(table))]
            if "alembic_version" in inspect(engine).get_table_names():
                rows["alembic_version"] = [dict(row._mapping) for row in
                                           connection.execute(text("SELECT version_num FROM alembic_version"))]
    finally:
        engine.dispose()

    # id -> (table, row): uuids are unique across nbgrader's tables (new_uuid), and joined-inheritance
    # tables (grade_cells on base_cells...) share their parent's id: the natural form merges them.
    by_id: dict[str, list[tuple[str, dict]]] = {}
    for name, table_rows in rows.items():
        for row in table_rows:
            value = row.get("id")
            if isinstance(value, str) and _UUID.match(value):
                by_id.setdefault(value, []).append((name, row))
    memo: dict[str, tuple] = {}

    def natural_of_id(value: str) -> tuple:
        if value in memo:
            return memo[value]
        memo[value] = ("<cycle>",)
        parts = tuple(sorted((name, natural_row(row, skip_id=True)) for name, row in by_id.get(value, [])))
        memo[value] = parts if parts else ("<dangling id>",)
        return memo[value]

    def natural_value(value: Any) -> Any:
        if isinstance(value, str) and _UUID.match(value):
            return natural_of_id(value)
        return value

    def natural_row(row: dict, skip_id: bool = False) -> tuple:
        return tuple((column, natural_value(value)) for column, value in sorted(row.items())
                     if not (skip_id and column == "id" and isinstance(value, str) and _UUID.match(value)))

    return {name: sorted((natural_row(row) for row in table_rows), key=repr) for name, table_rows in rows.items()}


def folder_files(folder: Path) -> dict[str, bytes]:
    """Relative path -> content of every file below ``folder`` (links are not followed)."""
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*"))
            if path.is_file() and not path.is_symlink()}


def without_new_cell_ids(data: bytes, kept: set[str]) -> object:
    """A notebook file's JSON with the id of every cell not in ``kept`` replaced by "<new>".

    A cell put back at grading (a deleted test cell, a notice) is made with a random id
    (``nbformat.v4.new_code_cell``): two gradings of the same notebook, by the same code, give it
    different ids. Every other byte of the file is compared.
    """
    import json

    nb = json.loads(data)
    for cell in nb.get("cells", []):
        if cell.get("id") not in kept:
            cell["id"] = "<new>"
    return nb


def cell_ids(path: Path) -> set[str]:
    """The cell ids of a notebook file (none if it cannot be read)."""
    import json

    try:
        return {cell.get("id") for cell in json.loads(path.read_bytes()).get("cells", [])}
    except (OSError, ValueError):
        return set()


def differences(a: dict[str, list[tuple]], b: dict[str, list[tuple]], limit: int = 5) -> list[str]:
    """What differs between two ``gradebook_dump``s (for an assertion message)."""
    found = []
    for name in sorted(set(a) | set(b)):
        left, right = a.get(name, []), b.get(name, [])
        if left != right:
            only_left = [row for row in left if row not in right][:limit]
            only_right = [row for row in right if row not in left][:limit]
            found.append(f"{name}: {len(left)} vs {len(right)} rows; only in the first: {only_left}; "
                         f"only in the second: {only_right}")
    return found
