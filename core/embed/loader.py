"""Decoding images for the embedding engine in DataLoader worker processes.

The workers keep decoding off the threads that run the model: each worker opens a file with
``core.data.imageio.open_image`` at reduced size (JPEG draft mode: the DCT scale that still covers
the model's input side) and applies the model's own preprocess. A file that cannot be decoded
becomes a zero tensor plus a problem code, so one bad image never stops a batch. Paths are
relative to the dataset folder ``root`` and opened through its containment check (a file
replaced by a link out of the dataset is refused, not embedded).
"""

from __future__ import annotations

import functools
import multiprocessing
import os
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from debias_studio.core.data.imageio import ImageReadError, open_image
from debias_studio.core.data.rootpaths import DatasetRoot
from debias_studio.core.embed.lifeline import die_with


class ImageFiles(Dataset[tuple[int, torch.Tensor, str, str]]):
    """Item ``i``: (i, preprocessed tensor, problem code or "", detail or "")."""

    def __init__(
        self,
        paths: Sequence[str],
        preprocess: Callable[[Any], torch.Tensor],
        min_side: int,
        shape: tuple[int, int, int],
        root: DatasetRoot | None = None,
    ) -> None:
        self.root = root  # None: ``paths`` are full paths, each checked against its own folder
        self.paths = list(paths)
        self.preprocess = preprocess
        self.min_side = min_side
        self.shape = shape

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor, str, str]:
        try:
            if self.root is None:
                folder, name = os.path.split(self.paths[i])
                image = open_image(folder, name, min_side=self.min_side)
            else:
                image = open_image(self.root, self.paths[i], min_side=self.min_side)
            tensor = self.preprocess(image)
        except ImageReadError as exc:
            return i, torch.zeros(self.shape), exc.problem, exc.detail
        except Exception as exc:  # a decoder or transform failing on a damaged file
            return i, torch.zeros(self.shape), "unreadable", f"cannot decode ({exc})"
        if tuple(tensor.shape) != self.shape:
            return i, torch.zeros(self.shape), "unreadable", "unexpected image shape"
        return i, tensor, "", ""


def _worker_context() -> str | None:
    methods = multiprocessing.get_all_start_methods()
    return "forkserver" if "forkserver" in methods else None


def make_loader(
    files: ImageFiles, *, batch_size: int, num_workers: int, pin_memory: bool
) -> DataLoader[tuple[int, torch.Tensor, str, str]]:
    """Sequential batches of ``files``; no worker processes for a single batch (start-up cost).
    ``num_workers`` comes from the job's thread budget (core.threads)."""
    workers = max(0, num_workers)
    if len(files) <= batch_size:
        workers = 0
    extra: dict[str, Any] = {}
    if workers:
        # Workers start from a clean server process, never by forking this one: the GUI calls
        # us from a worker thread of a process full of Qt and BLAS threads, and a fork of such a
        # process can die or hang in the child (a lock held by another thread at fork time).
        # Each worker ends with this process, also when it is killed (core.embed.lifeline).
        extra = {
            "prefetch_factor": 2,
            "multiprocessing_context": _worker_context(),
            "worker_init_fn": functools.partial(die_with, os.getpid()),
        }
    return DataLoader(
        files,
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        pin_memory=pin_memory,
        **extra,
    )
