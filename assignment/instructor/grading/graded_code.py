"""Each question's graded code, shown beside its tests in the autograded notebook and the feedback.

Autograde runs a question's tests on one method of the student's ``mytorch/*.py``
(``Linear.forward`` for 1.1...; the training check on all nine). So that the
instructor in formgrader and the student in their feedback see what was graded
without opening ``submitted/``, each question's ``<key>_graded_code`` cell (a
locked, ungraded code cell after the question's tests) gets one output: that
method's source, as the grader read it, with its file and line numbers.

The text comes from what the grader already holds (``policy.Submission``, the
decoded ``mytorch/*.py`` taken in safely by ``intake``): no submitted file is
opened again. A file that does not parse (a syntax error, nesting too deep for
the parser), a missing file, class or method, or an untouched stub gives a short
note instead of, or beside, the code; nothing here raises. What is shown is the
student's text made inert: every control or invisible character (ANSI escapes,
right-to-left overrides) appears as its escape, lines and methods are cut at a
length, and the HTML form escapes everything, so that neither formgrader nor
the feedback page can be made to run a script.

The output is a ``display_data`` (``text/html`` and ``text/plain``): nbgrader
scores a test cell by its error outputs and ``execute_result`` only, and these
cells are not graded anyway, so scores are unaffected.
"""

from __future__ import annotations

import ast
import html
from dataclasses import dataclass, field
from typing import Iterable

from nbformat import NotebookNode
from nbgrader.api import (Assignment, Grade, Gradebook, MissingEntry, Notebook, Student, SubmittedAssignment,
                          SubmittedNotebook, TaskCell)
from nbformat.v4 import new_code_cell, new_output

from assignment.instructor.grading.text import utf8_safe
from assignment.shared.questions import GRADED_KEYS, KEYS, TRAINING_KEY, key_of, question

GRADED_CODE = "_graded_code"  # suffix of the grade_id of a question's graded-code cell
MAX_LINE_CHARS = 200  # a line longer than this is cut (the rest is counted)
MAX_METHOD_LINES = 80  # a method longer than this is cut (the reference's longest has about 30)
MAX_CALLS_LISTED = 8  # helpers of the same file a method calls, named at most


@dataclass
class Excerpt:
    """One graded method as found in the submission.

    Fields:
        method: "Class.method", e.g. "Linear.forward".
        module: the file that should define it, e.g. "mytorch/nn.py".
        first_line: the line number of ``lines[0]`` in the file, or None when nothing is shown.
        lines: the lines to show, already made safe (``shown_line``).
        notes: what the reader should know (not found, a syntax error, a stub, why it scores zero...).
        around_error: the lines shown are those around a syntax error, not the method.
    """

    method: str
    module: str
    first_line: int | None = None
    lines: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    around_error: bool = False


def graded_code_id(key: str) -> str:
    """The grade_id of question ``key``'s graded-code cell ("linear_forward" -> "linear_forward_graded_code")."""
    return key + GRADED_CODE


def graded_methods(key: str) -> list[tuple[str, str]]:
    """(method, file) pairs that question ``key``'s tests run; the training check runs all nine.

    Args:
        key: a question key, or ``TRAINING_KEY``.

    Returns:
        [("Linear.forward", "mytorch/nn.py")] for "linear_forward"; the nine methods, in
        question order, for the training check.
    """
    keys = KEYS if key == TRAINING_KEY else (key,)
    return [(question(k).INFO.method, question(k).INFO.module) for k in keys]


def shown_line(line: str) -> str:
    """``line`` made safe to show: control and invisible characters as escapes, cut at ``MAX_LINE_CHARS``.

    A tab stays (it is layout); an ANSI escape (``\\x1b``), a carriage return or a
    right-to-left override would otherwise recolour, overwrite or reorder what the
    reader sees, so each is written as its escape.
    """
    head = utf8_safe(line[:MAX_LINE_CHARS])
    shown = "".join(char if char.isprintable() or char == "\t" else _escape(char) for char in head)
    if len(line) > MAX_LINE_CHARS:
        shown += f" ... ({len(line) - MAX_LINE_CHARS} more characters)"
    return shown


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


