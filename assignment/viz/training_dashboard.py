"""Training dashboard (04_training): the student's MLP learning the digits, live:
loss and accuracy curves, a progress bar, the confusion matrix, misclassified
digits and the first layer's weights as 8x8 images."""

from __future__ import annotations

import time
from typing import Any

import ipywidgets as widgets
import numpy as np

from assignment import checks
from assignment.viz import _safe
from assignment.viz._controls import Picture, RangeSlider
from assignment.viz._base import Visualizer, guarded, level_of, safely
from assignment.viz._plots import MISMATCH, FastText, LayeredFigure, new_figure
from assignment.viz.sequential_forward import layer_name

__all__ = ["TrainingDashboard", "training_dashboard"]

GALLERY = 12  # misclassified digits shown
UNITS = 16  # first-layer units shown
REFRESH_S = 0.3  # at most one redraw of the curves per this many seconds while training

_DATA = None


def _digits():
    """The digits, loaded once per process."""
    global _DATA
    if _DATA is None:
        from assignment.data import load_digits

        _DATA = load_digits()
    return _DATA


def _montage(tiles: list, rows: int, cols: int, gap: int = 2) -> np.ndarray:
    """8x8 tiles in a rows x cols grid; NaN in the gaps, the label rows and the empty places."""
    step_x, step_y = 8 + gap, 8 + gap + (1 if gap > 1 else 0)
    out = np.full((rows * step_y - gap, cols * step_x - gap), np.nan)
    for k, tile in enumerate(tiles[: rows * cols]):
        r, c = divmod(k, cols)
        out[r * step_y: r * step_y + 8, c * step_x: c * step_x + 8] = tile
    return out


def _grey_with_gaps():
    import matplotlib

    return matplotlib.colormaps["gray_r"].with_extremes(bad="white")


def _diverging_with_gaps():
    import matplotlib

    return matplotlib.colormaps["RdBu_r"].with_extremes(bad="white")


def _layers_with_parameters(model) -> list[tuple[int, Any]]:
    """(position from 1, layer) of every layer with a weight array: the Linear layers."""
    layers = _safe.attribute(model, "layers")
    return [(k, layer) for k, layer in enumerate(layers if isinstance(layers, (list, tuple)) else [], start=1)
            if isinstance(_safe.attribute(layer, "weight"), np.ndarray)]


def _fresh_zero_grads(model) -> dict[int, tuple]:
    """Give every Linear fresh zero gradients, as zero_grad does, and return them by layer
    position: a backward that never stores a layer's gradients leaves these very arrays, all
    zeros (one that adds to them or writes into them changes their values)."""
    fresh = {}
    for k, layer in _layers_with_parameters(model):
        try:
            layer.grad_weight = np.zeros_like(layer.weight)
            layer.grad_bias = np.zeros_like(layer.bias)
            fresh[k] = (layer.grad_weight, layer.grad_bias)
        except Exception:  # a student's class may refuse the attribute: then nothing to compare against
            pass
    return fresh


def _check_stored_grads(model, fresh: dict[int, tuple]) -> _safe.Outcome:
    """After backward, every Linear (every layer with a weight) holds grad_weight and grad_bias
    of its weight's and bias's shape as the tests judge it (``_safe.check_gradient``), other
    than the untouched zeros of ``fresh``."""
    for k, layer in _layers_with_parameters(model):
        for index, param_name in enumerate(("weight", "bias")):
            param = _safe.attribute(layer, param_name)
            if not isinstance(param, np.ndarray):
                break
            where = f"after Sequential.backward, layer {k} ({layer_name(layer, 'Linear')})"
            grad_name = "grad_" + param_name
            grad = _safe.attribute(layer, grad_name)
            untouched = k in fresh and grad is fresh[k][index] and not grad.any()
            if grad is None or untouched:
                return _safe.Outcome(False, None, _safe.NONE,
                                     f"{where} has no {grad_name}: its backward did not store one.")
            # The tests' rule for a gradient's shape (a flat grad_bias is fine), not a stricter one.
            stored = _safe.check_gradient(grad, f"{where}'s {grad_name}", param.shape, f"its {param_name}")
            if not stored.ok:
                return stored
    return _safe.Outcome(True)


