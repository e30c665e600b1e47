"""The project store (ARCHITECTURE.md, rule 5).

A project is a folder::

    project.sqlite      WAL-mode database: dataset table, problems, confounders, annotations,
                        discovery results, runs, settings; ``meta.schema_version``
    embeddings/         float16 .npy arrays keyed by model id (see core.embed.engine)
    thumbnails/         disk thumbnail cache
    runs/<id>/          config, metrics and safetensors checkpoints of a training run

Every change is committed when it happens (``Project.transaction``); nothing waits for a "Save".
Each table has one owner module in this package, and only those modules run SQL (a test holds
it): this module owns ``meta``, ``images`` and ``problems``; ``confounders`` owns the confounders
and their per-image overrides; ``history``, ``exclusions``, ``relabels``, ``tags``,
``discoveries`` and ``runs`` own the tables of those names. Other packages call the owners'
functions; to change several tables at once they wrap the calls in one
``Project.transaction()``, which the owners' writes join.
Image paths are stored relative to the dataset root, and the dataset root relative to the project
folder when it lies inside it, so a project can be moved or copied to another machine. A root
outside the project folder is stored absolute *and* relative to the project folder: when the
absolute one is gone (the project and its data were copied elsewhere together) the relative one
is used.

One app instance writes a project at a time (``core.store.lock``); another instance that opens it
gets it read-only (``Project.read_only``), and any write there raises ``ProjectError``.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from debias_studio.core.data.access import stored_path_problems
from debias_studio.core.data.dataset import Dataset, DatasetSpec, ImageProblem
from debias_studio.core.errors import ProjectError, StudioError
from debias_studio.core.store import lock as store_lock
from debias_studio.core.store.folder import DB_NAME

SCHEMA_VERSION = 2

_V1 = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS problems (
    path TEXT NOT NULL, problem TEXT NOT NULL, detail TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS confounders (
    name TEXT PRIMARY KEY, kind TEXT NOT NULL, source TEXT NOT NULL,
    params TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS overrides (
    confounder TEXT NOT NULL, image_id INTEGER NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (confounder, image_id));
CREATE TABLE IF NOT EXISTS exclusions (image_id INTEGER PRIMARY KEY, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS history (
    id INTEGER PRIMARY KEY AUTOINCREMENT, action TEXT NOT NULL, payload TEXT NOT NULL,
    created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS discoveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT, created REAL NOT NULL, model_id TEXT NOT NULL,
    params TEXT NOT NULL, result TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, created REAL NOT NULL, method TEXT NOT NULL, status TEXT NOT NULL,
    config TEXT NOT NULL, metrics TEXT NOT NULL);
"""

_V2 = (
    "CREATE TABLE IF NOT EXISTS relabels (image_id INTEGER PRIMARY KEY, label TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS tags ("
    " image_id INTEGER NOT NULL, tag TEXT NOT NULL, PRIMARY KEY (image_id, tag))",
)
"""Version 2: cleaning decisions besides exclusions (owners core.store.relabels and .tags)."""

_ESCAPED_IMAGE_ID = "__dataset__image_id"
"""A dataset column named ``image_id`` (an exported manifest has one) is stored under this name,
since the images table's own key is ``image_id``."""

Migration = Callable[[sqlite3.Connection], None]


def _create_v1(db: sqlite3.Connection) -> None:
    db.executescript(_V1)


def _step_v2(db: sqlite3.Connection) -> None:
    for statement in _V2:
        db.execute(statement)


MIGRATIONS: dict[int, Migration] = {1: _create_v1, 2: _step_v2}
"""Schema version -> step that upgrades from version-1. Append; never edit a released step.
A step runs inside one transaction with the version update: use ``db.execute`` (not
``executescript``, which commits) so that a failing step leaves nothing half done."""


