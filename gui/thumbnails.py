"""Thumbnails for the grid (ARCHITECTURE.md, rule 4): lazy, off the GUI thread, cached twice.

The grid asks ``ThumbnailLoader.pixmap(image_id)`` while painting. A cached pixmap comes back at
once; otherwise the id is queued and ``None`` returned (the delegate paints a placeholder). A few
drainer runnables in a *dedicated* ``QThreadPool`` take the newest requests first (what is on
screen now matters more than what was scrolled past; the oldest requests are dropped when the
queue is full), decode the file (or the disk-cached JPEG) to a ``QImage`` and hand it to the GUI
thread, which makes the ``QPixmap``. Finished ids are announced in batches every 30 ms so the
view repaints once per batch, not once per image. Switching projects bumps a generation counter,
so results still in flight for the old project are dropped.

Memory: pixmaps live in an LRU bounded in bytes; the per-image Python cost is nothing until an
image has been shown.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap

from debias_studio.gui.engine import ImageReadError, open_image

DEFAULT_SIZE = 112
DEFAULT_MEMORY_BYTES = 128 * 1024 * 1024
QUEUE_LIMIT = 600
BATCH_MS = 30

_POOLS: list[QThreadPool] = []


class _Carrier(QObject):
    """Lives in the GUI thread; a worker's emit is delivered there (queued connection)."""

    decoded = Signal(int, int, object)  # generation, image id, QImage | None


