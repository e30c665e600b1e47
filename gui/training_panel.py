"""The training panel: choose method, backbone, confounder and hyper-parameters (each with a
plain-language tooltip), launch the run in a worker, watch live curves (loss, validation accuracy,
validation worst-group accuracy) and the per-group table, cancel, and preview counterfactual images
before training."""

from __future__ import annotations

import queue
from collections.abc import Callable
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from debias_studio.core.errors import StudioError
from debias_studio.core.jobs import CancelToken, Job, Progress
from debias_studio.gui import engine
from debias_studio.gui.hub import Hub
from debias_studio.gui.plain import plain_label
from debias_studio.gui.session import Session
from debias_studio.gui.state import Runs
from debias_studio.gui.workers import JobHandle

METHODS = {
    "erm": (
        "ERM (baseline)",
        "Plain training: minimise the average loss. The baseline the cures "
        "are compared with; it learns any shortcut the data offers.",
    ),
    "balanced": (
        "Group balancing",
        "Re-weight or re-sample so every (class, confounder value) "
        "group counts equally, or GroupDRO. Needs a confounder.",
    ),
    "counterfactual": (
        "Counterfactual augmentation",
        "Show each image with the confounder "
        "changed (recoloured, background swapped) so it stops predicting the "
        "class. Needs a confounder.",
    ),
    "selecmix": (
        "SelecMix",
        "Mix each image with a partner of the same class and another "
        "confounder value (or another class and the same value) to break the shortcut.",
    ),
    "disc": (
        "DISC cure",
        "Mix in exemplars of the discovered spurious concepts so the model "
        "cannot rely on them (uses the concepts found by discovery).",
    ),
}
BACKBONES = {
    "head": (
        "Head on CLIP features",
        "Train a small classifier on the frozen image "
        "embeddings: seconds, no images decoded during training.",
    ),
    "cnn": (
        "Small CNN from scratch",
        "A small convolutional network trained on the images: "
        "needed for image-space cures such as counterfactuals.",
    ),
    "efficientnet": (
        "EfficientNet-Lite0 (ImageNet)",
        "A real ImageNet-pretrained network, frozen: its features are computed once and a head "
        "trains on them, with background swaps rendered once per image.",
    ),
    "mlp": (
        "Pixel MLP from scratch",
        "Three hidden layers of 100 units on the raw pixels (32 px): the network of the "
        "Colored MNIST benchmarks, fast on a CPU; it has no shape prior, so it suits colour "
        "or texture shortcuts on small images. Its training images are shifted at random by "
        "up to 2 pixels, so that the few images that contradict a shortcut are not memorised.",
    ),
    "clip": (
        "Fine-tune CLIP",
        "Fine-tune the last blocks of the CLIP image tower: the "
        "strongest, and the slowest on a CPU.",
    ),
}


Launch = Callable[[engine.EpochCallback, CancelToken], Job[Any]]
"""Starts a training job given where its epochs go and its cancel token (runs in the worker)."""

GROUP_COLUMNS = (
    ("Group (class/value)", "A (class, confounder value) group of the validation split."),
    ("Val accuracy", "Share of the group's validation images classified right."),
    (
        "95 % interval",
        "Wilson score interval of that accuracy: with few images it is wide, and two groups "
        "whose intervals overlap are not shown to differ.",
    ),
    ("Images", "Validation images in the group (n); grey: under the run's minimum group size."),
)