class _Parsed:
    """A file's lines and its syntax tree, or why there is no tree (parsed once per submission)."""

    def __init__(self, source: str) -> None:
        # decode_source has made every line end with "\n"; the text after the last one is no line
        self.lines = source.split("\n")[:-1] if source.endswith("\n") else source.split("\n")
        self.tree: ast.Module | None = None
        self.problem: str | None = None
        self.error_line: int | None = None
        try:
            self.tree = ast.parse(source)
        except SyntaxError as error:
            self.error_line = error.lineno
            where = f" at line {error.lineno}" if error.lineno else ""
            self.problem = f"does not parse (a syntax error{where}), so no method can be picked out of it"
        except (MemoryError, RecursionError):
            self.problem = "is nested too deeply for Python to parse, so no method can be picked out of it"
        except Exception as error:  # noqa: BLE001 (null bytes and the like: a note, never a failed run)
            self.problem = f"cannot be parsed ({type(error).__name__}), so no method can be picked out of it"


def excerpt(submission, method: str, module: str, parsed: dict[str, _Parsed] | None = None) -> Excerpt:
    """Find ``method`` in the submission's ``module`` and say what there is to say about it.

    Args:
        submission: the ``policy.Submission`` being graded (its decoded files and problems).
        method: "Class.method".
        module: "mytorch/<file>.py".
        parsed: a cache of parsed files, shared by the calls for one submission.

    Returns:
        The excerpt: the method's lines, or only notes when it cannot be shown. Never raises.
    """
    found = Excerpt(method, module)
    name = module.rsplit("/", 1)[-1]
    problem = submission.problem_for(module)
    source = None if submission.missing else submission.files.get(name)
    if source is None:
        found.notes.append(problem or f"{module} could not be read")
        return found
    cache = parsed if parsed is not None else {}
    if name not in cache:
        cache[name] = _Parsed(source)
    file = cache[name]
    try:
        _locate(file, found)
    except Exception as error:  # noqa: BLE001 (a deep tree or a surprise: a note, never a failed run)
        found.first_line, found.lines = None, []
        found.notes.append(f"{method} could not be picked out of {module} ({type(error).__name__})")
    if problem:
        found.notes.append(f"These tests score zero: {problem}.")
    return found


def _locate(file: _Parsed, found: Excerpt) -> None:
    """Fill ``found`` with the method's lines and notes, from ``file``'s tree (or its error)."""
    class_name, method_name = found.method.split(".")
    if file.tree is None:
        found.notes.append(f"{found.module} {file.problem}.")
        if file.error_line:  # the lines around the error, which is what there is to grade
            start = max(1, file.error_line - 3)
            _show(file, found, start, min(len(file.lines), file.error_line + 3))
            found.around_error = bool(found.lines)
        return
    top = file.tree.body
    classes = [node for node in top if isinstance(node, ast.ClassDef) and node.name == class_name]
    if not classes:
        found.notes.append(f"{found.module} defines no class {class_name} at its top level.")
        return
    cls = classes[-1]  # Python keeps the last definition of a name
    members = [node for node in cls.body if _defines(node, method_name)]
    if not members:
        found.notes.append(f"class {class_name} (line {cls.lineno}) has no method {method_name}.")
        return
    node = members[-1]
    start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    _show(file, found, start, node.end_lineno or node.lineno)
    if len(classes) > 1 or len(members) > 1:
        found.notes.append(f"{found.method} is defined more than once; this is the last definition, "
                           "the one Python uses.")
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        found.notes.append(f"{found.method} is not written with def here: it is bound by this statement.")
        return
    stub = _raises_not_implemented(node)
    if stub:
        found.notes.append(f"It still raises NotImplementedError (line {stub}): the stub as handed out.")
    for later in top[top.index(cls) + 1:]:
        if _replaces(later, class_name, method_name):
            found.notes.append(f"Line {later.lineno} replaces {found.method} after the class: that is the "
                               "code that ran.")
    calls = _calls(node, top, cls)
    if calls:
        shown = ", ".join(calls[:MAX_CALLS_LISTED]) + (" ..." if len(calls) > MAX_CALLS_LISTED else "")
        found.notes.append(f"It calls, from the same file: {shown}.")


