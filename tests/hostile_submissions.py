"""Hostile submissions for tests/test_hostile.py (not a test module itself).

Each case is one student: the released notebooks, the correct mytorch of
``examples/submissions/ada_correct`` (the reference solution), and then the
case's attack: a change to ``mytorch/*.py``, files added beside it, or
tampering with the notebooks. ``expected`` gives the exact score the student
deserves per question; ``messages`` gives, per question that fails, a phrase
its feedback must show.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from course_tools import ADA, ROOT

NN_KEYS = ("linear_forward", "relu_forward", "sequential_forward", "xeloss_forward",
           "xeloss_backward", "linear_backward", "relu_backward", "sequential_backward")
OPTIM_KEYS = ("sgd_step",)
ALL_KEYS = NN_KEYS + OPTIM_KEYS + ("training_accuracy",)
# Three tests of one point per question; the training check is one test of three points.
MAX_POINTS = {key: 3.0 for key in ALL_KEYS}

# Anchors in the correct nn.py: the last line of each method (code inserted before it runs on
# every call).
LINEAR_FORWARD = "        return x @ self.weight + self.bias\n"
LINEAR_BACKWARD = "        return grad @ self.weight.T\n"
RELU_FORWARD = "        return np.maximum(x, 0)\n"
RELU_BACKWARD = "        return grad * (self.x > 0)\n"
XELOSS_FORWARD = "        return float(-np.vdot(one_hot, log_probs) / n)\n"
# A marker that hostile code prints with whatever it managed to steal.
STOLEN = "STOLEN-BY-HOSTILE-CODE"


def scores(*zero: str) -> dict[str, float]:
    """Full marks except the named questions, which score zero."""
    unknown = set(zero) - set(ALL_KEYS)
    assert not unknown, unknown
    return {key: 0.0 if key in zero else MAX_POINTS[key] for key in ALL_KEYS}


@dataclass(frozen=True)
class Context:
    """What a case may need to know about the scratch course (to aim its attacks)."""

    course: Path
    submission: Path  # this student's submitted/<student>/mlp
    victim_pid: int  # a process outside the sandbox that must survive
    listener_port: int  # a TCP port on the host's loopback that must get no connection


@dataclass(frozen=True)
class Case:
    """One hostile (or honest) student."""

    name: str
    build: Callable[[Context], None]
    expected: dict[str, float]
    messages: dict[str, str] = field(default_factory=dict)
    what: str = ""


# --------------------------------------------------------------------------- helpers


def edit(ctx: Context, file: str, anchor: str, new: str) -> None:
    """Replace ``anchor`` (present exactly once) in mytorch/<file> by ``new``."""
    path = ctx.submission / "mytorch" / file
    text = path.read_text(encoding="utf-8")
    assert text.count(anchor) == 1, f"anchor {anchor.strip()!r} is not in {path} exactly once"
    path.write_text(text.replace(anchor, new), encoding="utf-8")


def before(ctx: Context, file: str, anchor: str, code: str) -> None:
    """Insert ``code`` (already indented for a method body) before ``anchor``."""
    edit(ctx, file, anchor, code + anchor)


def at_import(ctx: Context, file: str, code: str) -> None:
    """Run ``code`` when mytorch/<file> is imported (just after its own imports)."""
    edit(ctx, file, "import numpy as np\n", "import numpy as np\n" + code)


def notebook(ctx: Context, name: str) -> dict:
    return json.loads((ctx.submission / name).read_text(encoding="utf-8"))


def save_notebook(ctx: Context, name: str, nb: dict) -> None:
    (ctx.submission / name).write_text(json.dumps(nb, indent=1), encoding="utf-8")


def cell_index(nb: dict, grade_id: str) -> int:
    for i, cell in enumerate(nb["cells"]):
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
            return i
    raise KeyError(grade_id)


def code_cell(source: str, **nbgrader) -> dict:
    metadata = {"nbgrader": dict({"schema_version": 3, "grade": False, "solution": False, "locked": False,
                                  "task": False}, **nbgrader)} if nbgrader else {}
    return {"cell_type": "code", "execution_count": None, "metadata": metadata, "outputs": [],
            "source": source}


ZERO_FORWARD = "        return np.zeros((x.shape[0], self.weight.shape[1]), dtype=x.dtype)\n"


# --------------------------------------------------------------------------- the cases


def monkeypatch(ctx: Context) -> None:
    at_import(ctx, "nn.py", (
        "import builtins as _b, io as _io, sys as _s\n"
        "np.allclose = lambda *a, **k: True\n"
        "np.array_equal = lambda *a, **k: True\n"
        "np.testing.assert_allclose = lambda *a, **k: None\n"
        "_b.print = lambda *a, **k: None\n"
        "_s.stderr = _io.StringIO()\n"
        "_s.stdout = _io.StringIO()\n"))
    edit(ctx, "nn.py", LINEAR_FORWARD, ZERO_FORWARD)


def tamper(ctx: Context) -> None:
    """Everything a student can do to the notebooks: nbgrader still grades the gradebook's tests."""
    nb = notebook(ctx, "01_forward.ipynb")
    # A cell that redefines the test helpers, right after the setup cell.
    fake = ("def run_test(*args, **kwargs):\n    print('Passed')\n"
            "def check_training(*args, **kwargs):\n    print('Passed')\n")
    nb["cells"].insert(cell_index(nb, "setup") + 1, code_cell(fake))
    # Locked test cells edited: replaced by `pass`, by a fake pass, by a redefinition and a call.
    nb["cells"][cell_index(nb, "linear_forward_1")]["source"] = "pass"
    nb["cells"][cell_index(nb, "linear_forward_2")]["source"] = "print('Passed')"
    nb["cells"][cell_index(nb, "relu_forward_1")]["source"] = fake + "run_test('relu_forward', 1)"
    # A graded cell deleted, another duplicated.
    del nb["cells"][cell_index(nb, "linear_forward_3")]
    i = cell_index(nb, "relu_forward_2")
    nb["cells"].insert(i, json.loads(json.dumps(nb["cells"][i])))
    # Metadata changed: points inflated, a grade_id renamed, a test cell made ungraded.
    nb["cells"][cell_index(nb, "xeloss_forward_1")]["metadata"]["nbgrader"]["points"] = 100
    nb["cells"][cell_index(nb, "xeloss_forward_2")]["metadata"]["nbgrader"]["grade_id"] = "xeloss_forward_2_mine"
    nb["cells"][cell_index(nb, "xeloss_forward_3")]["metadata"]["nbgrader"]["grade"] = False
    # A brand-new graded cell worth many points.
    nb["cells"].append(code_cell("print('Passed')", grade=True, grade_id="bonus", points=50, locked=True))
    save_notebook(ctx, "01_forward.ipynb", nb)
    nb = notebook(ctx, "04_training.ipynb")
    i = cell_index(nb, "training_accuracy")
    nb["cells"][i]["source"] = "check_training(sizes=[64, 10], epochs=0, lr=0.1, batch_size=32, min_accuracy=0.0)"
    nb["cells"][i]["metadata"]["nbgrader"]["points"] = 30
    save_notebook(ctx, "04_training.ipynb", nb)


