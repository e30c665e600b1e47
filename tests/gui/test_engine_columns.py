"""gui.engine restates a few engine constants to stay light to import; keep them equal."""

from debias_studio.core.concepts.result import ROW_COLUMNS
from debias_studio.core.train.config import SUGGESTED
from debias_studio.gui import engine


def test_gui_discovery_columns_match_the_engine() -> None:
    assert engine.ROW_COLUMNS == ROW_COLUMNS


def test_gui_training_suggestions_match_the_engine() -> None:
    assert engine.TRAINING_SUGGESTIONS == SUGGESTED