def _show(file: _Parsed, found: Excerpt, first: int, last: int) -> None:
    lines = file.lines[first - 1: last]
    found.first_line = first
    found.lines = [shown_line(line) for line in lines[:MAX_METHOD_LINES]]
    if len(lines) > MAX_METHOD_LINES:
        found.notes.append(f"Only its first {MAX_METHOD_LINES} of {len(lines)} lines are shown.")


def _defines(node: ast.stmt, name: str) -> bool:
    """Whether a class-body statement binds ``name`` (a def, or an assignment to the name)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return node.name == name
    targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
        node, (ast.AnnAssign, ast.AugAssign)) else []
    return any(isinstance(t, ast.Name) and t.id == name for t in targets)


def _replaces(node: ast.stmt, class_name: str, method_name: str) -> bool:
    """Whether a top-level statement assigns ``Class.method`` (``Linear.forward = other``)."""
    targets = node.targets if isinstance(node, ast.Assign) else []
    return any(isinstance(t, ast.Attribute) and t.attr == method_name and isinstance(t.value, ast.Name)
               and t.value.id == class_name for t in targets)


def _raises_not_implemented(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int | None:
    """The line of a ``raise NotImplementedError`` among the method's own statements, if any."""
    for stmt in node.body:
        if isinstance(stmt, ast.Raise) and stmt.exc is not None:
            exc = stmt.exc.func if isinstance(stmt.exc, ast.Call) else stmt.exc
            if isinstance(exc, ast.Name) and exc.id == "NotImplementedError":
                return stmt.lineno
    return None


