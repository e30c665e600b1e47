"""``debias-studio gui``: its arguments reach gui.app.run; the demo lives in a per-user folder."""

from __future__ import annotations

from pathlib import Path

import debias_studio.gui.app
from debias_studio.cli.main import main


def test_gui_command_passes_project_and_demo(monkeypatch, tmp_path: Path) -> None:
    seen: list[tuple] = []
    monkeypatch.setattr(
        debias_studio.gui.app, "run", lambda project, demo=False: seen.append((project, demo)) or 0
    )
    assert main(["gui", "--demo", "backgrounds"]) == 0
    assert main(["gui", str(tmp_path)]) == 0
    assert seen == [(None, "backgrounds"), (tmp_path, False)]


def test_demo_folder_is_per_user(monkeypatch, tmp_path: Path) -> None:
    from debias_studio.gui.settings import demo_project_folder

    monkeypatch.setenv("DEBIAS_STUDIO_DATA", str(tmp_path))
    assert demo_project_folder("digits") == tmp_path / "demo-digits"
    monkeypatch.delenv("DEBIAS_STUDIO_DATA")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert (
        demo_project_folder("backgrounds")
        == tmp_path / "xdg" / "debias-studio" / "demo-backgrounds"
    )