def tamper_wrong(ctx: Context) -> None:
    tamper(ctx)
    edit(ctx, "nn.py", LINEAR_FORWARD, ZERO_FORWARD)


SHADOW = "raise SystemExit('a shadow module ran: {name}')\n"


def shadow(ctx: Context) -> None:
    for name in ("numpy.py", "sitecustomize.py", "usercustomize.py", "assignment.py", "json.py"):
        (ctx.submission / name).write_text(SHADOW.format(name=name), encoding="utf-8")
    (ctx.submission / "x.pth").write_text("import os; os._exit(3)\n", encoding="utf-8")
    (ctx.submission / "mytorch" / "numpy.py").write_text(SHADOW.format(name="mytorch/numpy.py"), encoding="utf-8")
    (ctx.submission / "mytorch" / "x.pth").write_text("import os; os._exit(3)\n", encoding="utf-8")
    (ctx.submission / "numpy").mkdir()
    (ctx.submission / "numpy" / "__init__.py").write_text(SHADOW.format(name="numpy/"), encoding="utf-8")


def import_torch_nn(ctx: Context) -> None:
    at_import(ctx, "nn.py", "import torch\n")


def import_scipy_sklearn_nn(ctx: Context) -> None:
    at_import(ctx, "nn.py", ("from scipy.special import softmax as _softmax\n"
                             "import importlib\n_sk = importlib.import_module('sklearn')\n"))


