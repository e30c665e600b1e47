"""Concept discovery, DISC-style with CLIP (ALGORITHMS.md section 1).

Concepts are words (text embeddings averaged over a prompt ensemble) or exemplar folders (CAVs);
their scores on the images are standardised and streamed (``scoring``); a reference probe
(``probe``) and per-class environments (``environments``) feed three signals per (class,
concept) (``signals``), ranked together (``discovery``). ``project`` runs it on a project.
"""

from debias_studio.core.concepts.bank import BUILTIN_BANK, ConceptBank, bank_from_dict, load_bank
from debias_studio.core.concepts.discovery import DiscoveryParams, discover_arrays
from debias_studio.core.concepts.project import (
    concept_scores,
    discover,
    latest_discovery,
    project_bank,
    save_project_bank,
    standardised_scores,
    store_discovery,
)
from debias_studio.core.concepts.result import ROW_COLUMNS, DiscoveryResult
from debias_studio.core.concepts.signals import EXPLANATIONS
from debias_studio.core.train.disc_concepts import cure_exemplars

__all__ = [
    "BUILTIN_BANK",
    "EXPLANATIONS",
    "ROW_COLUMNS",
    "ConceptBank",
    "DiscoveryParams",
    "DiscoveryResult",
    "bank_from_dict",
    "concept_scores",
    "cure_exemplars",
    "discover",
    "discover_arrays",
    "latest_discovery",
    "load_bank",
    "project_bank",
    "save_project_bank",
    "standardised_scores",
    "store_discovery",
]