class Project:
    """An open project folder. Thread-safe: one connection guarded by a lock.

    ``read_only``: another process writes this project (or the caller asked for read-only);
    reading works as usual, every write raises ``ProjectError``."""

    def __init__(
        self,
        folder: Path,
        db: sqlite3.Connection,
        *,
        read_only: bool = False,
        holds_lock: bool = False,
    ) -> None:
        self.folder = folder
        self._db = db
        self.read_only = read_only
        self._holds_lock = holds_lock
        self._lock = threading.RLock()
        self._dataset: Dataset | None = None
        self._closed = False
        self._depth = 0  # open transactions of the thread that holds the lock
        self.folder_writable = True
        """False when the folder itself cannot be written (permissions, read-only medium)."""

    # ---- opening -----------------------------------------------------------------------------
    @classmethod
    def create(cls, folder: Path | str, dataset: Dataset) -> Project:
        """Create a new project folder holding ``dataset``. Refuses an existing project."""
        folder = Path(folder)
        if (folder / DB_NAME).exists():
            raise ProjectError(f"A project already exists in {folder}.")
        folder.mkdir(parents=True, exist_ok=True)
        if not store_lock.acquire(folder):
            raise ProjectError(
                f"{folder} is being written by {store_lock.describe_holder(folder)}; "
                "choose another folder."
            )
        try:
            project = cls(folder, _connect(folder / DB_NAME), holds_lock=True)
        except sqlite3.DatabaseError as exc:
            store_lock.release(folder)
            raise ProjectError(database_problem(exc, folder)) from exc
        except BaseException:
            store_lock.release(folder)
            raise
        with project._guard():
            project._migrate()
        project.save_dataset(dataset)
        return project

    @classmethod
    def open(cls, folder: Path | str, *, read_only: bool | None = None) -> Project:
        """Open an existing project. ``read_only=None`` (the default) opens it writable unless
        another app instance has it open or the folder cannot be written, then read-only
        (``read_only_reason`` says why); ``True`` never takes the write lock (exports, reports);
        ``False`` refuses to open it read-only."""
        folder = Path(folder)
        if not (folder / DB_NAME).is_file():
            raise ProjectError(f"{folder} is not a Debias Studio project (no {DB_NAME}).")
        folder_writable = _writable(folder)
        if not folder_writable and read_only is False:
            raise ProjectError(
                f"The project folder {folder} is read-only; changes cannot be saved."
            )
        holds_lock = False
        if read_only is not True and folder_writable:
            holds_lock = store_lock.acquire(folder)
            if not holds_lock and read_only is False:
                raise ProjectError(
                    f"The project {folder} is open in {store_lock.describe_holder(folder)}; "
                    "close it there first."
                )
        project = cls._connected(folder, holds_lock, folder_writable)
        if project.read_only:
            project.folder_writable = folder_writable
            with project._lock, project._guard():
                project._db.execute("PRAGMA query_only=ON")
        return project

    @classmethod
    def _connected(cls, folder: Path, holds_lock: bool, folder_writable: bool) -> Project:
        try:
            db = _connect(folder / DB_NAME, writable=folder_writable)
        except sqlite3.DatabaseError as exc:
            if holds_lock:
                store_lock.release(folder)
            raise ProjectError(database_problem(exc, folder)) from exc
        project = cls(folder, db, read_only=not holds_lock, holds_lock=holds_lock)
        project.folder_writable = folder_writable
        try:
            with project._guard():
                project._migrate()
        except BaseException:
            project.close()
            raise
        return project

    @property
    def read_only_reason(self) -> str:
        """Why this instance may not write the project, in one sentence ("" when it may)."""
        if not self.read_only:
            return ""
        if not self.folder_writable:
            return f"The project folder {self.folder} is read-only; changes cannot be saved."
        return (
            f"The project {self.folder.name} is open read-only (another Debias Studio, "
            f"{store_lock.describe_holder(self.folder)}, is writing it); changes are not saved."
        )

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._db.close()
            if self._holds_lock:
                store_lock.release(self.folder)

    def __del__(self) -> None:
        # A project dropped without close() must not keep other instances read-only.
        if getattr(self, "_closed", True) is False:
            with contextlib.suppress(Exception):
                self.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _migrate(self) -> None:
        """Bring the schema up to ``SCHEMA_VERSION``, one recorded step at a time, so that a step
        that fails leaves the project at the last step that succeeded."""
        with self._lock:
            version = self._schema_version()
            if version > SCHEMA_VERSION:
                raise ProjectError(
                    f"This project was written by a newer Debias Studio (schema {version}, "
                    f"this version reads up to {SCHEMA_VERSION})."
                )
            if version < SCHEMA_VERSION and self.read_only:
                raise ProjectError(
                    f"The project {self.folder} needs an upgrade (schema {version} to "
                    f"{SCHEMA_VERSION}), but it is open read-only; open it writable first."
                )
            for step in range(version + 1, SCHEMA_VERSION + 1):
                # An explicit BEGIN: sqlite3 opens no transaction of its own before DDL, so an
                # ALTER TABLE would otherwise stay behind when a later statement of the step fails.
                try:
                    self._db.execute("BEGIN")
                    MIGRATIONS[step](self._db)
                    self._db.execute(
                        "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)",
                        (str(step),),
                    )
                    self._db.commit()
                except BaseException as exc:
                    if self._db.in_transaction:
                        self._db.rollback()
                    if isinstance(exc, sqlite3.DatabaseError):
                        raise ProjectError(
                            f"Could not upgrade the project {self.folder} to schema {step}: {exc}."
                        ) from exc
                    raise

    def _schema_version(self) -> int:
        has_meta = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"
        ).fetchone()
        if not has_meta:
            if not self.read_only:
                self._db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            return 0
        row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        return int(row[0]) if row else 0

    # ---- folders -----------------------------------------------------------------------------
    @property
    def embeddings_dir(self) -> Path:
        return _ensure(self.folder / "embeddings")

    @property
    def thumbnails_dir(self) -> Path:
        return _ensure(self.folder / "thumbnails")

    @property
    def runs_dir(self) -> Path:
        return _ensure(self.folder / "runs")

    # ---- transactions and settings ------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything the owner modules write inside commits at once, or nothing: their writes
        join the transaction this thread has open. A write that fails inside rolls the whole
        transaction back when its exception leaves the block."""
        with self._write():
            yield

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """The connection inside a transaction, for core.store's owner modules only. Opened
        while this thread has one open, it joins that one: the outermost commits or rolls
        back (the lock keeps other threads out until then)."""
        self.check_writable()
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self._db
                finally:
                    self._depth -= 1
                return
            self._depth = 1
            try:
                with self._guard(), self._db:
                    yield self._db
            finally:
                self._depth = 0

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of a query, for core.store's owner modules only."""
        with self._lock, self._guard():
            return self._db.execute(sql, params).fetchall()

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """A failure of the database (damaged file, full disk, read-only medium) becomes a
        ``ProjectError`` that says which, for the user; the one place the store maps them."""
        try:
            yield
        except (sqlite3.DatabaseError, pd.errors.DatabaseError) as exc:
            if self.read_only and "readonly" in str(exc):  # the connection refused a write
                raise ProjectError(self.read_only_reason) from exc
            raise ProjectError(database_problem(exc, self.folder)) from exc

    def check_writable(self) -> None:
        """Raise ``ProjectError`` when this instance may not write the project."""
        if self.read_only:
            raise ProjectError(self.read_only_reason)

    def get_meta(self, key: str, default: Any = None) -> Any:
        rows = self._rows("SELECT value FROM meta WHERE key=?", (key,))
        return stored_json(rows[0][0], f"setting '{key}'") if rows else default

    def set_meta(self, key: str, value: Any) -> None:
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, json.dumps(value))
            )

    # ---- dataset -----------------------------------------------------------------------------
    def save_dataset(self, dataset: Dataset) -> None:
        spec = dataset.spec.to_dict()
        spec["root"] = _portable(dataset.root, self.folder)
        spec_relative = _relative(dataset.root, self.folder)
        with self._write() as db:
            table = dataset.table.rename(columns={"image_id": _ESCAPED_IMAGE_ID})
            table.to_sql("images", db, if_exists="replace", index_label="image_id")
            db.execute("DELETE FROM problems")
            db.executemany(
                "INSERT INTO problems(path, problem, detail) VALUES (?, ?, ?)",
                [(p.path, p.problem, p.detail) for p in dataset.problems],
            )
            for key, value in (
                ("dataset_spec", spec),
                ("dataset_root_relative", spec_relative),
                ("classes", dataset.classes),
                ("attributes", dataset.attributes),
            ):
                db.execute(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                    (key, json.dumps(value)),
                )
        self._dataset = dataset

    @property
    def dataset(self) -> Dataset:
        if self._dataset is None:
            self._dataset = self._load_dataset()
        return self._dataset

    def _load_dataset(self) -> Dataset:
        spec_dict = self.get_meta("dataset_spec")
        if spec_dict is None:
            raise ProjectError(f"The project in {self.folder} holds no dataset.")
        try:
            spec = DatasetSpec.from_dict(spec_dict)
        except (TypeError, ValueError) as exc:
            raise ProjectError(
                f"The project's stored dataset description is damaged ({exc})."
            ) from exc
        root = Path(spec.root)
        if not root.is_absolute():
            root = (self.folder / root).resolve()
        elif not root.is_dir():
            relative = self.get_meta("dataset_root_relative")
            moved = (self.folder / relative).resolve() if relative else None
            if moved is not None and moved.is_dir():
                root = moved
        with self._lock, self._guard():
            table = pd.read_sql("SELECT * FROM images ORDER BY image_id", self._db)
        table = table.drop(columns=["image_id"]).reset_index(drop=True)
        table = table.rename(columns={_ESCAPED_IMAGE_ID: "image_id"})
        if "mask" in table.columns:
            table["mask"] = table["mask"].fillna("")
        problems = [ImageProblem(*row) for row in self._rows("SELECT * FROM problems")]
        # A project may come from someone else: paths that lead out are reported, never read.
        known = set(problems)
        problems += [p for p in stored_path_problems(table) if p not in known]
        return Dataset(
            root=root,
            table=table,
            classes=list(self.get_meta("classes", [])),
            attributes=list(self.get_meta("attributes", [])),
            problems=problems,
            spec=spec,
        )


