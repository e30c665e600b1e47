"""The concepts table shows each signal with its interval and hides the concepts without a
significant association until asked for them."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from debias_studio.gui import engine
from debias_studio.gui.state import Discovery


def _table():  # type: ignore[no-untyped-def]
    rows = []
    for rank, (concept, verdict) in enumerate(
        [("blue", "shortcut"), ("round", "associated"), ("clock", "not significant")], 1
    ):
        significant = verdict != "not significant"
        rows.append(
            {
                "class": "2",
                "concept": concept,
                "verdict": verdict,
                "significant": significant,
                "rank": rank,
                "score": 1.0 / rank,
                "shift": 1.5 / rank,
                "shift_low": 1.2 / rank,
                "shift_high": 1.8 / rank,
                "q_value": 1e-9 if significant else 0.4,
                "error_gap": -0.9 if rank == 1 else np.nan,
                "error_gap_low": -1.3 if rank == 1 else np.nan,
                "error_gap_high": -0.5 if rank == 1 else np.nan,
            }
        )
    return engine.discovery_table({"rows": rows})


def _cell(panel, row: int, key: str) -> str:  # type: ignore[no-untyped-def]
    column = panel.model.keys.index(key)
    return panel.proxy.index(row, column).data(Qt.ItemDataRole.DisplayRole)


def test_not_significant_concepts_are_hidden_until_asked_for(window) -> None:  # type: ignore[no-untyped-def]
    panel = window.panels["concepts_dock"]
    panel._show_discovery(Discovery.from_table(_table()))
    assert panel.proxy.rowCount() == 2
    assert "2 of 3" in panel.info.text() and "hidden" in panel.info.text()
    assert _cell(panel, 0, "shift") == "+1.50 [+1.20, +1.80]"
    assert _cell(panel, 0, "error_gap") == "-0.90 [-1.30, -0.50]"
    assert _cell(panel, 1, "error_gap") == ""
    assert _cell(panel, 0, "verdict") == "shortcut"
    assert len(panel._chart_rows()) == 2
    panel.show_all.setChecked(True)
    assert panel.proxy.rowCount() == 3
    assert _cell(panel, 2, "concept") == "clock" and _cell(panel, 2, "q_value") == "0.4"
    assert len(panel._chart_rows()) == 3
    panel.class_box.setCurrentIndex(panel.class_box.findData("2"))  # no session: no class list
    panel.proxy.set_class("3")
    assert panel.proxy.rowCount() == 0
