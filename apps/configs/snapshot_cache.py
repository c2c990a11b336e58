"""Rendered namespace snapshots, kept per (namespace, revision, epoch).

A snapshot at a given revision of one database epoch never changes, so a
cached body cannot go stale: a write makes a new revision, and a restore a
new epoch, and so a new key. Bounded by size, least
recently used first out; one cache per worker process."""

import threading
from collections import OrderedDict

from django.conf import settings


class SnapshotBodyCache:
    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._bodies: OrderedDict[tuple[int, int, str], bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, namespace_id: int, revision: int, epoch: str) -> bytes | None:
        with self._lock:
            body = self._bodies.get((namespace_id, revision, epoch))
            if body is not None:
                self._bodies.move_to_end((namespace_id, revision, epoch))
            return body

    def put(self, namespace_id: int, revision: int, epoch: str, body: bytes) -> None:
        if len(body) > self._max_bytes:
            return
        with self._lock:
            key = (namespace_id, revision, epoch)
            if key in self._bodies:
                return
            self._bodies[key] = body
            self._size += len(body)
            while self._size > self._max_bytes:
                _, evicted = self._bodies.popitem(last=False)
                self._size -= len(evicted)


snapshot_bodies = SnapshotBodyCache(settings.SNAPSHOT_CACHE_MAX_BYTES)
