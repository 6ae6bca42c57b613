"""Hostile submissions of the judging kind for tests/test_hostile.py (not a test module itself).

Each entry is an hostile_submissions.Case; tests/test_hostile.py grades them in the
same one autograde run as every other hostile student.

They attack what the sandbox reports: an answer's structure (emptied or forged
lists), the Sequential stand-ins (replaying what they once carried), and the
training check (a classifier that is no trained MLP). Each would have scored
full marks on the question it attacks while the grader trusted the report's
structure, the stand-ins replayed stored answers, and the training check
scored predictions; each must now score zero there, and only there.
"""

from __future__ import annotations

import hostile_submissions as hs

Z = hs.scores
MALFORMED = "the report of this test is malformed"

SGD_INIT = "        self.layers = model.layers\n"
SGD_STEP_BODY = "                layer.weight = layer.weight - self.lr * layer.grad_weight\n"
SEQUENTIAL_FORWARD = "        for layer in self.layers:\n            x = layer.forward(x)\n        return x\n"
SEQUENTIAL_BACKWARD = "        grad = loss_function.backward()\n"


def sgd_empties_steps(ctx: hs.Context) -> None:
    """SGD.__init__ empties every list of steps it finds in its callers' frames (the case's, and
    the copy the grader's run() made), so no step is ever taken and nothing is compared;
    SGD.step itself is the stub as handed out."""
    hs.before(ctx, "optim.py", SGD_INIT, (
        "        import sys as _sys\n"
        "        _frame = _sys._getframe(1)\n"
        "        while _frame is not None:\n"
        "            _steps = _frame.f_locals.get('steps')\n"
        "            if isinstance(_steps, list):\n"
        "                _steps.clear()\n"
        "            _case = _frame.f_locals.get('case')\n"
        "            if isinstance(_case, dict) and isinstance(_case.get('steps'), list):\n"
        "                _case['steps'].clear()\n"
        "            _frame = _frame.f_back\n"))
    hs.edit(ctx, "optim.py", SGD_STEP_BODY, "                raise NotImplementedError('Question 3 (sgd_step)')\n")


def forged_empty_lists(ctx: hs.Context) -> None:
    """At import, optim.py replaces what the grader's modules report, inside the sandbox: SGD.step's
    run() reports no steps at all (and gradients and ReLUs untouched), the training check reports
    no trained layer. Nothing is left to compare, and SGD.step itself is the stub as handed out."""
    hs.at_import(ctx, "optim.py", (
        "import sys as _sys\n"
        "_q = _sys.modules.get('assignment.shared.questions.sgd_step')\n"
        "if _q is not None:\n"
        "    _q.run = lambda nn, optim, case: {'after': [], 'grads_unchanged': True, 'relu_untouched': True}\n"
        "_tc = _sys.modules.get('assignment.shared.questions.training_accuracy')\n"
        "if _tc is not None:\n"
        "    _tc.trained_parameters = lambda *args, **kwargs: []\n"))
    hs.edit(ctx, "optim.py", SGD_STEP_BODY, "                raise NotImplementedError('Question 3 (sgd_step)')\n")


