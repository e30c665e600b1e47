"""Done-when of discovery (issue 14): on both demos, with the demo CLIP and the built-in concept
bank, on EACH of seeds 0-9, the planted confounder ranks first for at least 90 % of the classes
and in the top 5 for all of them, and no class's own object is flagged as its shortcut. And the
loop closes: against a finished run's errors, the counterfactual cure shrinks the planted
colours' error gap that ERM shows. Needs the bundled demo CLIP (skipped without it).

Small demos keep it fast (``PER_CLASS``), and every project reuses one text cache, so the
concept bank is encoded once. Embeddings are fp32 whatever the CPU offers: int8 or bf16 paths
differ between chips (AMX, AVX512-BF16, emulated), and a test must not depend on them.

A planted value counts under any name the demo CLIP is taught for it
(``planted_value_names``): the brick background is scikit-image's photograph of a brick wall,
captioned "brick" and "wall" alike, so "wall" for the class on bricks is a right discovery; the
exact planted name must still be in the top 5 of every class.

Measured (this file's settings, 2026-12-01, fp32), with the evidence order of
``core.concepts.statistics`` (significant non-core rows by the low end of the shift's interval):
precision@1 and @5 1.0 on all ten seeds of both demos; exact-name precision@1 1.0 except the
objects' seed 6 (2/3: heart's "wall" and "brick" tie at shift low end 1.55), @5 1.0 everywhere.
Ordering shortcut verdicts first gave digits precision@1 0.9 on seeds 0, 8 and 9 (a chance
"shortcut" over two misclassified images outranked the planted colour).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from debias_studio.core.concepts.discovery import discover_arrays
from debias_studio.core.concepts.evaluate import evaluation, planted_concepts
from debias_studio.core.concepts.project import (
    LazyModel,
    concept_vectors,
    discover,
    resolve_bank,
)
from debias_studio.core.demo.clip.captions import planted_value_names
from debias_studio.core.demo.project import CONFOUNDER_COLUMN, create_demo_project
from debias_studio.core.embed.engine import cached_or_embedded
from debias_studio.core.jobs import run_quiet
from debias_studio.core.resources import DEMO_MODEL_DIR

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (DEMO_MODEL_DIR / "open_clip_model.safetensors").is_file(),
        reason="the demo CLIP (resources/models/demo-clip) has not been trained yet",
    ),
]
SEEDS = range(10)
PER_CLASS = {"digits": 40, "backgrounds": 160}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("demo_discovery")


@pytest.fixture(scope="module", autouse=True)
def fp32_embeddings() -> Any:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEBIAS_STUDIO_CPU_PRECISION", "fp32")
        yield


def _with_text_cache(project: Any, workdir: Path) -> Path:
    """Seed the project's text cache from the shared one (the bank is encoded once)."""
    shared, own = workdir / "text-cache", project.embeddings_dir / "text"
    if shared.is_dir():
        shutil.copytree(shared, own, dirs_exist_ok=True)
    return own


def _found(kind: str, seed: int, workdir: Path) -> dict[str, Any]:
    folder = workdir / f"{kind}-{seed}"
    project = run_quiet(
        create_demo_project(folder, kind=kind, seed=seed, per_class=PER_CLASS[kind])
    )
    try:
        own_cache = _with_text_cache(project, workdir)
        result = run_quiet(discover(project, "demo", device="cpu"))
        shutil.copytree(own_cache, workdir / "text-cache", dirs_exist_ok=True)
        truth = planted_concepts(project, CONFOUNDER_COLUMN[kind])
        return evaluation(result, truth, planted_value_names())
    finally:
        project.close()


@pytest.mark.parametrize(
    ("kind", "seed"), [(k, s) for k in ("digits", "backgrounds") for s in SEEDS]
)
def test_planted_confounder_ranks_first_on_every_seed(kind: str, seed: int, workdir: Path) -> None:
    found = _found(kind, seed, workdir)
    assert found["precision_at_1"] >= 0.9, found
    assert found["precision_at_5"] == 1.0, found
    assert found["exact_precision_at_5"] == 1.0, found
    assert all(rank > 5 for rank in found["own_object_rank"].values()), found


def test_no_concept_is_significant_once_the_demo_labels_are_shuffled(workdir: Path) -> None:
    """The same images, concepts and probe, with the class labels of the training images
    permuted: thousands of (class, concept) tests, none significant at a 5 % FDR."""
    folder = workdir / "digits-shuffled"
    project = run_quiet(create_demo_project(folder, kind="digits", seed=0, per_class=40))
    try:
        _with_text_cache(project, workdir)
        embeddings = run_quiet(cached_or_embedded(project, "demo", device="cpu"))
        bank = resolve_bank(project, None)
        vectors = concept_vectors(project, bank, LazyModel("demo", "cpu"), embeddings)
        dataset = project.dataset
        rows = np.flatnonzero(np.asarray(embeddings.valid) & dataset.split_mask("train"))
        labels = np.asarray(dataset.labels, dtype=np.int64).copy()

        def significant_rows() -> int:
            job = discover_arrays(
                embeddings.vectors,
                labels,
                vectors,
                classes=list(dataset.classes),
                concepts=bank.names,
                rows=rows,
            )
            return int(run_quiet(job).significant.sum())

        assert significant_rows() >= len(dataset.classes)  # with the true labels: found
        labels[rows] = np.random.default_rng(0).permutation(labels[rows])
        assert significant_rows() == 0
    finally:
        project.close()
