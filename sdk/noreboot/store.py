"""The snapshot a client serves, and everything that happens when it is replaced.

The listener thread (and ``start()``) are the only writers: they install a
whole snapshot or apply one event, which swaps the reference (one attribute
assignment, atomic in CPython), wakes ``wait_for_revision`` callers, then
calls the change callbacks. This is the listener's side of the client
(``listener.SnapshotHolder``); the client's read methods only look at
``current``.
"""

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from noreboot.cache import SnapshotCache
from noreboot.effective import EffectiveValues
from noreboot.snapshot import (
    MISSING,
    SOURCE_API,
    AppliedEvents,
    ApplyResult,
    Change,
    Outcome,
    Snapshot,
    apply_event,
    diff,
)

logger = logging.getLogger("noreboot")

ChangeCallback = Callable[[str, Any, Any], None]


class SnapshotStore:
    def __init__(
        self,
        namespace: str,
        *,
        cache: SnapshotCache | None,
        cache_write_interval: float,
        on_swap: Callable[[Snapshot], None],
        effective: EffectiveValues | None = None,
    ) -> None:
        self.namespace = namespace
        self.current = Snapshot.empty(namespace)
        # Rollouts and validators: what this instance reads of what is served.
        self.effective = effective
        self.applied_at: float | None = None  # wall-clock time of the last swap
        self.source: str | None = None  # "api" or "cache" once a snapshot is installed
        self._on_swap = on_swap
        self._revision_changed = threading.Condition()
        # Replaced whole on registration so the listener thread can iterate
        # it without a lock.
        self._callbacks: tuple[tuple[ChangeCallback, frozenset[str] | None], ...] = ()
        self._callbacks_lock = threading.Lock()
        # Told of each changeset part applied: (changeset id, {namespace: revision}).
        self._changeset_callbacks: tuple[Callable[[int, dict[str, int]], None], ...] = ()
        self._applied = AppliedEvents()
        self.cache = cache  # the disk cache, if any
        self._cache_write_interval = cache_write_interval
        self._cache_dirty = False
        self._cache_written_at = 0.0
        self._cache_failing = False

    # -- the listener's side -------------------------------------------------

    def install(self, snapshot: Snapshot, source: str) -> None:
        """Serve a whole new snapshot (from the API or the disk cache)."""
        previous = self.current
        first = self.source is None
        snapshot, changes = self._read_values(snapshot, previous, None, () if first else diff(previous, snapshot))
        self._swap(snapshot)
        # What the events built is replaced: their record no longer describes it.
        self._applied.clear()
        self.source = source
        if source == SOURCE_API:
            self._cache_dirty = True
            self.flush(force=True)
        # The initial load is not a change: a service reads its values after start().
        if not first:
            self._call_listeners(changes)

    def apply(self, event: Any) -> ApplyResult:
        """Apply one decoded Kafka event under the revision rules (see ``apply_event``)."""
        current = self.current
        result = apply_event(current, event)
        if result.outcome is Outcome.APPLIED:
            names = {change.name for change in result.changes}
            if isinstance(event.get("name"), str):
                names.add(event["name"])
            snapshot, changes = self._read_values(result.snapshot, current, names, result.changes)
            self._swap(snapshot)
            self._applied.record(event)
            self._cache_dirty = True
            self._call_listeners(changes)
            if event.get("op") == "batch":
                self._tell_changeset(event)
        elif result.outcome is Outcome.STALE and self._applied.conflicts(event):
            return ApplyResult(
                Outcome.CONFLICT,
                current,
                reason=f"revision {event['revision']} was applied with other content",
            )
        return result

    def flush(self, force: bool = False) -> None:
        """Write the snapshot to disk if it changed; at most every ``cache_write_interval`` unless forced."""
        if self.cache is None or not self._cache_dirty:
            return
        now = time.monotonic()
        if not force and now - self._cache_written_at < self._cache_write_interval:
            return
        snapshot = self.current
        try:
            self.cache.write(snapshot)
        except OSError as exc:
            if not self._cache_failing:
                logger.warning("cannot write config cache %s: %s", self.cache.path, exc)
                self._cache_failing = True
            return
        if self._cache_failing:
            logger.info("config cache %s writable again", self.cache.path)
            self._cache_failing = False
        self._cache_dirty = self.current is not snapshot
        self._cache_written_at = now

    # -- the client's side -----------------------------------------------------

    def add_callback(self, callback: ChangeCallback, names: frozenset[str] | None) -> None:
        with self._callbacks_lock:
            self._callbacks = self._callbacks + ((callback, names),)

    def remove_callback(self, callback: ChangeCallback) -> None:
        with self._callbacks_lock:
            self._callbacks = tuple(entry for entry in self._callbacks if entry[0] is not callback)

    def add_changeset_callback(self, callback: Callable[[int, dict[str, int]], None]) -> None:
        with self._callbacks_lock:
            self._changeset_callbacks = self._changeset_callbacks + (callback,)

    def wait_for_revision(self, revision: int, timeout: float | None) -> bool:
        with self._revision_changed:
            return self._revision_changed.wait_for(lambda: self.current.revision >= revision, timeout)

    # -- internals ---------------------------------------------------------------

    def _read_values(
        self, served: Snapshot, previous: Snapshot, names: set[str] | None, changes: tuple[Change, ...]
    ) -> tuple[Snapshot, tuple[Change, ...]]:
        if self.effective is None:
            return served, changes
        return self.effective.resolve(served, previous, names, changes)

    def _swap(self, snapshot: Snapshot) -> None:
        with self._revision_changed:
            self.current = snapshot
            self.applied_at = time.time()
            self._on_swap(snapshot)
            self._revision_changed.notify_all()

    def _tell_changeset(self, event: dict) -> None:
        changeset, revisions = event.get("changeset"), event.get("changeset_revisions")
        if not isinstance(changeset, int) or not isinstance(revisions, dict):
            return
        for callback in self._changeset_callbacks:
            try:
                callback(changeset, revisions)
            except Exception:
                logger.exception("changeset callback %r failed for changeset %s", callback, changeset)

    def _call_listeners(self, changes: Iterable[Change]) -> None:
        callbacks = self._callbacks
        if not callbacks:
            return
        for change in changes:
            old = None if change.old is MISSING else change.old
            new = None if change.new is MISSING else change.new
            for callback, names in callbacks:
                if names is not None and change.name not in names:
                    continue
                try:
                    callback(change.name, old, new)
                except Exception:
                    # One broken listener must not stop updates or other listeners.
                    logger.exception("on_change callback %r failed for %s", callback, change.name)
