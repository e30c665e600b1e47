"""The main window: project open/create (dialogs, drag-and-drop, recent, demos), the browser in
the middle, dockable panels around it whose layout is restored on restart, shortcuts for the
frequent actions, and a status bar with the project, the model and the device.

Start-up shows the window first: the app builds it with ``build_later=True``, so the frame (menus,
welcome page, empty docks, status bar) is painted from PySide alone, and the browser, the panels
and the job machinery - pandas, pyqtgraph and superqt with them, about 0.6 s of CPU - are built
right after that first paint (``_build_content``). Once built the window is what it always was;
anything that needs the content before then (opening a project) builds it at once. This module's
imports stay light for that (tests/gui/test_startup.py)."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QFrame,
    QMainWindow,
    QMenu,
    QMessageBox,
    QScrollArea,
    QStackedWidget,
    QWidget,
)

from debias_studio.gui import gc_guard
from debias_studio.gui.first_paint import OnFirstPaint
from debias_studio.gui.plain import plain_label, warning_box
from debias_studio.gui.settings import Settings, demo_project_folder

if TYPE_CHECKING:
    from debias_studio.gui import engine
    from debias_studio.gui.session import Session
    from debias_studio.gui.workers import JobHandle

MANIFEST_FILTER = "Manifests (*.csv *.parquet *.pq);;All files (*)"
ActionEntry = tuple[
    str, str, Callable[[], object], QKeySequence | QKeySequence.StandardKey | str | None
]
"""A menu entry: key in ``MainWindow.actions``, text, slot, shortcut."""
SCROLLED_DOCKS = ("training_dock", "confounders_dock", "concepts_dock", "cleaning_dock")
"""Tall forms scroll instead of forcing a huge minimum size."""
PROJECT_ACTIONS = ("export", "close_project", "embed", "discover", "train")
"""Actions that need an open project."""


PANELS = (
    ("concepts_dock", "Concepts", "debias_studio.gui.concepts_panel", "ConceptsPanel", "left"),
    (
        "confounders_dock",
        "Confounders",
        "debias_studio.gui.confounder_panel",
        "ConfounderPanel",
        "left",
    ),
    ("map_dock", "Embedding map", "debias_studio.gui.embedding_map", "EmbeddingMap", "right"),
    ("training_dock", "Training", "debias_studio.gui.training_panel", "TrainingPanel", "right"),
    ("runs_dock", "Runs", "debias_studio.gui.runs_table", "RunsTable", "bottom"),
    ("cleaning_dock", "Cleaning", "debias_studio.gui.cleaning_panel", "CleaningPanel", "left"),
)
"""Dockable panels beyond the browser: object name, title, module, class, default area."""
LAYOUT_VERSION = 2
"""Saved dock layouts of another version are ignored (2: Cleaning joined the left tabs)."""

AREAS = {
    "left": Qt.DockWidgetArea.LeftDockWidgetArea,
    "right": Qt.DockWidgetArea.RightDockWidgetArea,
    "bottom": Qt.DockWidgetArea.BottomDockWidgetArea,
}


def available_panels() -> list[tuple[str, str, str, str, Qt.DockWidgetArea]]:
    """The panels this build has (their modules found, not imported)."""
    return [
        (name, title, module_name, class_name, AREAS[area])
        for name, title, module_name, class_name, area in PANELS
        if importlib.util.find_spec(module_name) is not None
    ]


class MainWindow(QMainWindow):
    def __init__(self, settings: Settings | None = None, *, build_later: bool = False) -> None:
        """``build_later``: paint the frame first, build the content after that paint."""
        super().__init__()
        self.setObjectName("main_window")
        self.setWindowTitle("Debias Studio")
        self.setAcceptDrops(True)
        self.setDockNestingEnabled(True)
        gc_guard.hold_until_frozen(self)  # start-up imports follow (gui.gc_guard)
        self.settings = settings or Settings()
        self.session: Session | None = None
        self.built = False
        self._when_built: list[Callable[[], object]] = []
        self._pending_close: list[engine.Project] = []
        self.welcome = _welcome(self)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.welcome)
        self.setCentralWidget(self.stack)
        self._build_docks()
        self._build_status_bar()
        self._build_actions()
        self._default_size()
        self._layout_done = False
        self._saved_geometry, self._saved_state = self.settings.window_state()
        if self._saved_geometry is not None:
            self.restoreGeometry(self._saved_geometry)
        self.welcome.set_recent(self.settings.recent_projects())
        self._painted = False
        if build_later:
            self._first_paint = OnFirstPaint(self, self._after_first_paint)
        else:
            self._build_content()

    # ---- content (built after the first paint with build_later) ------------------------------
    def _after_first_paint(self) -> None:
        self._painted = True
        self._build_content()

    def _build_content(self) -> None:
        """The browser, the panels and the job machinery (the heavy imports); once."""
        if self.built:
            return
        self.built = True
        from debias_studio.gui.browser.browser_widget import BrowserWidget
        from debias_studio.gui.browser.detail_pane import DetailPane
        from debias_studio.gui.hub import Hub
        from debias_studio.gui.jobs_panel import JobsPanel
        from debias_studio.gui.thumbnails import ThumbnailLoader
        from debias_studio.gui.workers import JobRunner

        self.runner = JobRunner(self)
        self.loader = ThumbnailLoader(parent=self)
        self.hub = Hub(self.runner, self.settings, self.loader, self)
        self.browser = BrowserWidget(self.hub)
        self.detail = DetailPane(self.hub)
        self.jobs = JobsPanel(self.runner)
        self.stack.addWidget(self.browser)
        self._fill_dock("details_dock", self.detail)
        self._fill_dock("jobs_dock", self.jobs)
        for name, _title, module_name, class_name, _area in available_panels():
            panel_class = getattr(importlib.import_module(module_name), class_name)
            self.panels[name] = panel_class(self.hub)
            self._fill_dock(name, self.panels[name])
        self.hub.status_message.connect(self._show_status)
        self.hub.confounder_requested.connect(self._show_confounders)
        self.runner.job_ended.connect(self._close_retired)
        self.runner.job_ended.connect(self._on_job_ended)
        self._start_warm_up()
        if self._layout_done:  # shown before it was built: lay the filled docks out again
            self._lay_out_docks()
        waiting, self._when_built = self._when_built, []
        for call in waiting:
            call()

    def _start_warm_up(self) -> None:
        from debias_studio.gui import engine
        from debias_studio.gui.startup import DeferredWarmUp

        self.startup = DeferredWarmUp(
            self,
            self.runner,
            "Detecting device",
            engine.detect_device,
            self._on_device,
            painted=self._painted,
        )
        self.startup.handle.ended.connect(self._on_warm_up_ended)

    def when_built(self, call: Callable[[], object]) -> None:
        """Call ``call`` once the content is built (now, if it is)."""
        if self.built:
            call()
        else:
            self._when_built.append(call)

    # ---- layout ------------------------------------------------------------------------------
    def _build_docks(self) -> None:
        """The docks, empty: their widgets come with the content (``_fill_dock``)."""
        self.docks: dict[str, QDockWidget] = {}
        self.panels: dict[str, QWidget] = {}
        self._add_dock("details_dock", "Details", Qt.DockWidgetArea.RightDockWidgetArea)
        self._add_dock("jobs_dock", "Jobs", Qt.DockWidgetArea.BottomDockWidgetArea)
        for name, title, _module, _class, area in available_panels():
            self._add_dock(name, title, area)

    def _add_dock(self, name: str, title: str, area: Qt.DockWidgetArea) -> None:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        if name in SCROLLED_DOCKS:
            scroll = QScrollArea()
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QFrame.Shape.NoFrame)
            dock.setWidget(scroll)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        self.addDockWidget(area, dock)
        self.docks[name] = dock

    def _fill_dock(self, name: str, widget: QWidget) -> None:
        scroll = self.docks[name].widget()
        if isinstance(scroll, QScrollArea):
            scroll.setWidget(widget)
        else:
            self.docks[name].setWidget(widget)

    def _arrange_default_docks(self) -> None:
        docks = self.docks
        if "concepts_dock" in docks and "confounders_dock" in docks:
            self.tabifyDockWidget(docks["concepts_dock"], docks["confounders_dock"])
            if "cleaning_dock" in docks:  # a third tab, not a panel squeezing the concepts table
                self.tabifyDockWidget(docks["confounders_dock"], docks["cleaning_dock"])
            docks["concepts_dock"].raise_()
        if "map_dock" in docks and "training_dock" in docks:
            self.tabifyDockWidget(docks["details_dock"], docks["map_dock"])
            self.tabifyDockWidget(docks["map_dock"], docks["training_dock"])
            docks["details_dock"].raise_()
        if "runs_dock" in docks:
            self.tabifyDockWidget(docks["jobs_dock"], docks["runs_dock"])
            docks["jobs_dock"].raise_()

    def _size_docks(self) -> None:
        """Default panel sizes: side panels readable, the grid keeps the most room."""
        docks = self.docks
        side = max(300, min(460, self.width() // 4))
        horizontal = [docks["details_dock"]]
        if "concepts_dock" in docks:
            horizontal.append(docks["concepts_dock"])
        self.resizeDocks(horizontal, [side] * len(horizontal), Qt.Orientation.Horizontal)
        bottom = max(150, self.height() // 5)
        self.resizeDocks([docks["jobs_dock"]], [bottom], Qt.Orientation.Vertical)

    def _show_confounders(self, _concept: str) -> None:
        """A concept was marked as confounder: show the panel that adds it."""
        dock = self.docks.get("confounders_dock")
        if dock is not None:
            dock.raise_()

    def _show_status(self, text: str) -> None:
        self.statusBar().showMessage(text, 8000)

    def _panel_action(self, dock: str, method: str) -> None:
        if dock in self.panels and self.session is not None:
            self.docks[dock].show()
            self.docks[dock].raise_()
            getattr(self.panels[dock], method)()

    def _embed(self) -> None:
        self._panel_action("map_dock", "compute")

    def _discover(self) -> None:
        self._panel_action("concepts_dock", "discover")

    def _train(self) -> None:
        self._panel_action("training_dock", "start")

    def _default_size(self) -> None:
        screen = self.screen().availableGeometry() if self.screen() else None
        width, height = 1360, 860
        if screen is not None:
            width = min(width, int(screen.width() * 0.92))
            height = min(height, int(screen.height() * 0.92))
        self.resize(width, height)

    def _build_status_bar(self) -> None:
        self.project_label = plain_label("No project")
        self.model_label = plain_label(f"Model: {_model_display(self.settings.model_name)}")
        self.model_label.setToolTip("The CLIP model used for embeddings and concepts.")
        self.device_label = plain_label("Device: …")
        self.device_label.setToolTip("Where models run (a setting; cuda when present).")
        bar = self.statusBar()
        bar.addWidget(self.project_label, 1)
        bar.addPermanentWidget(self.model_label)
        bar.addPermanentWidget(self.device_label)

    def _build_actions(self) -> None:
        self.actions: dict[str, QAction] = {}
        keys = QKeySequence.StandardKey
        file_menu = self.menuBar().addMenu("&File")
        self._add_actions(
            file_menu,
            ("open", "&Open project…", self.ask_open, keys.Open),
            ("new_folder", "New from image &folder…", self.ask_new_folder, "Ctrl+N"),
            ("new_manifest", "New from &manifest…", self.ask_new_manifest, "Ctrl+Shift+N"),
        )
        self._add_actions(
            file_menu.addMenu("&Demo projects"),
            ("demo_digits", "Coloured &digits", self._open_digits_demo, "Ctrl+D"),
            (
                "demo_backgrounds",
                "Objects on &backgrounds",
                self._open_backgrounds_demo,
                "Ctrl+Shift+D",
            ),
        )
        self.recent_menu = file_menu.addMenu("&Recent projects")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self.recent_menu.triggered.connect(self._open_recent)
        file_menu.addSeparator()
        self._add_actions(
            file_menu,
            ("export", "&Export…", self.ask_export, "Ctrl+Shift+E"),
            ("close_project", "&Close project", self.close_project, "Ctrl+W"),
        )
        file_menu.addSeparator()
        self._add_actions(file_menu, ("quit", "&Quit", self.close, keys.Quit))
        view_menu = self.menuBar().addMenu("&View")
        for dock in self.docks.values():
            view_menu.addAction(dock.toggleViewAction())
        view_menu.addSeparator()
        self._add_actions(
            view_menu, ("reset_layout", "Reset panel layout", self._reset_layout, None)
        )
        self._add_actions(
            self.menuBar().addMenu("&Project"),
            ("embed", "&Embed and map images", self._embed, "Ctrl+E"),
            ("discover", "&Discover concepts", self._discover, "Ctrl+K"),
            ("train", "&Train", self._train, "Ctrl+T"),
        )
        self._add_actions(
            self.menuBar().addMenu("&Jobs"),
            ("cancel_all", "Cancel all jobs", self._cancel_all, "Ctrl+."),
        )
        for key in PROJECT_ACTIONS:
            self.actions[key].setEnabled(False)

    def _add_actions(self, menu: QMenu, *entries: ActionEntry) -> None:
        """Menu entries (key, text, slot, shortcut), kept in ``self.actions`` by key. Slots
        are bound methods: a lambda holding the window would keep it alive through Qt."""
        for key, text, slot, shortcut in entries:
            action = QAction(text, self)
            if shortcut is not None:
                action.setShortcut(QKeySequence(shortcut))
            action.triggered.connect(slot)
            self.actions[key] = action
            menu.addAction(action)

    def _cancel_all(self) -> None:
        if self.built:
            self.runner.cancel_all()

    def _open_digits_demo(self) -> None:
        self.open_demo("digits")

    def _open_backgrounds_demo(self) -> None:
        self.open_demo("backgrounds")

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._layout_done:
            # Tabify once the window has its real size: done earlier, Qt leaves stale tab bars.
            self._layout_done = True
            self._arrange_default_docks()
            self._lay_out_docks()

    def _lay_out_docks(self) -> None:
        """The saved layout (older versions: the default), or the default sizes."""
        if self._saved_state is not None:
            self.restoreState(self._saved_state, LAYOUT_VERSION)
            if self._saved_geometry is not None:
                self.restoreGeometry(self._saved_geometry)
        else:
            QTimer.singleShot(0, self._size_docks)

    def _reset_layout(self) -> None:
        for dock in self.docks.values():
            dock.setFloating(False)
            dock.show()
        self._arrange_default_docks()
        self._size_docks()

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.recent_projects()
        for folder in recent:
            self.recent_menu.addAction(str(folder)).setData(str(folder))
        if not recent:
            self.recent_menu.addAction("(none yet)").setEnabled(False)

    def _open_recent(self, action: QAction) -> None:
        folder = action.data()
        if folder:
            self.open_project(Path(folder))

    # ---- opening and creating projects -------------------------------------------------------
    def ask_open(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a Debias Studio project")
        if folder:
            self.open_project(Path(folder))

    def ask_new_folder(self) -> None:
        source = QFileDialog.getExistingDirectory(self, "Image folder (one sub-folder per class)")
        if source:
            self.new_project_from(Path(source))

    def ask_new_manifest(self) -> None:
        source, _ = QFileDialog.getOpenFileName(self, "Manifest", "", MANIFEST_FILTER)
        if source:
            self.new_project_from(Path(source))

    def ask_project_folder(self, source: Path) -> Path | None:
        """Where a new project for ``source`` goes (a dialog; tests replace this method)."""
        suggestion = source.parent / f"{source.stem}-project"
        folder, _ = QFileDialog.getSaveFileName(
            self, "New project folder", str(suggestion), "Project folder (*)"
        )
        return Path(folder) if folder else None

    def new_project_from(self, source: Path) -> JobHandle | None:
        folder = self.ask_project_folder(source)
        if folder is None:
            return None
        return self.create_project(folder, source)

    def create_project(self, folder: Path, source: Path) -> JobHandle:
        from debias_studio.gui.session import create_session

        return self._load(
            f"Creating project {folder.name}",
            lambda token: create_session(folder, source, token),
        )

    def open_project(self, folder: Path) -> JobHandle:
        from debias_studio.gui.session import open_session

        return self._load(f"Opening {Path(folder).name}", lambda token: open_session(folder, token))

    def open_demo(self, kind: str, folder: Path | None = None) -> JobHandle:
        """Open the demo project of ``kind``, creating it first (a job) when it does not exist."""
        from debias_studio.gui.session import demo_session, is_project_folder

        target = folder or demo_project_folder(kind)
        verb = "Opening" if is_project_folder(target) else "Creating"
        return self._load(
            f"{verb} the {kind} demo", lambda token: demo_session(target, kind, token)
        )

    def _load(self, title: str, function: Callable[[Any], Any]) -> JobHandle:
        self._build_content()  # asked for before the first paint was over
        self.statusBar().showMessage(f"{title}…")
        self.docks["jobs_dock"].raise_()
        return self.runner.start(
            title, function, key="project", on_done=self.set_session, on_error=self._show_error
        )

    def set_session(self, session: Session | None) -> None:
        self._build_content()
        old = self.session
        self.session = session
        if old is not None and (session is None or old.project is not session.project):
            self._retire(old.project)
        if session is None:
            self.loader.clear()
        else:
            self.loader.set_source(
                session.dataset.root,
                session.paths,
                session.fingerprints,
                session.project.thumbnails_dir,
            )
            self.settings.add_recent_project(session.folder)
        self.hub.set_session(session)
        self.stack.setCurrentWidget(self.browser if session is not None else self.welcome)
        for key in PROJECT_ACTIONS:
            self.actions[key].setEnabled(session is not None)
        self._show_project(session)

    def _show_project(self, session: Session | None) -> None:
        """The project's name in the title and the status bar (plain text: it is a folder name)."""
        if session is None:
            self.project_label.setText("No project")
            self.setWindowTitle("Debias Studio")
            self.welcome.set_recent(self.settings.recent_projects())
            return
        problems = len(session.dataset.problems)
        extra = f", {problems} files could not be used" if problems else ""
        self.project_label.setText(
            f"{session.name}: {len(session):,} images, {len(session.labels.values)} classes{extra}"
        )
        if session.project.read_only:
            self.setWindowTitle(f"{session.name} (read-only) — Debias Studio")
            self.statusBar().showMessage(session.project.read_only_reason)
        else:
            self.setWindowTitle(f"{session.name} — Debias Studio")
            self.statusBar().showMessage(f"Opened {session.folder}", 5000)

    def close_project(self) -> None:
        self.set_session(None)

    def _retire(self, project: engine.Project) -> None:
        """Close a project no longer shown, once no job can still be using it."""
        self._pending_close.append(project)
        self._close_retired()

    def _close_retired(self, *_: object) -> None:
        if self.runner.jobs():
            return
        while self._pending_close:
            self._pending_close.pop().close()

    def _on_job_ended(self, handle: JobHandle) -> None:
        if handle.state == "failed" and not handle.property("quiet"):
            self.statusBar().showMessage(handle.message, 10000)

    def _show_error(self, message: str, details: str) -> None:
        self.statusBar().showMessage(message, 10000)
        shown = details if "StudioError" not in details else ""
        warning_box(self, "Debias Studio", message, shown).open()

    def ask_export(self) -> None:
        if self.session is None:
            return
        from debias_studio.gui.export_dialog import ExportDialog

        ExportDialog(self.hub, self).open()

    # ---- drag and drop -----------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls()
        if len(urls) == 1 and urls[0].isLocalFile():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        urls = event.mimeData().urls()
        if not urls:
            return
        self.open_path(Path(urls[0].toLocalFile()))
        event.acceptProposedAction()

    def open_path(self, path: Path) -> JobHandle | None:
        """A dropped path: a project opens; an image folder or a manifest becomes a new project."""
        from debias_studio.gui.session import is_project_folder

        if path.is_dir() and is_project_folder(path):
            return self.open_project(path)
        return self.new_project_from(path)

    def open_or_offer(self, path: Path) -> JobHandle | QMessageBox:
        """``debias-studio gui PATH``: a project opens; any other folder or file gets a
        question that offers to make a new project from it."""
        from debias_studio.gui.session import is_project_folder

        if Path(path).is_dir() and is_project_folder(path):
            return self.open_project(path)
        return self.offer_new_project(Path(path))

    def offer_new_project(self, source: Path) -> QMessageBox:
        """Ask whether to make a project from ``source`` (New project goes on to
        ``new_project_from``, which asks where the project goes)."""
        what = "the images in it" if source.is_dir() else "this manifest"
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Not a project")
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setText(f"{source} is not a Debias Studio project.\n\nCreate a project from {what}?")
        create = box.addButton("New project…", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(create)
        box.buttonClicked.connect(
            lambda button: self.new_project_from(source) if button is create else None
        )
        box.open()
        return box

    # ---- device and closing ------------------------------------------------------------------
    def _on_device(self, device: str) -> None:
        chosen = self.settings.device
        shown = device if chosen == "auto" else chosen
        self.device_label.setText(f"Device: {shown}")

    def _on_warm_up_ended(self, _state: str) -> None:
        gc_guard.freeze_long_lived(self)  # the heavy imports are done (gui.gc_guard)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.settings.save_window_state(self.saveGeometry(), self.saveState(LAYOUT_VERSION))
        self.settings.sync()
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Cancel jobs, wait for every worker and close the project (closing, tests)."""
        self._when_built.clear()
        gc_guard.thaw(self)
        if not self.built:
            return  # closed before the first paint was over: nothing was started
        self.runner.cancel_all()
        self.runner.wait_all(15000)
        self.loader.shutdown()
        QTimer.singleShot(0, lambda: None)
        if self.session is not None:
            self._pending_close.append(self.session.project)
        for project in self._pending_close:
            project.close()
        self._pending_close.clear()


def _welcome(window: MainWindow) -> QWidget:
    from debias_studio.gui.welcome import WelcomePage

    page = WelcomePage()
    page.demo_requested.connect(window.open_demo)
    page.open_requested.connect(window.ask_open)
    page.new_from_folder_requested.connect(window.ask_new_folder)
    page.new_from_manifest_requested.connect(window.ask_new_manifest)
    page.recent_requested.connect(window.open_project)
    return page


def _model_display(name: str) -> str:
    return "demo CLIP (bundled, not pretrained)" if name == "demo" else name
