"""SelecMix picks the contradicting partner, and its biased contrastive loss behaves."""

from __future__ import annotations

import numpy as np
import torch

from debias_studio.core.train.methods.base import Batch
from debias_studio.core.train.methods.selecmix import (
    annotation_partners,
    contradicting_share,
    contrastive_partners,
    mix_pairs,
    supcon_gsc_loss,
)


def _batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    # bias features on a line: rows 0-2 near 0, rows 3-5 near 1; labels cut across them.
    bias = torch.tensor([0.0, 0.1, 0.2, 1.0, 1.1, 0.9])
    y = torch.tensor([0, 0, 1, 1, 1, 0])
    v = torch.tensor([0, 0, 0, 1, 1, 1])
    return bias, y, v


def test_contrastive_partner_same_label_is_the_most_dissimilar_bias() -> None:
    bias, y, _ = _batch()
    sim = -(bias[:, None] - bias[None, :]).abs()
    partner = contrastive_partners(sim, y, same_label=True)
    # row 0 (label 0, bias 0.0): label-0 rows are 1 (0.1) and 5 (0.9) -> most dissimilar is 5
    assert partner.tolist() == [5, 5, 4, 2, 2, 0]


def test_contrastive_partner_other_label_is_the_most_similar_bias() -> None:
    bias, y, _ = _batch()
    sim = -(bias[:, None] - bias[None, :]).abs()
    partner = contrastive_partners(sim, y, same_label=False)
    # row 0 (label 0): label-1 rows 2 (0.2), 3, 4 -> most similar 2; row 5 (label 0, 0.9) -> 3
    assert partner.tolist() == [2, 2, 1, 5, 5, 3]


def test_annotation_partners_contradict_the_annotation() -> None:
    _, y, v = _batch()
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        intra = annotation_partners(y, v, True, gen)
        inter = annotation_partners(y, v, False, gen)
        for i in range(len(y)):
            j, k = int(intra[i]), int(inter[i])
            assert y[j] == y[i] and v[j] != v[i]
            assert y[k] != y[i] and v[k] == v[i]


def test_annotation_partners_come_from_the_pool_beyond_the_batch() -> None:
    # the batch (rows 0-1) holds no contradicting partner; the pool's extra rows 2-4 do
    y, v = torch.tensor([0, 1]), torch.tensor([0, 1])
    pool_y, pool_v = torch.tensor([0, 1, 0, 1, 1]), torch.tensor([0, 1, 1, 0, 1])
    gen = torch.Generator().manual_seed(0)
    assert annotation_partners(y, v, True, gen, pool_y, pool_v).tolist() == [2, 3]
    assert annotation_partners(y, v, False, gen, pool_y, pool_v).tolist() == [3, 2]


def test_contradicting_share_counts_pairs_that_contradict_the_annotation() -> None:
    batch = Batch(
        x=torch.zeros(4, 1),
        y=torch.tensor([0, 0, 1, 1]),
        v=torch.tensor([0, 0, 1, -1]),
        ids=torch.arange(4),
    )
    pool_values = np.array([0, 0, 1, -1, 1, 0])
    partner = torch.tensor([4, 1, 5, 2])  # row 1 unpaired, row 3's value unknown
    paired = partner != torch.arange(4)
    # same label: row 0 -> value 1 (contradicts), row 2 -> value 0 (contradicts): 2 of 2
    assert contradicting_share(batch, pool_values, partner, paired, same_label=True) == 1.0
    # other label: the pair must share the value, which neither does
    assert contradicting_share(batch, pool_values, partner, paired, same_label=False) == 0.0
    nobody = torch.zeros(4, dtype=torch.bool)
    assert contradicting_share(batch, pool_values, partner, nobody, same_label=True) is None


def test_a_row_without_candidates_keeps_itself_and_its_label() -> None:
    y = torch.tensor([0, 1])
    v = torch.tensor([0, 1])
    gen = torch.Generator().manual_seed(0)
    partner = annotation_partners(y, v, True, gen)
    assert partner.tolist() == [0, 1]
    x = torch.tensor([[1.0], [2.0]])
    mixed, target = mix_pairs(x, y, partner, gen)
    assert torch.equal(mixed, x) and torch.equal(target, y)


def test_mix_uses_the_partners_label_with_lambda_at_most_one_half() -> None:
    x = torch.tensor([[0.0], [10.0]])
    y = torch.tensor([0, 1])
    mixed, target = mix_pairs(x, y, torch.tensor([1, 0]), torch.Generator().manual_seed(1))
    assert target.tolist() == [1, 0]
    assert mixed[0, 0] >= 5.0 and mixed[1, 0] <= 5.0  # the partner dominates


def test_supcon_loss_is_lower_when_labels_cluster() -> None:
    y = torch.tensor([0, 0, 1, 1])
    clustered = torch.nn.functional.normalize(
        torch.tensor([[1.0, 0.1], [1.0, -0.1], [-1.0, 0.1], [-1.0, -0.1]]), dim=1
    )
    mixed = clustered[[0, 2, 1, 3]]
    assert supcon_gsc_loss(clustered, y) < supcon_gsc_loss(mixed, y)
