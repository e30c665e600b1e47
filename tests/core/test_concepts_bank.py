from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from debias_studio.core.concepts.bank import BUILTIN_BANK, ConceptBank, bank_from_dict, load_bank
from debias_studio.core.concepts.text_cache import concept_text_vectors, text_cache_file
from debias_studio.core.errors import StudioError
from tests.core.test_concepts_support import FakeEncoder


def test_builtin_bank_has_the_promised_vocabulary() -> None:
    bank = load_bank()
    assert len(bank) >= 300
    assert len(set(bank.names)) == len(bank.names)
    must = {
        "colour": "red green blue yellow orange purple pink cyan brown white black gray",
        "texture": "grass gravel brick water sand wood stone sky",
        "shape": "star heart circle triangle square",
        "digit": "zero one two three four five six seven eight nine",
        "artefact": "watermark text ruler blurry",
    }
    for category, words in must.items():
        assert set(words.split()) <= set(bank.categories[category]), category
    for category in ("nature", "city", "household", "people"):
        assert len(bank.categories[category]) >= 10
    assert len(bank.prompt_templates) >= 3
    assert bank.prompts_for("red")[0] == bank.prompt_templates[0].format("red")


def test_edits_round_trip_through_json(tmp_path: Path) -> None:
    bank = load_bank()
    bank.add_concept("surgical pen", "medical", prompts=["a purple surgical pen mark"])
    bank.add_concept("lab stamp", "lab", exemplar_folder=tmp_path)
    bank.edit_concept("red", new_name="crimson")
    bank.edit_concept("green", category="nature")
    bank.remove_concept("blue")
    bank.rename_category("artefact", "artifacts")
    path = tmp_path / "bank.json"
    bank.save(path)
    again = load_bank(path)
    assert again.names == bank.names
    assert again.prompts_for("surgical pen") == ["a purple surgical pen mark"]
    assert again.category_of("green") == "nature"
    assert again.category_of("lab stamp") == "lab"
    assert Path(again.exemplars["lab stamp"]) == tmp_path
    assert "blue" not in again and "crimson" in again
    assert "watermark" in again.categories["artifacts"]


@pytest.mark.parametrize(
    "data, message",
    [
        ({"version": 1, "categories": {}}, "no concepts"),
        ({"version": 1, "categories": {"a": []}}, "no concepts"),
        ({"categories": {"a": ["x"], "b": ["x"]}}, "appears twice"),
        ({"categories": {"a": ["x"]}, "prompt_templates": ["no slot"]}, "'{}'"),
        ({"categories": {"a": "x"}}, "list of words"),
        ({"categories": {"a": ["x"]}, "prompts": {"y": ["p"]}}, "unknown concept"),
        ([], "categories"),
    ],
)
def test_bad_banks_are_refused(data: object, message: str) -> None:
    with pytest.raises(StudioError, match=message):
        bank_from_dict(data)


def test_bad_edits_change_nothing() -> None:
    bank = load_bank()
    before = bank.to_dict()
    with pytest.raises(StudioError):
        bank.add_concept("red", "colour")
    with pytest.raises(StudioError):
        bank.add_concept("  ", "colour")
    with pytest.raises(StudioError):
        bank.edit_concept("red", new_name="green")
    with pytest.raises(StudioError):
        bank.remove_concept("no such concept")
    with pytest.raises(StudioError):
        bank.add_concept("x", "colour", prompts=[])
    assert bank.to_dict() == before


def test_missing_or_broken_bank_file(tmp_path: Path) -> None:
    with pytest.raises(StudioError, match="does not exist"):
        load_bank(tmp_path / "nope.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    with pytest.raises(StudioError, match="not valid JSON"):
        load_bank(broken)


def test_builtin_file_is_the_contract_format() -> None:
    data = json.loads(BUILTIN_BANK.read_text(encoding="utf-8"))
    assert data["version"] == 1 and isinstance(data["categories"], dict)


def test_text_vectors_average_the_ensemble_and_are_cached(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    words = {w: v / np.linalg.norm(v) for w, v in zip("ab", rng.normal(size=(2, 16)), strict=True)}
    encoder = FakeEncoder(words)
    bank = ConceptBank(["a photo of {}.", "{}", "art of {}"], {"letters": ["a", "b"]})
    cache = text_cache_file(tmp_path, "model/with:odd chars")
    vectors = concept_text_vectors(bank, encoder, cache)
    assert encoder.calls == 6
    prompts = encoder(bank.prompts_for("b"))
    expected = prompts.mean(axis=0) / np.linalg.norm(prompts.mean(axis=0))
    np.testing.assert_allclose(vectors[1], expected, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    encoder.calls = 0
    again = concept_text_vectors(bank, encoder, cache)
    assert encoder.calls == 0  # every prompt came from the cache
    np.testing.assert_array_equal(again, vectors)
    bank.add_concept("a b", "letters")
    concept_text_vectors(bank, encoder, cache)
    assert encoder.calls == 3  # only the new concept's prompts


def test_empty_concept_list_is_refused() -> None:
    with pytest.raises(StudioError, match="empty"):
        concept_text_vectors(ConceptBank(categories={"x": []}), FakeEncoder({"a": np.ones(4)}))