class ThumbnailLoader(QObject):
    """Decodes and caches thumbnails of one project's images."""

    thumbnails_ready = Signal(list)  # image ids whose pixmap is now cached

    def __init__(
        self,
        size: int = DEFAULT_SIZE,
        memory_bytes: int = DEFAULT_MEMORY_BYTES,
        threads: int | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.size = size
        self.memory_bytes = memory_bytes
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(threads or max(1, min(4, (os.cpu_count() or 2))))
        _POOLS.append(self.pool)
        self._carrier = _Carrier()
        self._carrier.decoded.connect(self._on_decoded)
        self._lock = threading.Lock()
        self._queue: OrderedDict[int, None] = OrderedDict()
        self._drainers = 0
        self._generation = 0
        self._root = Path(".")
        self._paths: np.ndarray = np.array([], dtype=object)
        self._keys: np.ndarray = np.array([], dtype=object)
        self._cache_dir: Path | None = None
        self._cache: OrderedDict[int, QPixmap] = OrderedDict()
        self._cache_bytes = 0
        self._failed: set[int] = set()
        self._fresh: list[int] = []
        self._flush = QTimer(self)
        self._flush.setSingleShot(True)
        self._flush.setInterval(BATCH_MS)
        self._flush.timeout.connect(self._emit_fresh)
        self.broken = _broken_pixmap(size)

    # ---- source ------------------------------------------------------------------------------
    def set_source(
        self, root: Path, paths: np.ndarray, fingerprints: np.ndarray, cache_dir: Path | None
    ) -> None:
        """Point the loader at a (new) image list. ``fingerprints`` (one string per image, e.g.
        size and mtime) keys the disk cache so a changed file gets a new thumbnail."""
        with self._lock:
            self._generation += 1
            self._queue.clear()
            self._root = Path(root)
            self._paths = paths
            self._keys = fingerprints
            self._cache_dir = cache_dir
        self._cache.clear()
        self._cache_bytes = 0
        self._failed.clear()
        self._fresh.clear()

    def clear(self) -> None:
        self.set_source(Path("."), np.array([], dtype=object), np.array([], dtype=object), None)

    @property
    def generation(self) -> int:
        return self._generation

    # ---- the grid's side -----------------------------------------------------------------------
    def pixmap(self, image_id: int) -> QPixmap | None:
        """The cached pixmap, or None after queueing a decode (the caller paints a placeholder)."""
        cached = self._cache.get(image_id)
        if cached is not None:
            self._cache.move_to_end(image_id)
            return cached
        if image_id in self._failed:
            return self.broken
        self.request(image_id)
        return None

    def request(self, image_id: int) -> None:
        with self._lock:
            if image_id >= len(self._paths):
                return
            self._queue[image_id] = None
            self._queue.move_to_end(image_id)
            while len(self._queue) > QUEUE_LIMIT:
                self._queue.popitem(last=False)
            start = self._drainers < self.pool.maxThreadCount()
            if start:
                self._drainers += 1
        if start:
            self.pool.start(_Drainer(self))

    def cached_count(self) -> int:
        return len(self._cache)

    def cached_bytes(self) -> int:
        return self._cache_bytes

    def shutdown(self, timeout_ms: int = 5000) -> None:
        """Drop queued work and wait for the decodes in flight (closing, tests)."""
        with self._lock:
            self._generation += 1
            self._queue.clear()
        self.pool.clear()
        self.pool.waitForDone(timeout_ms)

    # ---- worker side -------------------------------------------------------------------------
    def _next(self) -> tuple[int, int, Path, str, Path | None] | None:
        with self._lock:
            if not self._queue:
                self._drainers -= 1
                return None
            image_id, _ = self._queue.popitem(last=True)
            relative = str(self._paths[image_id])
            cache_file = None
            if self._cache_dir is not None:
                cache_file = self._cache_dir / _cache_name(
                    str(self._paths[image_id]), str(self._keys[image_id]), self.size
                )
            return self._generation, image_id, self._root, relative, cache_file

    def _deliver(self, generation: int, image_id: int, image: QImage | None) -> None:
        self._carrier.decoded.emit(generation, image_id, image)

    # ---- GUI thread --------------------------------------------------------------------------
    def _on_decoded(self, generation: int, image_id: int, image: QImage | None) -> None:
        if generation != self._generation:
            return  # stale: the project (or list) changed while this was decoding
        if image is None or image.isNull():
            self._failed.add(image_id)
        else:
            pixmap = QPixmap.fromImage(image)
            self._cache[image_id] = pixmap
            self._cache_bytes += _bytes(pixmap)
            while self._cache_bytes > self.memory_bytes and len(self._cache) > 1:
                _, old = self._cache.popitem(last=False)
                self._cache_bytes -= _bytes(old)
        self._fresh.append(image_id)
        if not self._flush.isActive():
            self._flush.start()

    def _emit_fresh(self) -> None:
        fresh, self._fresh = self._fresh, []
        if fresh:
            self.thumbnails_ready.emit(fresh)


class _Drainer(QRunnable):
    """Decodes queued thumbnails until the queue is empty."""

    def __init__(self, loader: ThumbnailLoader) -> None:
        super().__init__()
        self._loader = loader

    def run(self) -> None:
        loader = self._loader
        while True:
            item = loader._next()
            if item is None:
                return
            generation, image_id, root, path, cache_file = item
            image = make_thumbnail(root, path, cache_file, loader.size)
            loader._deliver(generation, image_id, image)


def make_thumbnail(root: Path, relative: str, cache_file: Path | None, size: int) -> QImage | None:
    """Decode one thumbnail of the dataset file ``relative`` (worker thread): from the disk cache
    when there, else from the image (reduced-size JPEG decode, through the engine's containment
    check), writing the disk cache on the way. None if unreadable or outside the dataset."""
    if cache_file is not None and cache_file.is_file():
        image = QImage(str(cache_file))
        if not image.isNull():
            return image
    try:
        picture = open_image(root, relative, min_side=size)
    except (ImageReadError, OSError, ValueError):
        return None
    picture.thumbnail((size, size), Image.Resampling.BILINEAR)
    if cache_file is not None:
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            partial = cache_file.with_suffix(f".{threading.get_ident()}.part")
            picture.save(partial, format="JPEG", quality=88)
            os.replace(partial, cache_file)
        except OSError:
            pass  # a read-only project still shows thumbnails, just without the disk cache
    width, height = picture.size
    data = picture.tobytes()
    return QImage(data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


def _cache_name(path: str, fingerprint: str, size: int) -> str:
    digest = hashlib.blake2b(f"{path}|{fingerprint}".encode(), digest_size=10).hexdigest()
    return f"{size}/{digest[:2]}/{digest}.jpg"


def _bytes(pixmap: QPixmap) -> int:
    return pixmap.width() * pixmap.height() * max(1, pixmap.depth() // 8)


def _broken_pixmap(size: int) -> QPixmap:
    image = QImage(size, size, QImage.Format.Format_RGB32)
    image.fill(QColor("#f2dede"))
    painter = QPainter(image)
    painter.setPen(QColor("#a94442"))
    painter.drawLine(size // 4, size // 4, 3 * size // 4, 3 * size // 4)
    painter.drawLine(3 * size // 4, size // 4, size // 4, 3 * size // 4)
    painter.end()
    return QPixmap.fromImage(image)


def thumbnail_pools() -> list[QThreadPool]:
    """Every loader's pool still alive (the test fixture checks none is left busy)."""
    alive = []
    for pool in _POOLS:
        try:
            pool.activeThreadCount()
        except RuntimeError:
            continue
        alive.append(pool)
    _POOLS[:] = alive
    return alive