def stored_json(text: str, what: str) -> Any:
    """A value the store keeps as JSON (``what`` names it: "setting 'classes'", "run 'x'"); a
    damaged one becomes a ``ProjectError`` instead of a traceback."""
    try:
        return json.loads(text)
    except (TypeError, ValueError) as exc:
        raise ProjectError(f"The project's stored {what} is damaged (not JSON: {exc}).") from exc


def checked_image_ids(project: Project, image_ids: Iterable[int], action: str) -> list[int]:
    """``image_ids`` sorted and without repeats, or a ``StudioError`` when there are none or one
    is not an image of the project (``action``, e.g. "exclude", completes the message)."""
    ids = sorted({int(i) for i in image_ids})
    n = len(project.dataset)
    if not ids:
        raise StudioError(f"Select at least one image to {action}.")
    if ids[0] < 0 or ids[-1] >= n:
        raise StudioError(f"Image ids must lie between 0 and {n - 1}.")
    return ids


def database_problem(exc: BaseException, folder: object) -> str:
    """One sentence for a failure of the project database in ``folder``: full disk, read-only
    medium, busy, or damaged (the default)."""
    text = str(exc).strip().rstrip(".")
    lowered = text.lower()
    if "disk is full" in lowered or "no space" in lowered:
        return f"The disk holding the project {folder} is full; free some space and try again."
    if "readonly" in lowered or "read-only" in lowered:
        return f"The project folder {folder} is read-only; changes cannot be saved."
    if "locked" in lowered or "busy" in lowered:
        return f"The project database in {folder} is busy (another program holds it): {text}."
    return (
        f"The project database in {folder} is damaged ({text}); restore it from a copy, "
        "or create a new project from the dataset."
    )