def import_grader_nn(ctx: Context) -> None:
    """nn.py imports the course's own package (the grader's code): refused like any other package."""
    at_import(ctx, "nn.py", "from assignment.shared.questions import linear_forward as _q\n")


def import_torch_optim(ctx: Context) -> None:
    at_import(ctx, "optim.py", "import torch\n")


def no_mytorch(ctx: Context) -> None:
    shutil.rmtree(ctx.submission / "mytorch")
    # A correct mytorch elsewhere in the submission is not graded either.
    shutil.copytree(ADA, ctx.submission / "lib" / "mytorch")
    (ctx.submission / "mytorch.py").write_text("from lib.mytorch import *\n", encoding="utf-8")


def symlinked_mytorch(ctx: Context) -> None:
    """mytorch/ is a symlink to the course's reference: not the student's own work."""
    shutil.rmtree(ctx.submission / "mytorch")
    (ctx.submission / "mytorch").symlink_to(ctx.course / "mytorch", target_is_directory=True)


def borrow_reference(ctx: Context) -> None:
    """nn.py tries to load the reference at the course root (and other paths) instead of its own code."""
    at_import(ctx, "nn.py", (
        "import sys as _sys\n"
        f"for _p in [{str(ctx.course)!r}, {str(ROOT)!r}, {str(ADA.parent)!r}]:\n"
        "    _sys.path.insert(0, _p)\n"
        "_ref = None\n"
        f"for _f in [{str(ctx.course / 'mytorch' / 'nn.py')!r}, {str(ROOT / 'mytorch' / 'nn.py')!r}]:\n"
        "    try:\n"
        "        _ref = open(_f).read()\n"
        "        break\n"
        "    except OSError:\n"
        "        pass\n"))
    # Its own Linear.forward is a stub: it only works if the reference was found.
    edit(ctx, "nn.py", LINEAR_FORWARD,
         "        if _ref is None:\n            raise NotImplementedError('Question 1.1')\n"
         "        _ns = {}\n        exec(_ref, _ns)\n        layer = _ns['Linear'](*self.weight.shape)\n"
         "        layer.weight, layer.bias = self.weight, self.bias\n        return layer.forward(x)\n")


def loop_relu_forward(ctx: Context) -> None:
    before(ctx, "nn.py", RELU_FORWARD, "        while True:\n            pass\n")


def loop_swallowing(ctx: Context) -> None:
    before(ctx, "nn.py", LINEAR_BACKWARD, (
        "        while True:\n"
        "            try:\n"
        "                while True:\n"
        "                    pass\n"
        "            except BaseException:\n"
        "                pass\n"))


def loop_at_import(ctx: Context) -> None:
    at_import(ctx, "nn.py", "while True:\n    pass\n")


def sys_exit_at_import(ctx: Context) -> None:
    at_import(ctx, "nn.py", "import sys\nsys.exit(0)\n")


def os_exit_at_import(ctx: Context) -> None:
    at_import(ctx, "nn.py", "import os\nos._exit(0)\n")


