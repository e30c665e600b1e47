"""The project store (ARCHITECTURE.md, rule 5).

A project is a folder::

    project.sqlite      WAL-mode database: dataset table, problems, confounders, annotations,
                        discovery results, runs, settings; ``meta.schema_version``
    embeddings/         float16 .npy arrays keyed by model id (see core.embed)
    thumbnails/         disk thumbnail cache
    runs/<id>/          config, metrics and safetensors checkpoints of a training run

Every change is committed when it happens (``Project.transaction``); nothing waits for a "Save".
Image paths are stored relative to the dataset root, and the dataset root relative to the project
folder when it lies inside it, so a project can be moved or copied to another machine.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from core.dataset import Dataset, DatasetSpec, ImageProblem
from core.errors import ProjectError

DB_NAME = "project.sqlite"
SCHEMA_VERSION = 1

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

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: dict[int, Migration] = {1: lambda db: db.executescript(_V1)}
"""Schema version -> step that upgrades from version-1. Append; never edit a released step."""


class Project:
    """An open project folder. Thread-safe: one connection guarded by a lock."""

    def __init__(self, folder: Path, db: sqlite3.Connection) -> None:
        self.folder = folder
        self.db = db
        self._lock = threading.RLock()
        self._dataset: Dataset | None = None

    # ---- opening -----------------------------------------------------------------------------
    @classmethod
    def create(cls, folder: Path | str, dataset: Dataset) -> Project:
        """Create a new project folder holding ``dataset``. Refuses an existing project."""
        folder = Path(folder)
        if (folder / DB_NAME).exists():
            raise ProjectError(f"A project already exists in {folder}.")
        folder.mkdir(parents=True, exist_ok=True)
        project = cls(folder, _connect(folder / DB_NAME))
        project._migrate()
        project.save_dataset(dataset)
        return project

    @classmethod
    def open(cls, folder: Path | str) -> Project:
        folder = Path(folder)
        if not (folder / DB_NAME).is_file():
            raise ProjectError(f"{folder} is not a Debias Studio project (no {DB_NAME}).")
        try:
            project = cls(folder, _connect(folder / DB_NAME))
            project._migrate()
        except sqlite3.DatabaseError as exc:
            raise ProjectError(f"The project database in {folder} is damaged: {exc}.") from exc
        return project

    def close(self) -> None:
        with self._lock:
            self.db.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _migrate(self) -> None:
        with self._lock:
            self.db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise ProjectError(
                    f"This project was written by a newer Debias Studio (schema {version}, "
                    f"this version reads up to {SCHEMA_VERSION})."
                )
            for step in range(version + 1, SCHEMA_VERSION + 1):
                with self.db:
                    MIGRATIONS[step](self.db)
                    self.db.execute(
                        "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)",
                        (str(step),),
                    )

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
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Commit everything done inside at once, or nothing."""
        with self._lock, self.db:
            yield self.db

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self.db.execute(sql, params).fetchall()

    def get_meta(self, key: str, default: Any = None) -> Any:
        rows = self.query("SELECT value FROM meta WHERE key=?", (key,))
        return json.loads(rows[0][0]) if rows else default

    def set_meta(self, key: str, value: Any) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, json.dumps(value))
            )

    # ---- dataset -----------------------------------------------------------------------------
    def save_dataset(self, dataset: Dataset) -> None:
        spec = dataset.spec.to_dict()
        spec["root"] = _portable(dataset.root, self.folder)
        with self.transaction() as db:
            dataset.table.to_sql("images", db, if_exists="replace", index_label="image_id")
            db.execute("DELETE FROM problems")
            db.executemany(
                "INSERT INTO problems(path, problem, detail) VALUES (?, ?, ?)",
                [(p.path, p.problem, p.detail) for p in dataset.problems],
            )
            for key, value in (
                ("dataset_spec", spec),
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
        spec = DatasetSpec.from_dict(spec_dict)
        root = Path(spec.root)
        if not root.is_absolute():
            root = (self.folder / root).resolve()
        with self._lock:
            table = pd.read_sql("SELECT * FROM images ORDER BY image_id", self.db)
        table = table.drop(columns=["image_id"]).reset_index(drop=True)
        if "mask" in table.columns:
            table["mask"] = table["mask"].fillna("")
        problems = [ImageProblem(*row) for row in self.query("SELECT * FROM problems")]
        return Dataset(
            root=root,
            table=table,
            classes=list(self.get_meta("classes", [])),
            attributes=list(self.get_meta("attributes", [])),
            problems=problems,
            spec=spec,
        )


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, check_same_thread=False, timeout=10.0)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    return db


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _portable(root: Path, project_folder: Path) -> str:
    """Dataset root relative to the project folder when inside it, else absolute."""
    root = root.resolve()
    try:
        return root.relative_to(project_folder.resolve()).as_posix() or "."
    except ValueError:
        return str(root)
