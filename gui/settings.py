"""User settings that outlive a session (QSettings): recent projects, window layout, model, device.

Everything the app remembers about the *user* lives here; everything about a *project* lives in
its project store. Tests point QSettings at a temporary folder (tests/gui/conftest.py), so a test
never reads or writes the real user's settings.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

ORGANISATION = "DebiasStudio"
APPLICATION = "debias-studio"
MAX_RECENT = 10


def qsettings() -> QSettings:
    """The one settings store (INI format, so tests can redirect it with ``QSettings.setPath``)."""
    return QSettings(
        QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANISATION, APPLICATION
    )


def user_data_dir() -> Path:
    """Per-user data folder (demo projects live here); follows XDG_DATA_HOME on Linux."""
    override = os.environ.get("DEBIAS_STUDIO_DATA")
    if override:
        return Path(override)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "debias-studio"


def demo_project_folder(kind: str) -> Path:
    """Where the one-click demo of ``kind`` ('digits' or 'backgrounds') is created and reused."""
    return user_data_dir() / f"demo-{kind}"


class Settings:
    """Typed access to the values the app keeps between sessions."""

    def __init__(self) -> None:
        self._store = qsettings()

    # ---- recent projects -----------------------------------------------------------------
    def recent_projects(self) -> list[Path]:
        value = self._store.value("recent_projects", [])
        if isinstance(value, str):
            value = [value]
        return [Path(v) for v in (value or []) if v]

    def add_recent_project(self, folder: Path) -> None:
        folder = Path(folder).resolve()
        items = [p for p in self.recent_projects() if p != folder]
        items.insert(0, folder)
        self._store.setValue("recent_projects", [str(p) for p in items[:MAX_RECENT]])

    def remove_recent_project(self, folder: Path) -> None:
        folder = Path(folder).resolve()
        items = [str(p) for p in self.recent_projects() if p != folder]
        self._store.setValue("recent_projects", items)

    # ---- window layout -------------------------------------------------------------------
    def window_state(self) -> tuple[QByteArray | None, QByteArray | None]:
        geometry = self._store.value("window/geometry")
        state = self._store.value("window/state")
        return (
            geometry if isinstance(geometry, QByteArray) else None,
            state if isinstance(state, QByteArray) else None,
        )

    def save_window_state(self, geometry: QByteArray, state: QByteArray) -> None:
        self._store.setValue("window/geometry", geometry)
        self._store.setValue("window/state", state)

    # ---- plain values --------------------------------------------------------------------
    def get(self, key: str, default: Any = None) -> Any:
        value = self._store.value(key, default)
        if isinstance(default, bool) and isinstance(value, str):
            return value.lower() == "true"
        if isinstance(default, int) and not isinstance(default, bool) and isinstance(value, str):
            return int(value)
        if isinstance(default, float) and isinstance(value, str):
            return float(value)
        return value

    def set(self, key: str, value: Any) -> None:
        self._store.setValue(key, value)

    @property
    def model_name(self) -> str:
        return str(self.get("model", "demo"))

    @property
    def device(self) -> str:
        """'auto', 'cpu' or 'cuda'."""
        return str(self.get("device", "auto"))

    def sync(self) -> None:
        self._store.sync()