def kill_at_import(ctx: Context) -> None:
    at_import(ctx, "nn.py", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")


def raise_at_import(ctx: Context) -> None:
    at_import(ctx, "nn.py", "raise RuntimeError('nn.py refuses to be imported')\n")


def raise_at_import_optim(ctx: Context) -> None:
    at_import(ctx, "optim.py", "raise RuntimeError('optim.py refuses to be imported')\n")


def memory_array(ctx: Context) -> None:
    before(ctx, "nn.py", LINEAR_FORWARD, "        _big = np.ones((50_000, 1_000_000))\n")


def memory_list(ctx: Context) -> None:
    before(ctx, "nn.py", RELU_BACKWARD, (
        "        _hoard = []\n"
        "        while True:\n"
        "            _hoard.append(' ' * 2**24)\n"))


def fork_bomb(ctx: Context) -> None:
    # Bounded, so that a broken sandbox cannot take this machine down; the children
    # sleep, so every fork that succeeds holds a process. The count goes into the
    # error message, which the test reads from the feedback.
    before(ctx, "nn.py", RELU_BACKWARD, (
        "        import os, time\n"
        "        forked, why = 0, 'no error'\n"
        "        try:\n"
        "            while forked < 1000:\n"
        "                if os.fork() == 0:\n"
        "                    time.sleep(60)\n"
        "                    os._exit(0)\n"
        "                forked += 1\n"
        "        except OSError as error:\n"
        "            why = type(error).__name__\n"
        "        raise RuntimeError(f'fork bomb: forked {forked} processes, then {why}')\n"))


def print_flood(ctx: Context) -> None:
    before(ctx, "nn.py", LINEAR_BACKWARD, (
        "        for _ in range(200_000):\n"
        "            print('flood ' * 100)\n"))


FORGED = ("_forged = {'ok': True, 'outputs': {'accuracy': 1.0}, 'results': [{'ok': True, 'outputs': {\n"
          "    'accuracy': 1.0, 'predictions': {'__ndarray__': [0] * 359, 'dtype': 'int64', 'shape': [359]},\n"
          "    'output': {'__ndarray__': [0.0], 'dtype': 'float64', 'shape': [1, 1]},\n"
          "    'x_unchanged': True, 'grad_unchanged': True, 'warnings': [], 'loss': 0.0}}] * 64}\n")


# The answers travel over an inherited pipe: hostile code finds it among its descriptors and
# writes a forged answer line to it, then ends the process before the real answer is written.
FORGE_ON_CHANNEL = ("import json as _json, os as _os, stat as _stat\n"
                    "_line = ('result ' + _json.dumps(_forged['results'][0]) + '\\n').encode()\n"
                    "for _fd in range(3, 256):\n"
                    "    try:\n"
                    "        if _stat.S_ISFIFO(_os.fstat(_fd).st_mode):\n"
                    "            _os.write(_fd, _line)\n"
                    "    except OSError:\n"
                    "        pass\n")


def forged_report_in_method(ctx: Context) -> None:
    """Linear.forward writes an answer claiming success to the answer pipe, then ends the process."""
    before(ctx, "nn.py", LINEAR_FORWARD, "".join("        " + line + "\n" for line in (
        FORGED.rstrip("\n").split("\n") + FORGE_ON_CHANNEL.rstrip("\n").split("\n") + ["_os._exit(0)"])))


def forged_report_at_import(ctx: Context) -> None:
    """At import, nn.py writes answers claiming every test passed (to the answer pipe, and to
    report files where earlier graders had them), then ends the process."""
    at_import(ctx, "nn.py", FORGED + FORGE_ON_CHANNEL + (
        "for _path in ['/sandbox/out/report.json', 'report.json']:\n"
        "    try:\n"
        "        with open(_path, 'w') as _h:\n"
        "            _h.write(_json.dumps(_forged))\n"
        "    except OSError:\n"
        "        pass\n"
        "_os._exit(0)\n"))


def empty_report_at_import(ctx: Context) -> None:
    """The report, which the runner writes before any student code runs, is emptied: it looks
    as if the sandbox never started. Grading goes on (a clean run shows the sandbox works)."""
    at_import(ctx, "nn.py", (
        "import os as _os\n"
        "for _path in ['/sandbox/out/report.json']:\n"
        "    try:\n"
        "        open(_path, 'w').close()\n"
        "        _os.remove(_path)\n"
        "    except OSError:\n"
        "        pass\n"
        "_os._exit(0)\n"))


def peek_expected(ctx: Context) -> None:
    """Linear.forward returns the expected answer it finds in its caller's frames."""
    edit(ctx, "nn.py", LINEAR_FORWARD, (
        "        import sys\n"
        "        frame = sys._getframe(1)\n"
        "        while frame is not None:\n"
        "            case = frame.f_locals.get('case')\n"
        "            if isinstance(case, dict) and 'expected' in case:\n"
        "                return np.array(case['expected'], dtype=x.dtype)\n"
        "            frame = frame.f_back\n"
        "        return np.zeros((x.shape[0], self.weight.shape[1]), dtype=x.dtype)\n"))


def fake_accuracy(ctx: Context) -> None:
    """At import, nn.py rigs the training check from inside the sandbox (the grader's modules are
    in sys.modules already, so no import statement betrays it): the accuracy is 1.0 and the
    predictions are the data set's test labels. SGD.step does nothing, so nothing is learnt."""
    at_import(ctx, "nn.py", (
        "import sys as _sys\n"
        "_t, _tc = _sys.modules.get('assignment.shared.training'), _sys.modules.get('assignment.shared.questions.training_accuracy')\n"
        "_data = _sys.modules.get('assignment.shared.data')\n"
        "if _t and _tc and _data:\n"
        "    _labels = lambda *a, **k: _data.load_digits().y_test\n"
        "    _t.accuracy = _tc.accuracy = _tc.accuracy_of_parameters = lambda *a, **k: 1.0\n"
        "    _t.predict = _tc.predict = lambda model, x, *a, **k: _labels()\n"))
    # Training cannot work: SGD never moves the weights.
    edit(ctx, "optim.py", "                layer.weight = layer.weight - self.lr * layer.grad_weight\n",
         "                layer.weight = layer.weight\n")
    edit(ctx, "optim.py", "                layer.bias = layer.bias - self.lr * layer.grad_bias\n",
         "                layer.bias = layer.bias\n")


def steal(ctx: Context, targets: list[Path], writes: list[Path], deletes: list[Path]) -> None:
    """nn.py tries, at import, to read, write and delete course files, reach the network and
    kill a process outside; whatever succeeds is reported through Linear.forward's error."""
    code = f"""
import os as _os, socket as _socket, signal as _signal, shutil as _shutil
_STOLEN = []
for _p in {[str(p) for p in targets]!r}:
    try:
        if _os.path.isdir(_p):
            _STOLEN.append(('listed', _p, sorted(_os.listdir(_p))))
        else:
            with open(_p, 'rb') as _h:
                _STOLEN.append(('read', _p, _h.read(400)))
    except Exception:
        pass
for _p in {[str(p) for p in writes]!r}:
    try:
        with open(_p, 'a') as _h:
            _h.write('written by hostile code\\n')
        _STOLEN.append(('wrote', _p))
    except Exception:
        pass
for _p in {[str(p) for p in deletes]!r}:
    try:
        if _os.path.isdir(_p):
            _shutil.rmtree(_p)
        else:
            _os.remove(_p)
        _STOLEN.append(('deleted', _p))
    except Exception:
        pass
for _address in [('127.0.0.1', {ctx.listener_port}), ('1.1.1.1', 53), ('8.8.8.8', 53)]:
    try:
        _socket.create_connection(_address, timeout=1).close()
        _STOLEN.append(('connected', _address))
    except Exception:
        pass
try:
    _os.kill({ctx.victim_pid}, _signal.SIGKILL)
    _STOLEN.append(('killed', {ctx.victim_pid}))
except Exception:
    pass
"""
    at_import(ctx, "nn.py", code)
    # The marker is assembled at run time, so that it is not in the file's own text (which
    # nbgrader copies into autograded/): finding it anywhere means something was stolen.
    head, tail = STOLEN[:6], STOLEN[6:]
    before(ctx, "nn.py", LINEAR_FORWARD,
           f"        if _STOLEN:\n            raise RuntimeError({head!r} + {tail!r} + repr(_STOLEN))\n")


def malformed_notebooks(ctx: Context) -> None:
    (ctx.submission / "01_forward.ipynb").write_text('{"cells": [ this is not json', encoding="utf-8")
    nb = notebook(ctx, "02_backward.ipynb")
    for cell in nb["cells"]:
        if "nbgrader" in cell.get("metadata", {}):
            cell["metadata"]["nbgrader"]["schema_version"] = 99
    save_notebook(ctx, "02_backward.ipynb", nb)
    (ctx.submission / "03_step.ipynb").write_text("", encoding="utf-8")
    (ctx.submission / "04_training.ipynb").unlink()


def symlinked_notebooks(ctx: Context) -> None:
    """Notebooks that are symbolic links to another student's notebook and to the source notebook
    (hidden tests included): read as unreadable, the released notebook stands in."""
    (ctx.submission / "01_forward.ipynb").unlink()
    (ctx.submission / "01_forward.ipynb").symlink_to(
        ctx.course / "submitted" / "ada_correct" / "mlp" / "01_forward.ipynb")
    (ctx.submission / "02_backward.ipynb").unlink()
    (ctx.submission / "02_backward.ipynb").symlink_to(ctx.course / "source" / "mlp" / "02_backward.ipynb")