class _Stop(Exception):
    """Raised from a training callback to stop training (the loss became NaN, ...)."""


def parse_hidden(text: str) -> tuple[int, ...]:
    """'64, 32' -> (64, 32); '' -> () (no hidden layer). Raises ValueError with a readable message."""
    parts = [p for p in text.replace(";", ",").replace(" ", ",").split(",") if p]
    try:
        sizes = tuple(int(p) for p in parts)
    except ValueError:
        raise ValueError(f"hidden sizes must be whole numbers separated by commas, e.g. 64, 32; received {text!r}")
    if any(s < 1 or s > 1024 for s in sizes):
        raise ValueError(f"each hidden size must lie between 1 and 1024; received {text!r}")
    return sizes


class TrainingDashboard(Visualizer):
    """Train the student's MLP on the digits and watch it learn.

    Nothing trains on construction unless ``autorun=True``.

    Fields read by tests:
        hidden_text, lr_slider, epochs_slider, batch_select: the controls.
        train_button: starts training with the controls' values (``train()`` does the same).
        progress: an IntProgress over all the mini-batch steps.
        history: the EpochStats of the last run; batch_losses: every mini-batch loss.
        confusion: the (10, 10) test confusion matrix (rows: true digit, columns: predicted).
        misclassified: indices of the test digits shown in the gallery.
        stopped: why the last run stopped early ("" if it did not).
        image / analysis_image: the curves and the analysis figures (PNG).
    """

    heading = "Training · your MLP learns the 8×8 digits"
    picture = ("Two plots: the training loss of every mini-batch with each epoch's mean, and the train and test "
               "accuracy after each epoch")
    analysis_picture = ("The test confusion matrix (rows: true digit, columns: predicted, counts written in the "
                        "cells), misclassified test digits labelled true → predicted, and the first layer's weights "
                        "of 16 units as 8×8 images")

    def __init__(self, nn, optim, *, hidden: tuple = (32,), lr: float = 0.2, epochs: int = 5, batch_size: int = 32,
                 seed: int = 0, autorun: bool = False) -> None:
        super().__init__()
        self.nn, self.optim, self.seed = nn, optim, int(seed)
        self.history: list = []
        self.batch_losses: list[float] = []
        self.confusion = np.zeros((10, 10), dtype=int)
        self.misclassified: list[int] = []
        self.stopped = ""
        self.model = None
        self.training_s = 0.0

        self.hidden_text = widgets.Text(value=", ".join(str(int(h)) for h in hidden), description="hidden:",
                                        placeholder="e.g. 64, 32", layout=widgets.Layout(width="220px"))
        self.lr_slider = RangeSlider(value=float(lr), min=-3, max=0.5, step=0.05, log=True,
                                     description="learning rate lr", readout_format="3g")
        self.epochs_slider = RangeSlider(value=int(epochs), min=1, max=50, step=1, description="epochs",
                                         readout_format="d")
        options = sorted({8, 16, 32, 64, 128, int(batch_size)})
        self.batch_select = widgets.Dropdown(options=options, value=int(batch_size), description="batch size:",
                                             layout=widgets.Layout(width="200px"))
        self.train_button = widgets.Button(description="Train", button_style="primary", icon="play",
                                           layout=widgets.Layout(width="110px"))
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="steps:",
                                            tooltip="training progress, in mini-batch steps",
                                            layout=widgets.Layout(width="420px"))
        self.progress_text = widgets.HTML()
        self.analysis_image = Picture(layout=widgets.Layout(max_width="100%"))
        self.train_button.on_click(lambda _button: self.train())

        self._build_curves()
        self._build_analysis()
        self.note("info", "Choose the sizes and press Train: your Linear, ReLU, Sequential, CrossEntropyLoss "
                  "and SGD train an MLP on 1438 digits and are tested on 359 others.")
        self.show_messages()
        self.render()
        self.analysis_image.value = self.analysis.png()
        self.analysis_image.alt = f"{self.analysis_picture}: they fill in after the first epoch of training."
        controls = widgets.VBox([
            widgets.HBox([self.hidden_text, self.batch_select, self.train_button]),
            widgets.HBox([self.lr_slider, self.epochs_slider]),
            widgets.HBox([self.progress, self.progress_text]),
        ])
        self.children = [self.header, controls, self.status, self.image, self.analysis_image]
        if autorun:
            self.train()

    # -- figures ---------------------------------------------------------------
    def _build_curves(self) -> None:
        fig = new_figure(9.0, 2.7)
        self.figure = LayeredFigure(fig)
        f = self.figure
        ax_loss = fig.add_axes((0.07, 0.2, 0.4, 0.68))
        ax_acc = fig.add_axes((0.57, 0.2, 0.4, 0.68))
        ax_loss.set_title("training loss (your CrossEntropyLoss)", fontsize=9)
        ax_loss.set_xlabel("mini-batch step", fontsize=8)
        ax_acc.set_title("accuracy after each epoch", fontsize=9)
        ax_acc.set_xlabel("epoch", fontsize=8)
        for ax in (ax_loss, ax_acc):
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
        ax_loss.set_xlim(0, 1)
        ax_loss.set_ylim(0, 2.6)
        ax_acc.set_xlim(0.5, 1.5)
        ax_acc.set_ylim(0, 1.02)
        (self._batch_line,) = ax_loss.plot([], [], color="#ff7f0e", lw=0.7, alpha=0.45, label="each mini-batch")
        (self._epoch_line,) = ax_loss.plot([], [], "o-", color="#d62728", lw=1.8, ms=3.5, label="epoch mean")
        (self._train_line,) = ax_acc.plot([], [], "o-", color="#1f77b4", lw=1.6, ms=3.5, label="train")
        (self._test_line,) = ax_acc.plot([], [], "s-", color="#2ca02c", lw=1.6, ms=3.5, label="test")
        for artist in (self._batch_line, self._epoch_line, self._train_line, self._test_line):
            f.value(artist)
        ax_loss.legend(loc="upper right", fontsize=7, frameon=False)
        ax_acc.legend(loc="lower right", fontsize=7, frameon=False)
        self._acc_text = FastText(0.03, 0.08, "", fontsize=8, ha="left", va="center", transform=ax_acc.transAxes)
        ax_acc.add_artist(self._acc_text)
        f.value(self._acc_text)
        self.ax_loss, self.ax_acc = ax_loss, ax_acc

    def _build_analysis(self) -> None:
        fig = new_figure(9.0, 3.3)
        self.analysis = LayeredFigure(fig)
        a = self.analysis
        ax = fig.add_axes((0.045, 0.12, 0.26, 0.72))
        self._confusion_image = a.value(ax.imshow(np.zeros((10, 10)), cmap="Blues", vmin=0, vmax=1))
        ax.set_xticks(range(10))
        ax.set_yticks(range(10))
        ax.tick_params(labelsize=6.5, length=0)
        ax.set_xlabel("predicted", fontsize=8)
        ax.set_ylabel("true digit", fontsize=8)
        ax.set_title("test confusion matrix", fontsize=9)
        self._confusion_texts = [[a.value(self._text(ax, j, i, 6)) for j in range(10)] for i in range(10)]
        # Each gallery is one image (a montage of 8x8 tiles with NaN gaps): one draw instead of one per digit.
        fig.text(0.52, 0.93, "misclassified test digits (true → predicted)", fontsize=9, ha="center")
        gx = fig.add_axes((0.345, 0.12, 0.36, 0.76))
        gx.set_axis_off()
        self._gallery_image = a.value(gx.imshow(_montage([], 3, 4), cmap=_grey_with_gaps(), vmin=0, vmax=1,
                                                interpolation="nearest"))
        self._gallery_labels = []
        for k in range(GALLERY):
            row, col = divmod(k, 4)
            label = FastText(col * 10 + 3.5, row * 11 - 0.4, "", fontsize=7.5, ha="center", va="bottom",
                             color=MISMATCH)
            gx.add_artist(label)
            self._gallery_labels.append(a.value(label))
        gx.set_xlim(-0.5, 4 * 10 - 2.5)
        gx.set_ylim(3 * 11 - 3.5, -2.5)
        fig.text(0.85, 0.93, "first-layer weights, one unit each", fontsize=9, ha="center")
        ux = fig.add_axes((0.725, 0.06, 0.26, 0.78))
        ux.set_axis_off()
        self._units_image = a.value(ux.imshow(_montage([], 4, 4, gap=1), cmap=_diverging_with_gaps(), vmin=-1,
                                              vmax=1, interpolation="nearest"))
        self._analysis_note = a.value(fig.text(0.52, 0.05, "these views fill in after the first epoch of training",
                                               fontsize=8, ha="center", color="#777777"))

    @staticmethod
    def _text(ax, x, y, size):
        text = FastText(x, y, "", fontsize=size, ha="center", va="center")
        ax.add_artist(text)
        return text

    # -- training ---------------------------------------------------------------
    def _settings(self) -> tuple | None:
        try:
            hidden = parse_hidden(self.hidden_text.value)
        except ValueError as error:
            self.messages = []
            self.note("error", str(error), _safe.ERROR)
            self.show_messages()
            return None
        return hidden, float(self.lr_slider.value), int(self.epochs_slider.value), int(self.batch_select.value)

    def _preflight(self, model, data) -> _safe.Outcome:
        """One mini-batch through the student's pieces, each checked, before the real loop."""
        x, y = data.x_train[:4], data.y_train[:4]
        forward = _safe.call("Sequential.forward", _safe.method(model, "forward"), x)
        if forward.ok:
            forward = _safe.check_array(forward.value, "Sequential.forward", (4, 10), shape_hint="(N, 10 classes)")
        if not forward.ok:
            return forward
        loss_function = _safe.construct(self.nn, "CrossEntropyLoss", label="CrossEntropyLoss()")
        if not loss_function.ok:
            return loss_function
        loss = _safe.call("CrossEntropyLoss.forward", _safe.method(loss_function.value, "forward"), forward.value, y)
        if loss.ok:
            loss = _safe.check_number(loss.value, "CrossEntropyLoss.forward", what="one number")
        if not loss.ok:
            return loss
        # Whatever backward returns is fine (None, when the first layer is a Linear): SGD uses the
        # gradients it leaves in the layers, so those are what is checked.
        fresh = _fresh_zero_grads(model)
        back = _safe.call("Sequential.backward", _safe.method(model, "backward"), loss_function.value)
        if not back.ok:
            return back
        stored = _check_stored_grads(model, fresh)
        if not stored.ok:
            return stored
        optimizer = _safe.call("optim.SGD(model, lr)", _safe.attribute(self.optim, "SGD"), model, lr=0.1)
        if not optimizer.ok:
            return optimizer
        first = _safe.attribute(_safe.attribute(model, "layers", [None])[0], "weight")
        before = np.array(first, copy=True) if isinstance(first, np.ndarray) else None
        step = _safe.call("SGD.step", _safe.method(optimizer.value, "step"))
        if not step.ok:
            return step
        after = _safe.attribute(_safe.attribute(model, "layers", [None])[0], "weight")
        if before is not None and isinstance(after, np.ndarray) and np.array_equal(before, after):
            return _safe.Outcome(False, None, _safe.MISMATCH, "SGD.step did not change the first layer's weight, "
                                 "so nothing would learn.")
        return _safe.Outcome(True)

    @guarded
    def train(self) -> None:
        """Train a fresh MLP with the controls' settings, updating the figures as it goes."""
        settings = self._settings()
        if settings is None:
            return
        hidden, lr, epochs, batch_size = settings
        from assignment.training import build_mlp, train

        data = _digits()
        sizes = (data.num_features, *hidden, data.num_classes)
        self.messages = []
        self.history, self.batch_losses, self.stopped = [], [], ""
        self.train_button.disabled = True
        try:
            built = _safe.call("building the MLP (Linear, ReLU, Sequential)", build_mlp, self.nn, sizes, seed=self.seed)
            if built.ok:
                checked = self._preflight(built.value, data)
                if not checked.ok:
                    self.note(level_of(checked.kind), "Cannot train yet: " + checked.message, checked.kind)
                    self.show_messages()
                    return
                built = _safe.call("building the MLP (Linear, ReLU, Sequential)", build_mlp, self.nn, sizes,
                                   seed=self.seed)
            if not built.ok:
                self.note(level_of(built.kind), "Cannot train yet: " + built.message, built.kind)
                self.show_messages()
                return
            self.model = built.value
            self._run(data, sizes, lr, epochs, batch_size, train)
        finally:
            self.train_button.disabled = False

    def _run(self, data, sizes, lr, epochs, batch_size, train) -> None:
        steps_per_epoch = -(-len(data.x_train) // batch_size)
        total = epochs * steps_per_epoch
        self.progress.max = total
        self.progress.value = 0
        self.progress_text.value = ""
        self.ax_loss.set_xlim(0, total)
        self.ax_loss.set_ylim(0, 2.6)
        self.ax_acc.set_xlim(0.5, epochs + 0.5)
        self.ax_acc.set_xticks(range(1, epochs + 1) if epochs <= 12 else range(1, epochs + 1, max(1, epochs // 10)))
        self.figure.static_changed()
        self._set_curves()
        self.note("info", f"Training {' → '.join(str(s) for s in sizes)} with lr = {lr:.3g}, "
                  f"batch size {batch_size}, "
                  f"{epochs} epoch{'s' if epochs > 1 else ''}...")
        self.show_messages()
        self.render()
        last_draw = [time.perf_counter()]

        def on_batch(epoch: int, batch: int, loss: float) -> None:
            loss = float(loss)
            self.batch_losses.append(loss)
            self.progress.value = len(self.batch_losses)
            if not np.isfinite(loss):
                raise _Stop(checks.divergence(loss, epoch, batch + 1))
            if time.perf_counter() - last_draw[0] > REFRESH_S:
                self._set_curves()
                self.render()
                last_draw[0] = time.perf_counter()

        def on_epoch(stats) -> None:
            self.history.append(stats)
            self.progress_text.value = (f"&nbsp;epoch {stats.epoch}/{epochs}: loss {stats.train_loss:.3f}, "
                                        f"test accuracy {stats.test_accuracy:.1%}")
            self._set_curves()
            self.render()
            self._set_analysis(data)
            last_draw[0] = time.perf_counter()

        start = time.perf_counter()
        kind = _safe.OK
        try:
            with np.errstate(all="ignore"):
                train(self.model, data, self.nn, self.optim, epochs=epochs, lr=lr, batch_size=batch_size,
                      seed=self.seed, on_batch=on_batch, on_epoch=on_epoch)
        except _Stop as stop:
            kind, self.stopped = _safe.NAN, str(stop) + "."
        except (Exception, KeyboardInterrupt, SystemExit) as error:  # noqa: BLE001 - student code inside
            # Name the student's function the exception came from, e.g. "Linear.backward".
            kind, self.stopped = _safe.describe_exception(_safe.student_function(error) or "training", error)
        self.training_s = time.perf_counter() - start
        self.messages = [m for m in self.messages if not m.text.startswith("Training ")]
        if self.stopped:
            self.note("error", "Training stopped: " + self.stopped, kind)
        if self.history:
            last = self.history[-1]
            self.note("ok" if last.test_accuracy > 0.5 else "warn",
                      f"After {last.epoch} epoch{'s' if last.epoch > 1 else ''} ({self.training_s:.1f} s): "
                      f"train accuracy {last.train_accuracy:.1%}, test accuracy {last.test_accuracy:.1%}.")
            chance = checks.chance_level(last.test_accuracy, data.num_classes)
            if chance and not self.stopped:
                self.note("error", chance[0].upper() + chance[1:] + ".", _safe.MISMATCH)
        self.show_messages()
        self._set_curves()
        self.render()
        if self.history:
            self._set_analysis(data)

    # -- drawing -------------------------------------------------------------------
    def _set_curves(self) -> None:
        losses = np.asarray(self.batch_losses, dtype=float)
        steps = np.arange(1, len(losses) + 1)
        self._batch_line.set_data(steps, losses)
        if self.history:
            per_epoch = len(losses) / max(len(self.history), 1)
            ends = [min(len(losses), round((k + 1) * per_epoch)) for k in range(len(self.history))]
            self._epoch_line.set_data(ends, [s.train_loss for s in self.history])
            epochs = [s.epoch for s in self.history]
            self._train_line.set_data(epochs, [s.train_accuracy for s in self.history])
            self._test_line.set_data(epochs, [s.test_accuracy for s in self.history])
            last = self.history[-1]
            self._acc_text.set_text(f"test {last.test_accuracy:.1%}   train {last.train_accuracy:.1%}")
        else:
            for line in (self._epoch_line, self._train_line, self._test_line):
                line.set_data([], [])
            self._acc_text.set_text("")
        finite = losses[np.isfinite(losses)]
        top = self.ax_loss.get_ylim()[1]
        if finite.size and finite.max() > top:
            self.ax_loss.set_ylim(0, min(float(finite.max()) * 1.1, 1e4))
            self.figure.static_changed()
        self.figure.values_changed()

    def _set_analysis(self, data) -> None:
        from assignment.training import predict

        predicted = _safe.call("Sequential.forward", predict, self.model, data.x_test)
        if not predicted.ok:
            self._analysis_note.set_text(predicted.message)
            self.analysis.values_changed()
            self.analysis_image.value = self.analysis.png()
            self.analysis_image.alt = f"{self.analysis_picture}. Verdict: ✘ empty: {_safe.clause(predicted.message)}."
            return
        truth = data.y_test
        guess = predicted.value
        self.confusion = np.zeros((10, 10), dtype=int)
        np.add.at(self.confusion, (truth, guess), 1)
        rows = np.maximum(self.confusion.sum(axis=1, keepdims=True), 1)
        self._confusion_image.set_data(self.confusion / rows)
        for i in range(10):
            for j in range(10):
                count = self.confusion[i, j]
                text = self._confusion_texts[i][j]
                text.set_text(str(count) if count else "")
                text.set_color("white" if count / rows[i, 0] > 0.5 else "black")
        wrong = np.flatnonzero(guess != truth)
        self.misclassified = [int(k) for k in wrong[:GALLERY]]
        tiles = [data.x_test[index].reshape(8, 8) for index in self.misclassified]
        self._gallery_image.set_data(_montage(tiles, 3, 4))
        for k, label in enumerate(self._gallery_labels):
            if k < len(self.misclassified):
                index = self.misclassified[k]
                label.set_text(f"{truth[index]} → {guess[index]}")
            else:
                label.set_text("")
        weight = _safe.attribute(_safe.attribute(self.model, "layers", [None])[0], "weight")
        if isinstance(weight, np.ndarray) and weight.ndim == 2 and weight.shape[0] == 64:
            scale = float(np.max(np.abs(weight))) or 1.0
            units = [weight[:, k].reshape(8, 8) / scale for k in range(min(UNITS, weight.shape[1]))]
            self._units_image.set_data(_montage(units, 4, 4, gap=1))
        self._analysis_note.set_text(f"{len(wrong)} of {len(truth)} test digits misclassified"
                                     + (f"; the first {len(self.misclassified)} shown" if len(wrong) else ""))
        self.analysis.values_changed()
        self.analysis_image.value = self.analysis.png()
        worst = np.argsort(np.diag(self.confusion) / np.maximum(self.confusion.sum(axis=1), 1))[0]
        right = len(truth) - len(wrong)
        symbol = "✔" if right / len(truth) > 0.5 else "✘"
        self.analysis_image.alt = (f"{self.analysis_picture}. Verdict: {symbol} {right} of {len(truth)} test digits "
                                   f"classified right, {len(wrong)} misclassified; the digit recognised least often "
                                   f"is {worst}.")


def training_dashboard(nn, optim, *, hidden: tuple = (32,), lr: float = 0.2, epochs: int = 5, batch_size: int = 32,
                       seed: int = 0, autorun: bool = False) -> widgets.Widget:
    """The training dashboard: ``viz.training_dashboard(nn, optim)``.

    Args:
        nn, optim: the student's ``mytorch.nn`` and ``mytorch.optim`` modules.
        hidden: hidden layer widths (the controls start with these values).
        lr, epochs, batch_size: the training settings the controls start with.
        seed: seed of the weights and of the shuffling.
        autorun: train once right away (for Run All); otherwise nothing trains until Train is pressed.

    Returns:
        A ``TrainingDashboard`` (an ``ipywidgets.VBox``); never raises.
    """
    return safely("training_dashboard", TrainingDashboard, nn, optim, hidden=hidden, lr=lr, epochs=epochs,
                  batch_size=batch_size, seed=seed, autorun=autorun)