class TrainingPanel(QWidget):
    def __init__(self, hub: Hub, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("training_panel")
        self.hub = hub
        self.session: Session | None = None
        self.handle: JobHandle | None = None
        self.history: list[dict[str, Any]] = []
        self.resumable: str | None = None
        """Newest cancelled, failed or interrupted run of the project, which Resume continues."""
        self._epochs: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        """Epoch entries the running job's worker puts and the GUI thread takes: plain Python,
        so the worker holds no Qt object."""
        self._build_choices()
        self._build_numbers()
        self._build_buttons()
        self._build_curves()
        self._build_groups()
        self._build_layout()
        self.method.currentIndexChanged.connect(self._method_changed)
        self.backbone.currentIndexChanged.connect(self._backbone_changed)
        hub.session_changed.connect(self.set_session)
        hub.confounders_changed.connect(self._fill_confounders)
        hub.confounder_selected.connect(self.set_confounder)
        hub.runs_changed.connect(self._on_runs)
        self.set_session(None)

    # ---- building ----------------------------------------------------------------------------
    def _build_choices(self) -> None:
        self.method = _choices(METHODS)
        self.backbone = _choices(BACKBONES)
        self.confounder = QComboBox()
        self.confounder.setToolTip(
            "The spurious attribute the cure should neutralise; groups are (class, value). "
            "Confounders come from the Confounders panel or from the dataset's attribute columns."
        )
        self.lff = QCheckBox("LfF when no confounder")
        self.lff.setChecked(True)  # the stronger annotation-free cure on both benchmarks
        self.lff.setToolTip(
            "Without a confounder SelecMix finds its pairs with a biased contrastive model; LfF's "
            "biased classifier also up-weights the images it gets wrong. Colored MNIST, no "
            "annotation, unbiased accuracy at 0.5 / 1 / 2 / 5 % bias-conflicting: 79.0 / 88.1 / "
            "89.8 / 90.6 with it, 75.7 / 86.6 / 88.1 / 86.7 without (bench/results/README.md). "
            "Steps take about twice as long. With a confounder the annotation pairs are used."
        )
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda"])
        self.device.setToolTip(
            "Where to train; 'auto' follows the app's device setting (a CUDA GPU when present)."
        )

    def _build_numbers(self) -> None:
        self.epochs = _spin(1, 500, 5, "Passes over the training images.")
        self.batch = _spin(2, 4096, 128, "Images per optimisation step.")
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(6)
        self.lr.setRange(0.0, 1.0)
        self.lr.setSingleStep(1e-4)
        self.lr.setSpecialValueText("default")
        self.lr.setToolTip(
            "Learning rate; 'default' picks the backbone's "
            "(1e-2 head, 1e-3 CNN and MLP, 1e-5 CLIP)."
        )
        self.seed = _spin(0, 10**6, 0, "Seed of the run: the same seed gives the same result.")
        self.min_group = _spin(
            1,
            10_000,
            engine.MIN_GROUP_SIZE,
            "Smallest (class, value) group the worst-group accuracy and the choice of the kept "
            "epoch count. A group of 3 images can only score 0, 0.33, 0.67 or 1; at 20 the 95 % "
            "interval is about ±0.2. The worst over all groups is still reported beside it.",
        )

    def _build_buttons(self) -> None:
        self.train_button = QPushButton("Train")
        self.train_button.setToolTip("Start the run in the background (Ctrl+T).")
        self.train_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.setToolTip("Stop after the current step; the run stays resumable.")
        self.cancel_button.clicked.connect(self.cancel)
        self.resume_button = QPushButton("Resume")
        self.resume_button.setEnabled(False)
        self.resume_button.clicked.connect(self.resume)
        self.preview_button = QPushButton("Preview counterfactuals")
        self.preview_button.setToolTip(
            "Show four training images under every value of the confounder, as the "
            "counterfactual cure would (needs an image backbone: CNN, MLP or CLIP)."
        )
        self.preview_button.clicked.connect(self.preview)
        self.status = plain_label()
        self.status.setWordWrap(True)

    def _build_curves(self) -> None:
        """Accuracies share a fixed 0..1 axis; the loss, on its own scale, gets a small plot."""
        self.curves = pg.GraphicsLayoutWidget()
        self.curves.setBackground("w")
        self.curves.setObjectName("training_curves")
        self.curves.setMinimumHeight(220)
        accuracy = self.curves.addPlot(row=0, col=0)
        accuracy.setTitle("validation accuracy", size="9pt")
        accuracy.setYRange(0, 1, padding=0.02)
        accuracy.showGrid(x=True, y=True, alpha=0.2)
        accuracy.addLegend(
            offset=(5, -5),
            labelTextSize="8pt",
            labelTextColor="#202020",  # pyqtgraph's default grey is made for dark plots
            brush=pg.mkBrush(255, 255, 255, 210),
        )
        accuracy.setMouseEnabled(x=False, y=False)
        loss = self.curves.addPlot(row=1, col=0)
        loss.setTitle("training loss", size="9pt")
        loss.setLabel("bottom", "epoch")
        loss.showGrid(x=True, y=True, alpha=0.2)
        loss.setXLink(accuracy)
        self.curves.ci.layout.setRowStretchFactor(0, 3)
        self.curves.ci.layout.setRowStretchFactor(1, 2)
        self.loss_curve = loss.plot(pen=pg.mkPen("#7f7f7f", width=2), symbol="o", symbolSize=5)
        self.acc_curve = accuracy.plot(
            pen=pg.mkPen("#1f77b4", width=2), name="average", symbol="o", symbolSize=5
        )
        self.worst_curve = accuracy.plot(
            pen=pg.mkPen("#d62728", width=2), name="worst group", symbol="o", symbolSize=5
        )

    def _build_groups(self) -> None:
        self.groups = QTableWidget(0, len(GROUP_COLUMNS))
        self.groups.setObjectName("group_table")
        for column, (title, tip) in enumerate(GROUP_COLUMNS):
            header_item = QTableWidgetItem(title)
            header_item.setToolTip(tip)
            self.groups.setHorizontalHeaderItem(column, header_item)
        self.groups.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.groups.verticalHeader().setVisible(False)
        self.groups.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.groups.setSortingEnabled(True)
        self.preview_area = plain_label()
        self.preview_area.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview_area.hide()

    def _build_layout(self) -> None:
        form = QFormLayout()
        form.addRow("Method", self.method)
        form.addRow("Backbone", self.backbone)
        form.addRow("Confounder", self.confounder)
        form.addRow("SelecMix", self.lff)
        grid = QGridLayout()
        for row, column, title, widget in (
            (0, 0, "Epochs", self.epochs),
            (0, 2, "Batch", self.batch),
            (1, 0, "Learning rate", self.lr),
            (1, 2, "Seed", self.seed),
            (2, 0, "Device", self.device),
            (2, 2, "Min group", self.min_group),
        ):
            grid.addWidget(plain_label(title), row, column)
            grid.addWidget(widget, row, column + 1)
        buttons = QHBoxLayout()
        for button in (
            self.train_button,
            self.cancel_button,
            self.resume_button,
            self.preview_button,
        ):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(form)
        layout.addLayout(grid)
        layout.addLayout(buttons)
        layout.addWidget(self.status)
        layout.addWidget(self.curves, 2)
        layout.addWidget(self.groups, 1)
        layout.addWidget(self.preview_area)

    # ---- session -----------------------------------------------------------------------------
    def set_session(self, session: Session | None) -> None:
        self.session = session
        self.train_button.setEnabled(session is not None and self.handle is None)
        self.preview_button.setEnabled(session is not None)
        self.resumable = None
        self._update_resume()
        self._fill_confounders()
        self._method_changed()

    def _fill_confounders(self, *_: object) -> None:
        current = self.confounder.currentData()
        self.confounder.clear()
        self.confounder.addItem("(none)", None)
        if self.session is not None:
            for name in self.session.confounders:
                self.confounder.addItem(f"{name} (annotated)", name)
            for name in self.session.attributes:
                self.confounder.addItem(f"{name} (column)", name)
        index = self.confounder.findData(current)
        self.confounder.setCurrentIndex(max(0, index))

    def set_confounder(self, name: str | None) -> None:
        self._fill_confounders()
        index = self.confounder.findData(name)
        if index >= 0:
            self.confounder.setCurrentIndex(index)

    def _backbone_changed(self) -> None:
        """Put the backbone's suggested epochs and batch size in the fields (the user may still
        change them): a from-scratch CNN needs many more, smaller steps than a head."""
        suggested = engine.TRAINING_SUGGESTIONS.get(self.backbone.currentData())
        if suggested:
            self.epochs.setValue(suggested["epochs"])
            self.batch.setValue(suggested["batch_size"])

    def _method_changed(self) -> None:
        method = self.method.currentData()
        self.status.setText(METHODS.get(method, ("", ""))[1])
        self.lff.setEnabled(method == "selecmix")
        if method == "counterfactual" and self.backbone.currentData() == "head":
            self.backbone.setCurrentIndex(self.backbone.findData("cnn"))

    # ---- config and running ------------------------------------------------------------------
    def config(self) -> engine.TrainConfig:
        assert self.session is not None
        device = self.device.currentText()
        return engine.TrainConfig(
            project=str(self.session.folder),
            method=self.method.currentData(),
            confounder=self.confounder.currentData(),
            backbone=self.backbone.currentData(),
            lff=self._with_lff(),
            model=self.hub.model_name,
            epochs=self.epochs.value(),
            seed=self.seed.value(),
            batch_size=self.batch.value(),
            lr=self.lr.value() or None,
            min_group_size=self.min_group.value(),
            device=self.hub.device if device == "auto" else device,  # auto: the app setting
        )

    def _with_lff(self) -> bool:
        """LfF + SelecMix only where it was measured stronger: SelecMix without annotation."""
        return (
            self.lff.isChecked()
            and self.method.currentData() == "selecmix"
            and self.confounder.currentData() is None
        )

    def _valid_config(self) -> engine.TrainConfig | None:
        try:
            return self.config().validate()
        except StudioError as exc:
            self.status.setText(str(exc))
            return None

    def start(self) -> JobHandle | None:
        if self.session is None or self.handle is not None:
            return None
        config = self._valid_config()
        if config is None:
            return None
        project = self.session.project
        return self._launch(
            f"Training {config.method}",
            lambda on_epoch, token: engine.train_job(project, config, on_epoch, token),
        )

    def resume(self) -> JobHandle | None:
        """Continue the newest cancelled, failed or interrupted run from its last checkpoint."""
        if self.session is None or self.handle is not None or self.resumable is None:
            return None
        project, run_id = self.session.project, self.resumable
        handle = self._launch(
            f"Resuming run {run_id}",
            lambda on_epoch, token: engine.resume_job(project, run_id, on_epoch, token),
        )
        self.status.setText(f"Resuming run {run_id} from its last checkpoint…")
        return handle

    def _launch(self, name: str, launch: Launch) -> JobHandle:
        self.history = []
        self._draw_curves()
        self.groups.setRowCount(0)
        epochs: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self._epochs = epochs
        self.handle = self.hub.runner.start(
            name,
            lambda token: launch(epochs.put, token),
            on_done=self._on_done,
            on_error=self._show_error,
            on_progress=self._on_progress,
        )
        self.handle.ended.connect(self._on_ended)
        self.train_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self._update_resume()
        self.hub.reload_runs()
        return self.handle

    def _on_runs(self, runs: Runs) -> None:
        self.resumable = runs.resumable
        self._update_resume()

    def _update_resume(self) -> None:
        ready = self.session is not None and self.handle is None and self.resumable is not None
        self.resume_button.setEnabled(ready)
        self.resume_button.setToolTip(
            f"Continue run {self.resumable} from its last epoch checkpoint."
            if self.resumable
            else "Continue a cancelled or interrupted run (none yet)."
        )

    def cancel(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.status.setText("cancelling…")

    def _show_error(self, message: str, _details: str) -> None:
        self.status.setText(message)

    def _on_progress(self, progress: Progress) -> None:
        self.status.setText(progress.message)
        self._take_epochs()

    def _take_epochs(self) -> None:
        """Show the epochs the worker finished since the last look."""
        new = []
        while not self._epochs.empty():
            new.append(self._epochs.get_nowait())
        if not new:
            return
        self.history.extend(new)
        self._draw_curves()
        self._fill_groups(new[-1].get("val_per_group", {}))

    def _on_done(self, result: Any) -> None:
        self._take_epochs()
        val = (result.metrics or {}).get("val") or {}
        self._fill_groups(val.get("per_group") or {}, val.get("min_group_size"))
        test = (result.metrics or {}).get("test") or {}
        summary = f"Run {result.run_id} done: val {engine.worst_group_line(val)}"
        if test:
            summary += f"; test avg {test['avg_acc']:.3f}, {engine.worst_group_line(test)}"
        self.status.setText(summary + ".")

    def _on_ended(self, state: str) -> None:
        self._take_epochs()
        if state == "cancelled":
            self.status.setText("Run cancelled; it can be resumed from its last checkpoint.")
        self.handle = None
        self.train_button.setEnabled(self.session is not None)
        self.cancel_button.setEnabled(False)
        self._update_resume()
        self.hub.reload_runs()

    def _draw_curves(self) -> None:
        epochs = [e["epoch"] + 1 for e in self.history]
        self.loss_curve.setData(epochs, [e["loss"] for e in self.history])
        self.acc_curve.setData(epochs, [e["val"]["avg_acc"] for e in self.history])
        self.worst_curve.setData(epochs, [e["val"]["worst_group_acc"] for e in self.history])

    def _fill_groups(self, groups: dict[str, dict[str, Any]], minimum: int | None = None) -> None:
        """Each validation group's accuracy with its 95 % Wilson interval and size; groups
        smaller than the run's minimum (they do not count for the worst group) are greyed."""
        minimum = minimum or engine.MIN_GROUP_SIZE
        self.groups.setSortingEnabled(False)
        self.groups.setRowCount(len(groups))
        for row, (name, entry) in enumerate(groups.items()):
            acc, n = float(entry["acc"]), int(entry.get("n", entry.get("count", 0)))
            low, high = entry.get("ci") or engine.wilson_interval(round(acc * n), n)
            items = [
                QTableWidgetItem(name),
                _number(acc, f"{acc:.3f}"),
                _number(low, f"{low:.2f} – {high:.2f}"),
                _number(n, str(n)),
            ]
            for column, item in enumerate(items):
                if n < minimum:
                    item.setForeground(Qt.GlobalColor.gray)
                    item.setToolTip(
                        f"Only {n} images (under {minimum}): not counted in the worst group."
                    )
                self.groups.setItem(row, column, item)
        self.groups.setSortingEnabled(True)

    # ---- counterfactual preview --------------------------------------------------------------
    def preview(self) -> None:
        if self.session is None:
            return
        config = self._valid_config()
        if config is None:
            return
        train = np.flatnonzero(self.session.splits.codes == 0)[:4].tolist()
        project = self.session.project
        self.status.setText("rendering counterfactuals…")
        self.hub.runner.start(
            "Counterfactual preview",
            lambda token: engine.preview_job(project, config, train, token),
            key="cf-preview",
            on_done=self._show_preview,
            on_error=self._show_error,
        )

    def _show_preview(self, images: np.ndarray) -> None:
        n, v, s = images.shape[0], images.shape[1], images.shape[2]
        mosaic = np.ascontiguousarray(images.transpose(0, 2, 1, 3, 4).reshape(n * s, v * s, 3))
        qimage = QImage(mosaic.data, v * s, n * s, 3 * v * s, QImage.Format.Format_RGB888).copy()
        self.preview_area.setPixmap(QPixmap.fromImage(qimage).scaledToHeight(min(256, 64 * n)))
        self.preview_area.setToolTip("Rows: training images; columns: each confounder value.")
        self.preview_area.show()
        self.status.setText("Counterfactual preview: each column is one confounder value.")


class _NumberItem(QTableWidgetItem):
    def __lt__(self, other: QTableWidgetItem) -> bool:
        return float(self.data(Qt.ItemDataRole.UserRole) or 0) < float(
            other.data(Qt.ItemDataRole.UserRole) or 0
        )


def _number(value: float, text: str) -> QTableWidgetItem:
    item = _NumberItem(text)
    item.setData(Qt.ItemDataRole.UserRole, float(value))
    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


def _choices(options: dict[str, tuple[str, str]]) -> QComboBox:
    box = QComboBox()
    for key, (label, tip) in options.items():
        box.addItem(label, key)
        box.setItemData(box.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
    box.setToolTip("\n\n".join(f"{label}: {tip}" for label, tip in options.values()))
    return box


def _spin(low: int, high: int, value: int, tip: str) -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setValue(value)
    box.setToolTip(tip)
    return box
