"""Request counters per key and time window, shared by every worker process of
the API on one machine, without the database.

A small file mapped into each worker's memory holds a fixed table of slots
(key digest, window number, count in that window, count in the window before);
an exclusive file lock (flock) and, within a process, a thread lock make each
count-and-add one step. The table is a cache: keys hash to a few slots, and a
slot not used in the last two windows, or failing that the oldest, is reused, so
a flood of distinct keys can at worst forget a count, never block a request.

The file is one per database (the deployment the workers serve) and user; its
name carries neither, only a digest. Each machine counts its own requests."""

from __future__ import annotations

import fcntl
import hashlib
import mmap
import os
import struct
import tempfile
import threading

from django.conf import settings

# digest, window, count, count in the window before
SLOT = struct.Struct("<QqQQ")
SLOTS = 4096
PROBES = 8


def counters_path() -> str:
    database = settings.DATABASES["default"]
    deployment = f"{database['HOST']}:{database['PORT']}/{database['NAME']}"
    digest = hashlib.sha256(deployment.encode()).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), f"noreboot-counters-{os.getuid()}-{digest}")


class WindowCounters:
    def __init__(self, path: str) -> None:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        if os.fstat(descriptor).st_uid != os.getuid():
            os.close(descriptor)
            raise PermissionError(f"{path} belongs to another user")
        if os.fstat(descriptor).st_size < SLOT.size * SLOTS:
            os.ftruncate(descriptor, SLOT.size * SLOTS)
        self._descriptor = descriptor
        self._table = mmap.mmap(descriptor, SLOT.size * SLOTS)
        self._thread_lock = threading.Lock()
        self.pid = os.getpid()

    def add_if_below(self, key: str, window: int, limit: float, previous_weight: float) -> bool:
        """Count one event of `key` in `window` if the estimate of the last full
        period (this window's count, plus the window before's weighted by how much
        of it the sliding period still covers) stays within `limit`. Whether counted."""
        digest = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little") or 1
        with self._thread_lock:
            fcntl.flock(self._descriptor, fcntl.LOCK_EX)
            try:
                offset = self._slot_for(digest, window)
                stored, stored_window, count, previous = SLOT.unpack_from(self._table, offset)
                if stored != digest or stored_window < window - 1:
                    count, previous = 0, 0
                elif stored_window == window - 1:
                    count, previous = 0, count
                if previous * previous_weight + count + 1 > limit:
                    SLOT.pack_into(self._table, offset, digest, window, count, previous)
                    return False
                SLOT.pack_into(self._table, offset, digest, window, count + 1, previous)
                return True
            finally:
                fcntl.flock(self._descriptor, fcntl.LOCK_UN)

    def _slot_for(self, digest: int, window: int) -> int:
        """The offset of the key's slot, else of a free or stale one, else of the oldest."""
        oldest, oldest_window = 0, None
        for probe in range(PROBES):
            offset = ((digest + probe) % SLOTS) * SLOT.size
            stored, stored_window, _, _ = SLOT.unpack_from(self._table, offset)
            if stored == digest:
                return offset
            if oldest_window is None or stored_window < oldest_window:
                oldest, oldest_window = offset, stored_window
        return oldest


_counters: WindowCounters | None = None
_opening = threading.Lock()


def window_counters() -> WindowCounters:
    """This process's view of the shared table, opened on first use. A process
    forked after that opens its own: a lock taken through an inherited file
    description would not keep it apart from its parent."""
    global _counters
    with _opening:
        if _counters is None or _counters.pid != os.getpid():
            _counters = WindowCounters(counters_path())
        return _counters
