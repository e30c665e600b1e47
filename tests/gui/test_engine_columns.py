"""gui.engine restates the discovery row columns to stay light to import; keep them equal."""

from core.concepts.result import ROW_COLUMNS
from gui import engine


def test_gui_discovery_columns_match_the_engine() -> None:
    assert engine.ROW_COLUMNS == ROW_COLUMNS
