"""Concept scores s_ik = z_i . t_k, standardised per concept, without an N x K matrix.

Everything discovery needs from the scores is either *linear* in z (a concept's mean and variance,
class means, gradient projections: computed from streamed d-sized sums, never per image) or needs
a whole column of one concept (the association AUC, the top images). For the latter the concepts
are processed in blocks sized to a memory budget: a block holds B full columns (B x N float32),
B = budget / (bytes per element x N), so the peak stays flat as K grows and B shrinks as N grows.
Per block, a class's top images come from argpartition on a contiguous view (rows are sorted by
class) and its AUC from a histogram (``AUC_BINS``). Image rows are read in chunks from the
float16 (memory-mapped) embeddings, or kept as float32 when they fit in half the budget.
Rows that do not fit are never held whole: a block then holds no column either, it adds up its
histograms, group moments and running top images chunk by chunk of rows (its memory is set by a
chunk, so the blocks are wide and the rows are read once per block, whatever N).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

CHUNK_ROWS = 32_768
DEFAULT_BUDGET = 512 * 2**20
BYTES_PER_BLOCK_ELEMENT = 28
"""Score (float32), histogram key and key offset (int64 each) of one (image, concept) element of
a block, its square for the group moments (float32), plus slack for a class's top-k partition
indices."""


@dataclass(frozen=True)
class ConceptStats:
    """Mean and standard deviation of each concept's raw score over the scored images."""

    mean: np.ndarray  # (K,) float64
    std: np.ndarray  # (K,) float64; 0 for a concept whose score is constant