def replay_sequential(ctx: hs.Context) -> None:
    """At import, nn.py replaces the run() of both Sequential questions by a replay: the stand-ins'
    stored activations and gradients when the case holds them (as the stand-ins once did), else
    a perfect call log with whatever it can make up. Its own Sequential is right (training works)."""
    hs.at_import(ctx, "nn.py", (
        "import sys as _sys\n"
        "def _replay(kind):\n"
        "    def run(nn, optim, case):\n"
        "        n = len(case['layers'])\n"
        "        if 'activations' in case or 'grads' in case:  # stand-ins that carried their answers\n"
        "            if kind == 'forward':\n"
        "                return {'output': np.array(case['activations'][-1]),\n"
        "                        'calls': [['forward', i, True] for i in range(n)]}\n"
        "            return {'calls': [['loss.backward', -1, True]] + [['backward', i, True] for i in reversed(range(n))]}\n"
        "        if kind == 'forward':\n"
        "            acts = case.get('activations') or [np.zeros((1, 1))] * (n + 1)\n"
        "            return {'output': np.array(acts[-1], dtype=float), 'calls': [['forward', i] for i in range(n)],\n"
        "                    'received': [[np.array(acts[i], dtype=float)] for i in range(n)]}\n"
        "        grads = case.get('grads') or [np.zeros((1, 1))] * (n + 1)\n"
        "        return {'calls': [['loss.backward', -1]] + [['backward', i] for i in reversed(range(n))],\n"
        "                'received': [[np.array(grads[i + 1], dtype=float)] for i in range(n)]}\n"
        "    return run\n"
        "for _kind in ('forward', 'backward'):\n"
        "    _q = _sys.modules.get('assignment.shared.questions.sequential_' + _kind)\n"
        "    if _q is not None:\n"
        "        _q.run = _replay(_kind)\n"))


def nearest_neighbour(ctx: hs.Context) -> None:
    """Sequential, on the digits (64 features), is a nearest-neighbour lookup over the training
    batches it has seen (their labels taken from the loss), and its backward trains nothing: the
    lookup classifies the test images almost perfectly with no MLP at all. Elsewhere (the
    stand-in tests) Sequential is right."""
    hs.at_import(ctx, "nn.py", "_MEMORY = {'x': [], 'y': [], 'last': None}\n")
    hs.edit(ctx, "nn.py", SEQUENTIAL_FORWARD, (
        "        if x.ndim == 2 and x.shape[1] == 64:\n"
        "            _MEMORY['last'] = x\n"
        "            scores = np.zeros((len(x), 10), dtype=x.dtype)\n"
        "            if _MEMORY['x']:\n"
        "                seen, labels = np.concatenate(_MEMORY['x']), np.concatenate(_MEMORY['y'])\n"
        "                distance = (seen ** 2).sum(axis=1)[None, :] - 2 * x @ seen.T\n"
        "                scores[np.arange(len(x)), labels[np.argmin(distance, axis=1)]] = 10.0\n"
        "            return scores\n"
        + SEQUENTIAL_FORWARD))
    hs.before(ctx, "nn.py", SEQUENTIAL_BACKWARD, (
        "        if _MEMORY['last'] is not None and getattr(loss_function, 'one_hot', None) is not None:\n"
        "            if sum(len(seen) for seen in _MEMORY['x']) < 1500:\n"
        "                _MEMORY['x'].append(_MEMORY['last'])\n"
        "                _MEMORY['y'].append(np.argmax(loss_function.one_hot, axis=1))\n"
        "            _MEMORY['last'] = None\n"
        "            return None\n"))


CASES: list[hs.Case] = [
    hs.Case("sgd_empties_steps", sgd_empties_steps, Z("sgd_step", "training_accuracy"),
            {"sgd_step": MALFORMED, "training_accuracy": "not implemented"},
            "SGD.__init__ empties the case's steps (and run()'s copy) in its callers' frames; SGD.step a stub"),
    hs.Case("forged_empty_lists", forged_empty_lists, Z("sgd_step", "training_accuracy"),
            {"sgd_step": MALFORMED, "training_accuracy": MALFORMED},
            "optim.py makes sgd_step's run() and the training check report empty lists"),
    hs.Case("replay_sequential", replay_sequential, Z("sequential_forward", "sequential_backward"),
            {"sequential_forward": "did not receive the network's input x",
             "sequential_backward": "did not receive"},
            "nn.py patches both Sequential questions' run() to replay stored answers with a perfect call log"),
    hs.Case("nearest_neighbour", nearest_neighbour, Z("training_accuracy"),
            {"training_accuracy": "test accuracy; at least 90% is expected"},
            "Sequential is a nearest-neighbour lookup on the digits and trains nothing (no MLP learns)"),
]
