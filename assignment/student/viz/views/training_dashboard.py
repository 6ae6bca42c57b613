"""The view of the training dashboard: live loss and accuracy curves, a progress bar, the test
confusion matrix, misclassified digits and the first layer's weights as 8x8 images."""

from __future__ import annotations

import time

import ipywidgets as widgets
import numpy as np

from assignment.student import checks
from assignment.student.viz import _safe
from assignment.student.viz._base import Visualizer, guarded, level_of
from assignment.student.viz._controls import Picture, RangeSlider
from assignment.student.viz._plots import MISMATCH, FastText, LayeredFigure, new_figure
from assignment.student.viz.training_dashboard import (GALLERY, DashboardSettings, _digits, _montage, analyse, parse_hidden,
                                               prepare)

__all__ = ["TrainingDashboard"]

REFRESH_S = 0.3  # at most one redraw of the curves per this many seconds while training


class _Stop(Exception):
    """Raised from a training callback to stop training (the loss became NaN, ...)."""


def _grey_with_gaps():
    import matplotlib

    return matplotlib.colormaps["gray_r"].with_extremes(bad="white")


def _diverging_with_gaps():
    import matplotlib

    return matplotlib.colormaps["RdBu_r"].with_extremes(bad="white")




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

    def __init__(self, probe: DashboardSettings) -> None:
        super().__init__(probe)
        hidden, lr, epochs, batch_size = probe.hidden, probe.lr, probe.epochs, probe.batch_size
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
        if probe.autorun:
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

    @guarded
    def train(self) -> None:
        """Train a fresh MLP with the controls' settings, updating the figures as it goes."""
        settings = self._settings()
        if settings is None:
            return
        hidden, lr, epochs, batch_size = settings
        from assignment.shared.training import train

        data = _digits()
        sizes = (data.num_features, *hidden, data.num_classes)
        self.messages = []
        self.history, self.batch_losses, self.stopped = [], [], ""
        self.train_button.disabled = True
        try:
            built = prepare(self.nn, self.optim, sizes, self.seed, data)
            if not built.ok:
                self.note(level_of(built.kind), built.message, built.kind)
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
        analysed = analyse(self.model, data)
        if not analysed.ok:
            self._analysis_note.set_text(analysed.message)
            self.analysis.values_changed()
            self.analysis_image.value = self.analysis.png()
            self.analysis_image.alt = f"{self.analysis_picture}. Verdict: ✘ empty: {_safe.clause(analysed.message)}."
            return
        found = analysed.value
        self.confusion, self.misclassified = found.confusion, found.misclassified
        rows = np.maximum(found.confusion.sum(axis=1, keepdims=True), 1)
        self._confusion_image.set_data(found.confusion / rows)
        for i in range(10):
            for j in range(10):
                count = found.confusion[i, j]
                text = self._confusion_texts[i][j]
                text.set_text(str(count) if count else "")
                text.set_color("white" if count / rows[i, 0] > 0.5 else "black")
        self._gallery_image.set_data(found.gallery)
        for k, label in enumerate(self._gallery_labels):
            label.set_text(found.labels[k] if k < len(found.labels) else "")
        if found.units is not None:
            self._units_image.set_data(found.units)
        wrong, total = len(found.wrong), found.total
        self._analysis_note.set_text(f"{wrong} of {total} test digits misclassified"
                                     + (f"; the first {len(found.misclassified)} shown" if wrong else ""))
        self.analysis.values_changed()
        self.analysis_image.value = self.analysis.png()
        symbol = "✔" if (total - wrong) / total > 0.5 else "✘"
        self.analysis_image.alt = (f"{self.analysis_picture}. Verdict: {symbol} {total - wrong} of {total} test "
                                   f"digits classified right, {wrong} misclassified; the digit recognised least "
                                   f"often is {found.worst}.")