def _connect(path: Path, *, writable: bool = True) -> sqlite3.Connection:
    """A connection to the database at ``path``; in a folder that cannot be written, a read-only
    one (immutable when SQLite cannot make its shared-memory file there)."""
    if not writable:
        return _connect_read_only(path)
    db = sqlite3.connect(path, check_same_thread=False, timeout=10.0)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    return db


def _connect_read_only(path: Path) -> sqlite3.Connection:
    uri = path.resolve().as_uri()
    try:
        db = sqlite3.connect(f"{uri}?mode=ro", uri=True, check_same_thread=False, timeout=10.0)
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return db
    except sqlite3.OperationalError:
        # A WAL database needs its -shm file; where it cannot be made nobody writes either.
        return sqlite3.connect(
            f"{uri}?immutable=1", uri=True, check_same_thread=False, timeout=10.0
        )


def _writable(folder: Path) -> bool:
    """Whether files can be created in ``folder`` (tried, not guessed from permission bits)."""
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".write-test-"):
            return True
    except OSError:
        return False


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _relative(root: Path, project_folder: Path) -> str | None:
    """The dataset root relative to the project folder (None across drives)."""
    try:
        return Path(os.path.relpath(root.resolve(), project_folder.resolve())).as_posix()
    except ValueError:
        return None


def _portable(root: Path, project_folder: Path) -> str:
    """Dataset root relative to the project folder when inside it, else absolute."""
    root = root.resolve()
    try:
        return root.relative_to(project_folder.resolve()).as_posix() or "."
    except ValueError:
        return str(root)