class RowSource:
    """Rows ``rows`` of an (N, d) embedding array as float32 chunks; cached when small enough."""

    def __init__(self, vectors: np.ndarray, rows: np.ndarray, budget: int = DEFAULT_BUDGET):
        self.vectors = vectors
        self.rows = np.asarray(rows, dtype=np.int64)
        self.dim = int(vectors.shape[1])
        self._cache: np.ndarray | None = None
        if len(self.rows) * self.dim * 4 <= budget // 2:
            self._cache = self._take(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def cached(self) -> np.ndarray | None:
        """All rows as float32 when they fit in half the budget, else None (read by chunks)."""
        return self._cache

    def chunks(self, size: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """(start position within ``rows``, float32 rows) chunk by chunk (``CHUNK_ROWS``)."""
        size = size or CHUNK_ROWS
        for start in range(0, len(self.rows), size):
            if self._cache is not None:
                yield start, self._cache[start : start + size]
            else:
                yield start, self._take(self.rows[start : start + size])

    def take(self, positions: np.ndarray) -> np.ndarray:
        """The rows at ``positions`` (into ``rows``) as float32: a copy of those rows only, so a
        probe's sample or one class's piece is read without materialising all N rows."""
        if self._cache is not None:
            return self._cache[positions]
        return self._take(self.rows[positions])

    def _take(self, rows: np.ndarray) -> np.ndarray:
        if len(rows) and np.all(np.diff(rows) == 1):
            part = self.vectors[int(rows[0]) : int(rows[-1]) + 1]
        else:
            part = self.vectors[rows]
        return np.asarray(part, dtype=np.float32)


def embedding_moments(source: RowSource) -> tuple[np.ndarray, np.ndarray]:
    """Mean (d,) and covariance (d, d) of the rows, streamed: float32 products per chunk summed
    in float64, on rows shifted by the first row (so a constant direction has exactly zero
    variance and no precision is lost to a large common mean)."""
    total = np.zeros(source.dim)
    outer = np.zeros((source.dim, source.dim))
    shift: np.ndarray | None = None
    for _start, chunk in source.chunks():
        if shift is None:
            shift = chunk[0].copy()
        shifted = chunk - shift
        total += shifted.sum(axis=0, dtype=np.float64)
        outer += shifted.T @ shifted
    n = max(len(source), 1)
    mean = total / n
    origin = shift.astype(np.float64) if shift is not None else np.zeros(source.dim)
    return origin + mean, outer / n - np.outer(mean, mean)


def concept_stats(source: RowSource, concepts: np.ndarray) -> ConceptStats:
    """Per-concept mean and std of z . t_k from the embedding moments (no N x K pass)."""
    mean_z, cov = embedding_moments(source)
    t = np.asarray(concepts, dtype=np.float64)
    variance = ((t @ cov) * t).sum(axis=1)
    std = np.sqrt(np.clip(variance, 0.0, None))
    std[std < 1e-7 * max(float(np.abs(t).max(initial=0.0)), 1e-30)] = 0.0
    return ConceptStats(mean=t @ mean_z, std=std)


AUC_BINS = 4096
AUC_RANGE = 8.0
"""Association AUCs come from per-class histograms of the standardised score: 4,096 bins over
+-8 standard deviations (bin width 0.004 sd). Equal scores share a bin and count one half, as in
the exact Mann-Whitney statistic; scores closer than a bin also count one half, so the AUC is
exact up to pairs closer than 0.004 sd. A histogram costs O(n) per concept where ranking would
cost O(n log n) and several times the memory."""
BINS_PER_SD = AUC_BINS / (2 * AUC_RANGE)


@dataclass
class BlockScores:
    """What one block of concepts contributes: per-class score histograms, top images and, when
    groups are given, each group's sum and sum of squares of the standardised scores."""

    block: slice
    histograms: np.ndarray  # (B, C, AUC_BINS) int64
    top_positions: np.ndarray  # (C, B, m) positions into the row order, best first; -1 pad
    top_scores: np.ndarray  # (C, B, m) raw scores of those; -inf pad
    group_sums: np.ndarray | None = None  # (B, G) float64
    group_squares: np.ndarray | None = None  # (B, G) float64


def block_size(
    n_rows: int, n_concepts: int, n_groups: int = 1, budget: int = DEFAULT_BUDGET
) -> int:
    """Concepts per block so that one block's working arrays fit in half the budget."""
    per_concept = max(n_rows, 1) * BYTES_PER_BLOCK_ELEMENT + n_groups * AUC_BINS * 8 * 2
    return int(max(1, min(n_concepts, (budget // 2) // per_concept)))


def scan_block_size(
    source: RowSource, n_concepts: int, n_classes: int, budget: int = DEFAULT_BUDGET
) -> int:
    """Concepts per block of ``scan_concepts``: whole columns when the rows are cached, else
    one row chunk's worth (histograms, their per-chunk count and the chunk's scores and keys),
    so that the block, not N, sets the memory and the rows are read once per block."""
    if source.cached is not None:
        return block_size(len(source), n_concepts, n_classes, budget)
    return block_size(min(len(source), CHUNK_ROWS), n_concepts, n_classes, budget)


def score_blocks(
    source: RowSource, concepts: np.ndarray, size: int, *, reuse: bool = False
) -> Iterator[tuple[slice, np.ndarray]]:
    """Yield (concept slice, raw scores (B, n_rows) float32) ``size`` concepts at a time.

    With ``reuse`` every block is written into the same buffer (the caller must be done with a
    block before asking for the next): at 100k images a block is tens of MB, and a fresh
    allocation per block costs its page faults again each time."""
    t = np.asarray(concepts, dtype=np.float32)
    buffer = np.empty((min(size, len(t)), len(source)), dtype=np.float32) if reuse else None
    for start in range(0, len(t), size):
        block = slice(start, min(start + size, len(t)))
        b = block.stop - block.start
        out = buffer[:b] if buffer is not None else np.empty((b, len(source)), np.float32)
        if source.cached is not None:  # one BLAS call straight into the block, no temporaries
            np.matmul(t[block], source.cached.T, out=out)
        else:
            for row0, chunk in source.chunks():
                out[:, row0 : row0 + len(chunk)] = t[block] @ chunk.T
        yield block, out


def scan_concepts(
    source: RowSource,
    concepts: np.ndarray,
    stats: ConceptStats,
    class_bounds: np.ndarray,
    n_top: int,
    budget: int = DEFAULT_BUDGET,
    *,
    groups: np.ndarray | None = None,
    n_groups: int | None = None,
) -> Iterator[BlockScores]:
    """Every per-(image, concept) quantity of discovery, block by block.

    The source's rows must be sorted by class, ``class_bounds`` (C + 1,) the start of each
    class in that order, so a class is a contiguous view of a block (no copies per class).
    Histograms are per class (the rank-sum test's input). With ``groups`` (a group index <
    ``n_groups`` per row, e.g. class x correctness) each group's sum and sum of squares of the
    standardised scores come too, exactly, from two BLAS products with the group indicator
    (N x G): histograms per group would cost G x AUC_BINS per concept, more than the images
    themselves below ~80,000 of them (measured: 1.8x the scan's CPU time at 10,000 images).
    The score, square and histogram-key buffers are allocated once and reused by every block."""
    n_classes = len(class_bounds) - 1
    size = scan_block_size(source, len(concepts), n_classes, budget)
    if source.cached is None:
        chunked = _scan_by_row_chunks(
            source, concepts, stats, class_bounds, n_top, size, groups, n_groups
        )
        yield from chunked
        return
    keys = HistogramKeys(np.repeat(np.arange(n_classes), np.diff(class_bounds)), n_classes, size)
    moments = GroupMoments(groups, n_groups, size) if groups is not None else None
    for block, raw in score_blocks(source, concepts, size, reuse=True):
        b = raw.shape[0]
        top_pos = np.full((n_classes, b, n_top), -1, dtype=np.int64)
        top_val = np.full((n_classes, b, n_top), -np.inf, dtype=np.float32)
        for c in range(n_classes):
            lo, hi = int(class_bounds[c]), int(class_bounds[c + 1])
            pos, val = top_in_rows(raw[:, lo:hi], n_top)
            top_pos[c, :, : pos.shape[1]] = pos + lo
            top_val[c, :, : pos.shape[1]] = val
        keys.standardise(raw, stats, block)
        sums, squares = moments.of(raw) if moments is not None else (None, None)
        histograms = keys.histograms(raw)
        yield BlockScores(block, histograms, top_pos, top_val, sums, squares)


class GroupMoments:
    """Per-group sum and sum of squares of a block's scaled scores: ``scores @ indicator`` and
    ``scores**2 @ indicator`` (float32 products into a reused buffer, returned in float64)."""

    def __init__(
        self, groups: np.ndarray, n_groups: int | None, block: int, width: int | None = None
    ) -> None:
        groups = np.asarray(groups, dtype=np.int64)
        n_groups = int(n_groups if n_groups is not None else np.max(groups, initial=-1) + 1)
        self.indicator = np.zeros((len(groups), n_groups), dtype=np.float32)
        self.indicator[np.arange(len(groups)), groups] = 1.0
        self.squares = np.empty((block, width or len(groups)), dtype=np.float32)

    def of(self, scaled: np.ndarray, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(B, G) sums and sums of squares of the standardised scores, from ``scaled`` ones
        (``HistogramKeys.standardise``: in bin widths, ``BINS_PER_SD`` to a standard deviation)
        of the rows ``start``... (a chunk of them when the buffer is ``width`` wide)."""
        b, w = scaled.shape
        squares = np.multiply(scaled, scaled, out=self.squares[:b, :w])
        indicator = self.indicator[start : start + w]
        sums = (scaled @ indicator).astype(np.float64) / BINS_PER_SD
        return sums, (squares @ indicator).astype(np.float64) / BINS_PER_SD**2


class HistogramKeys:
    """Per-group histograms of a block's standardised scores, all from one ``bincount``.

    Element (b, i) of a block goes to flat bin ((b * G) + group_i) * AUC_BINS + its score bin.
    The offset part depends only on (b, i), so it is built once per scan, not per block, and
    the integer keys are written into one reused buffer: per block that leaves three in-place
    float passes, one clip-and-truncate straight into the int64 keys, one add and the count."""

    def __init__(self, groups: np.ndarray, n_groups: int, block: int) -> None:
        self.n_groups = n_groups
        rows = np.arange(block, dtype=np.int64)[:, None] * n_groups
        self.offsets = (rows + np.asarray(groups, dtype=np.int64)[None, :]) * AUC_BINS
        self.keys = np.empty_like(self.offsets)

    @staticmethod
    def standardise(raw: np.ndarray, stats: ConceptStats, block: slice) -> None:
        """In place: ``raw`` becomes the standardised score in bin widths (x ``BINS_PER_SD``;
        0 for a constant concept)."""
        std = stats.std[block]
        scale = np.where(std > 0, BINS_PER_SD / np.where(std > 0, std, 1.0), 0.0)
        raw -= stats.mean[block, None].astype(np.float32)
        raw *= scale[:, None].astype(np.float32)

    def histograms(self, scaled: np.ndarray) -> np.ndarray:
        """(B, G, AUC_BINS) counts of each group's ``standardise``d scores; overwrites them."""
        b = scaled.shape[0]
        keys = self.bins(scaled, self.keys[:b])
        keys += self.offsets[:b]
        counts = np.bincount(keys.ravel(), minlength=b * self.n_groups * AUC_BINS)
        return counts.reshape(b, self.n_groups, AUC_BINS)

    @staticmethod
    def bins(scaled: np.ndarray, out: np.ndarray) -> np.ndarray:
        """The histogram bin (int64, into ``out``) of each ``standardise``d score; overwrites
        the scores."""
        scaled += AUC_BINS / 2
        np.clip(scaled, 0, AUC_BINS - 1, out=out, casting="unsafe")  # truncates: bins are >= 0
        return out


def _scan_by_row_chunks(
    source: RowSource,
    concepts: np.ndarray,
    stats: ConceptStats,
    class_bounds: np.ndarray,
    n_top: int,
    size: int,
    groups: np.ndarray | None,
    n_groups: int | None,
) -> Iterator[BlockScores]:
    """``scan_concepts`` for rows too many to cache: each block of concepts adds up its
    histograms and group moments and keeps running top images chunk by chunk of rows, so no
    block holds a whole column (its memory does not grow with N) and the rows are read once
    per block. Counts and moments are sums, and the top m of a class are within the union of
    its chunks' top m, so the result is the cached path's (up to a score landing in the
    neighbouring bin: a BLAS product of another shape)."""
    t = np.asarray(concepts, dtype=np.float32)
    n_classes = len(class_bounds) - 1
    class_keys = np.repeat(np.arange(n_classes, dtype=np.int64), np.diff(class_bounds)) * AUC_BINS
    moments = None
    if groups is not None:
        moments = GroupMoments(groups, n_groups, size, min(len(source), CHUNK_ROWS))
    for start in range(0, len(t), size):
        block = slice(start, min(start + size, len(t)))
        b = block.stop - block.start
        counts = np.zeros(b * n_classes * AUC_BINS, dtype=np.int64)
        tops = RunningTops(n_classes, b, n_top)
        g = moments.indicator.shape[1] if moments is not None else 0
        sums, squares = np.zeros((b, g)), np.zeros((b, g))
        concept_keys = np.arange(b, dtype=np.int64)[:, None] * (n_classes * AUC_BINS)
        for row0, chunk in source.chunks():
            raw = t[block] @ chunk.T
            tops.add(raw, row0, class_bounds)
            HistogramKeys.standardise(raw, stats, block)
            if moments is not None:
                part_sums, part_squares = moments.of(raw, row0)
                sums += part_sums
                squares += part_squares
            keys = HistogramKeys.bins(raw, np.empty(raw.shape, dtype=np.int64))
            keys += concept_keys  # in place: no (B, chunk) temporaries for the offsets
            keys += class_keys[None, row0 : row0 + len(chunk)]
            counts += np.bincount(keys.ravel(), minlength=len(counts))
        histograms = counts.reshape(b, n_classes, AUC_BINS)
        got = (sums, squares) if moments is not None else (None, None)
        yield BlockScores(block, histograms, tops.positions, tops.values, *got)


class RunningTops:
    """Each class's ``m`` best rows per concept of a block, merged chunk by chunk of rows
    (best first, ties by position, as ``top_in_rows`` orders a whole class)."""

    def __init__(self, n_classes: int, n_concepts: int, m: int) -> None:
        self.positions = np.full((n_classes, n_concepts, m), -1, dtype=np.int64)
        self.values = np.full((n_classes, n_concepts, m), -np.inf, dtype=np.float32)
        self.found = np.zeros(n_classes, dtype=np.int64)
        self.m = m

    def add(self, raw: np.ndarray, row0: int, class_bounds: np.ndarray) -> None:
        """Merge the raw scores (B, chunk) of rows ``row0``... (sorted by class) into the tops."""
        stop = row0 + raw.shape[1]
        for c in range(len(class_bounds) - 1):
            lo, hi = max(int(class_bounds[c]), row0), min(int(class_bounds[c + 1]), stop)
            if lo >= hi:
                continue
            pos, val = top_in_rows(raw[:, lo - row0 : hi - row0], self.m)
            k = int(self.found[c])  # earlier rows first: ties stay ordered by position
            all_pos = np.concatenate([self.positions[c, :, :k], pos + lo], axis=1)
            all_val = np.concatenate([self.values[c, :, :k], val], axis=1)
            best, best_val = top_in_rows(all_val, self.m)
            n = best.shape[1]
            self.positions[c, :, :n] = np.take_along_axis(all_pos, best, axis=1)
            self.values[c, :, :n] = best_val
            self.found[c] = n


TOP_GROUP = 64
"""Width of the groups whose maxima bound the top-k from below (see ``top_in_rows``)."""


def top_in_rows(scores: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """For each row of ``scores`` (B, n): the positions and values of its ``m`` largest entries,
    best first (ties by position, so the result is deterministic).

    Each row gets a lower bound of its m-th largest entry; only the entries at or above it are
    sorted. Selecting from whole rows is the costly part of a block, so long rows get a cheap
    bound: cut a row into TOP_GROUP-sized groups, and the m-th largest group maximum is at most
    the row's m-th largest entry (m distinct groups reach it, each with at least one entry). A
    max-reduction and a comparison cost far less than partitioning the row; short rows are
    partitioned for the exact m-th value."""
    b, n = scores.shape
    m = min(m, n)
    if m <= 0:
        return np.zeros((b, 0), np.int64), np.zeros((b, 0), np.float32)
    groups = n // TOP_GROUP
    if groups >= 4 * m:
        whole = groups * TOP_GROUP
        # group g = the columns g, g + groups, g + 2 groups...: a max over the middle axis runs
        # along contiguous rows of ``groups`` values (a max over 64 adjacent values would not)
        maxima = scores[:, :whole].reshape(b, TOP_GROUP, groups).max(axis=1)
        if whole < n:
            tail = scores[:, whole:].max(axis=1, keepdims=True)
            maxima = np.concatenate([maxima, tail], axis=1)
        bound = np.partition(maxima, maxima.shape[1] - m, axis=1)[:, maxima.shape[1] - m]
    else:
        bound = np.partition(scores, n - m, axis=1)[:, n - m]
    found = _top_at_or_above(scores, bound, m)
    return found if found is not None else _top_by_partition(scores, m)


def _top_at_or_above(
    scores: np.ndarray, bound: np.ndarray, m: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """The best ``m`` of each row's entries >= its ``bound``; None where a row has fewer than
    ``m`` of them (NaN scores compare false), for the caller to fall back."""
    b, n = scores.shape
    rows, cols = np.divmod(np.flatnonzero(scores >= bound[:, None]), n)
    counts = np.bincount(rows, minlength=b)
    if counts.min(initial=m) < m:
        return None
    vals = scores[rows, cols]
    order = np.lexsort((cols, -vals, rows))  # by row, then best first, ties by position
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    take = order[first[:, None] + np.arange(m)[None, :]]
    return cols[take].astype(np.int64), vals[take]


def _top_by_partition(scores: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Partition-based ``top_in_rows`` for rows with NaN (ties at the cut are not by position)."""
    b, n = scores.shape
    if m < n:
        part = np.argpartition(scores, n - m, axis=1)[:, n - m :]
    else:
        part = np.broadcast_to(np.arange(n), (b, n)).copy()
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -vals), axis=1)
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(vals, order, axis=1)


def running_top_k(source: RowSource, concepts: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` highest-scoring rows for every concept, streamed over image chunks with a
    running top-k (memory: chunk x K, never N x K). Returns (row positions (K, k), raw scores)."""
    t = np.asarray(concepts, dtype=np.float32)
    best_pos = np.zeros((len(t), 0), dtype=np.int64)
    best_val = np.zeros((len(t), 0), dtype=np.float32)
    for start, chunk in source.chunks():
        scores = t @ chunk.T
        pos = np.broadcast_to(np.arange(start, start + len(chunk)), scores.shape)
        all_val = np.concatenate([best_val, scores], axis=1)
        all_pos = np.concatenate([best_pos, pos], axis=1)
        top, val = top_in_rows(all_val, k)
        best_pos = np.take_along_axis(all_pos, top, axis=1)
        best_val = val
    return best_pos, best_val