def _calls(node: ast.AST, top: list[ast.stmt], cls: ast.ClassDef) -> list[str]:
    """The same file's functions (``helper()``) and the class's methods (``self.helper()``) that
    ``node`` calls, each once, with the line it is defined at."""
    functions = {n.name: n.lineno for n in top if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    methods = {n.name: n.lineno for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    named: list[str] = []
    for call in ast.walk(node):  # iterative: a parsed tree of any depth is walked safely
        if not isinstance(call, ast.Call):
            continue
        func = call.func
        if isinstance(func, ast.Name) and func.id in functions:
            label = f"{func.id} (line {functions[func.id]})"
        elif (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "self"
              and func.attr in methods):
            label = f"self.{func.attr} (line {methods[func.attr]})"
        else:
            continue
        if label not in named:
            named.append(label)
    return named


def excerpts(key: str, submission, parsed: dict[str, _Parsed] | None = None) -> list[Excerpt]:
    """The excerpts of every method question ``key`` grades (see ``graded_methods``)."""
    cache = parsed if parsed is not None else {}
    return [excerpt(submission, method, module, cache) for method, module in graded_methods(key)]


def _title(key: str) -> str:
    if key == TRAINING_KEY:
        return ("Graded code of the training check: it trains an MLP built from all of these methods, "
                "as the grader read them")
    info = question(key).INFO
    return f"Graded code of Question {info.number} ({info.method}): what its tests ran, as the grader read it"


def _where(item: Excerpt) -> str:
    if item.first_line is None or not item.lines:
        return f"{item.method} in {item.module}"
    last = item.first_line + len(item.lines) - 1
    if item.around_error:
        return f"{item.method} in {item.module}: not found; lines {item.first_line}-{last}, around the syntax error"
    return f"{item.method} in {item.module}, lines {item.first_line}-{last}"


def _numbered(item: Excerpt) -> list[str]:
    width = len(str(item.first_line + len(item.lines))) if item.first_line else 1
    return [f"{item.first_line + i:>{width}}  {line}" for i, line in enumerate(item.lines)]


def render(key: str, items: Iterable[Excerpt]) -> NotebookNode:
    """One ``display_data`` output showing ``items``: ``text/plain``, and ``text/html`` with every
    piece of submitted text escaped (``<pre>`` for the code).

    Args:
        key: the question key (or ``TRAINING_KEY``), for the title.
        items: the excerpts, in the order shown.
    """
    items = list(items)
    plain = [_title(key) + ".", ""]
    parts = [f"<p><b>{html.escape(_title(key))}.</b></p>"]
    for item in items:
        plain.append(_where(item) + ":")
        parts.append(f"<p><code>{html.escape(_where(item))}</code></p>")
        if item.lines:
            numbered = _numbered(item)
            plain += numbered
            parts.append('<pre style="border-left: 3px solid #888; padding-left: 0.6em; overflow-x: auto">'
                         + html.escape("\n".join(numbered)) + "</pre>")
        for note in item.notes:
            shown = shown_line(note)
            plain.append(f"  Note: {shown}")
            parts.append(f"<p><i>Note:</i> {html.escape(shown)}</p>")
        plain.append("")
    return new_output("display_data", data={"text/plain": "\n".join(plain).rstrip() + "\n",
                                            "text/html": '<div class="mytorch-graded-code">' + "\n".join(parts)
                                                         + "</div>"})


def render_safely(key: str, submission, parsed: dict[str, _Parsed] | None = None) -> NotebookNode:
    """``render(key, excerpts(...))``, or a one-line note should anything at all go wrong: showing
    the code must never cost a student their grading."""
    try:
        return render(key, excerpts(key, submission, parsed))
    except Exception as error:  # noqa: BLE001
        text = f"The graded code could not be shown ({type(error).__name__})."
        return new_output("display_data", data={"text/plain": text + "\n", "text/html": f"<p>{html.escape(text)}</p>"})


def _key_of(grade_id: str) -> str | None:
    """The question key of a graded-code cell's grade_id, or None for any other cell."""
    if not isinstance(grade_id, str) or not grade_id.endswith(GRADED_CODE):
        return None
    key = grade_id[: -len(GRADED_CODE)]
    return key if key in GRADED_KEYS else None


def _test_ids(key: str) -> set[str]:
    info = question(key).INFO
    return {info.grade_id(n) for n in range(1, info.tests + 1)}


def show_graded_code(nb: NotebookNode, submission, notebook_keys: Iterable[str],
                     parsed: dict[str, _Parsed] | None = None) -> dict[str, NotebookNode]:
    """Give every graded-code cell of ``nb`` its output; put back the cell of a question whose tests
    are in ``nb`` but whose graded-code cell the student deleted (after that question's last test).

    Args:
        nb: the notebook being autograded (changed in place).
        submission: the ``policy.Submission`` being graded.
        notebook_keys: the question keys (or ``TRAINING_KEY``) whose tests this notebook holds,
            from the gradebook (not from the student's notebook).
        parsed: the submission's files parsed so far, by module (filled in here; pass the same dict
            for the same submission's other notebooks to parse each file once). None: a new one.

    Returns:
        grade_id of each graded-code cell -> the output it was given.
    """
    parsed = {} if parsed is None else parsed
    shown: dict[str, NotebookNode] = {}
    present = {_key_of(_grade_id(cell)) for cell in nb.cells if cell.cell_type == "code"} - {None}
    for key in [k for k in GRADED_KEYS if k in set(notebook_keys) - present]:
        tests = [i for i, cell in enumerate(nb.cells) if _grade_id(cell) in _test_ids(key)]
        if tests:
            nb.cells.insert(tests[-1] + 1, new_code_cell(
                f"# The graded code of {'the training check' if key == TRAINING_KEY else 'this question'} "
                "(this cell was missing from the submission and was put back at grading).",
                metadata={"nbgrader": {"grade_id": graded_code_id(key), "grade": False, "solution": False,
                                       "locked": True, "schema_version": 3}}))
    for cell in nb.cells:
        key = _key_of(_grade_id(cell))
        if cell.cell_type == "code" and key is not None and graded_code_id(key) not in shown:
            shown[graded_code_id(key)] = render_safely(key, submission, parsed)
    return shown


def _grade_id(cell) -> str | None:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta.get("grade_id") if isinstance(meta, dict) else None


def question_of_test(grade_id: str) -> str | None:
    """The question key (or ``TRAINING_KEY``) of a test cell's grade_id ("sgd_step_2" -> "sgd_step")."""
    key = key_of(grade_id) if isinstance(grade_id, str) else None
    return key if key is not None and grade_id in _test_ids(key) else None


COMMENTS = "_comments"  # suffix of the grade_id of a question's comment cell (a 0-point task cell)


def settle_comment_cells(db_url: str, notebook: str, assignment: str, student: str,
                         zero_point_tasks: list[str] | None = None) -> int:
    """Mark the 0-point task cells (the comment boxes) of a submitted notebook as graded: score 0.

    nbgrader creates every task cell's grade with no score and "needs manual grade", so
    formgrader would flag every submission until someone typed 0 into ten boxes. These
    cells carry no points (their only use is the comment), so their automatic score is 0
    and no flag is raised; a score or a comment the instructor saves later is kept
    (a grade that already has a manual score is left as it is). Task cells worth points
    are left to nbgrader: they do need a person.

    Args:
        db_url: the gradebook.
        notebook, assignment, student: the submitted notebook being autograded.
        zero_point_tasks: the names of the notebook's 0-point task cells, already read in this run
            (``run_cache``): their grades are then read in one query. None: read the notebook's task
            cells, and each grade, from the gradebook now.

    Returns:
        How many grades were settled.
    """
    settled = 0
    with Gradebook(db_url) as gb:
        if zero_point_tasks is None:
            try:
                source = gb.find_notebook(notebook, assignment)
            except MissingEntry:
                return 0
            grades = []
            for cell in source.task_cells:
                if float(cell.max_score or 0.0) != 0.0:
                    continue
                try:
                    grades.append(gb.find_grade(cell.name, notebook, assignment, student))
                except MissingEntry:
                    continue
        else:
            grades = _task_grades(gb, zero_point_tasks, notebook, assignment, student) if zero_point_tasks else []
        for grade in grades:
            if grade.manual_score is None and grade.auto_score is None:
                grade.auto_score = 0.0
                grade.needs_manual_grade = False
                settled += 1
        gb.db.commit()
    return settled


def _task_grades(gb: Gradebook, names: list[str], notebook: str, assignment: str, student: str) -> list:
    """The grades of the task cells ``names`` in ``student``'s ``notebook`` of ``assignment``, in one query
    (``Gradebook.find_grade``'s joins; a name without a grade is left out, as find_grade's MissingEntry is)."""
    return (gb.db.query(Grade)
            .join(TaskCell, TaskCell.id == Grade.cell_id)
            .join(SubmittedNotebook, SubmittedNotebook.id == Grade.notebook_id)
            .join(Notebook, Notebook.id == SubmittedNotebook.notebook_id)
            .join(SubmittedAssignment, SubmittedAssignment.id == SubmittedNotebook.assignment_id)
            .join(Assignment, Assignment.id == SubmittedAssignment.assignment_id)
            .join(Student, Student.id == SubmittedAssignment.student_id)
            .filter(TaskCell.name.in_(names), Notebook.name == notebook, Assignment.name == assignment,
                    Student.id == student)
            .all())
