"""``ConfigClient``: live configuration of one namespace, read without locks.

The client holds a reference to an immutable ``Snapshot``. Reads look up
that snapshot's dict and never lock or do I/O; the listener thread is the
only writer and replaces the reference whole (one attribute assignment,
atomic in CPython), then wakes waiters and calls listeners.
"""

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from noreboot.api import ConfigApi, Route
from noreboot.cache import SnapshotCache
from noreboot.errors import ApiUnavailable, SnapshotUnavailable
from noreboot.listener import KafkaListener
from noreboot.retry import Backoff
from noreboot.snapshot import (
    MISSING,
    SOURCE_API,
    SOURCE_CACHE,
    ApplyResult,
    Change,
    Outcome,
    Snapshot,
    apply_event,
    diff,
)

logger = logging.getLogger("noreboot")

ChangeCallback = Callable[[str, Any, Any], None]

_NAMESPACE = re.compile(r"[a-z0-9-]+/[a-z0-9-]+/[a-z0-9-]+")


def _setting(value: str | None, env_var: str, what: str) -> str:
    if value is None:
        value = os.environ.get(env_var) or None
    if not value:
        raise ValueError(f"ConfigClient needs {what}: pass it or set {env_var}")
    return value


class ConfigClient:
    """Live configuration of one namespace (``tenant/environment/service``).

    Each of ``namespace``, ``api_url``, ``token`` and ``kafka_bootstrap``
    falls back to ``NOREBOOT_NAMESPACE``, ``NOREBOOT_URL``, ``NOREBOOT_TOKEN``
    and ``NOREBOOT_KAFKA_BOOTSTRAP``; ``cache_dir`` to ``NOREBOOT_CACHE_DIR``
    (no disk cache if neither is set).
    """

    def __init__(
        self,
        namespace: str | None = None,
        api_url: str | None = None,
        token: str | None = None,
        kafka_bootstrap: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        *,
        snapshot_timeout: float = 30.0,
        http_timeout: float = 5.0,
        kafka_config: Mapping[str, Any] | None = None,
        poll_timeout: float = 0.1,
        resync_after_outage: float = 30.0,
        refresh_interval: float = 300.0,
        cache_write_interval: float = 1.0,
    ) -> None:
        self.namespace = _setting(namespace, "NOREBOOT_NAMESPACE", "a namespace")
        if not _NAMESPACE.fullmatch(self.namespace):
            raise ValueError(
                f"namespace must look like tenant/environment/service in lowercase slugs, got {self.namespace!r}"
            )
        self.api_url = _setting(api_url, "NOREBOOT_URL", "the config service URL")
        self.kafka_bootstrap = _setting(kafka_bootstrap, "NOREBOOT_KAFKA_BOOTSTRAP", "Kafka bootstrap servers")
        token = _setting(token, "NOREBOOT_TOKEN", "a service token")
        if cache_dir is None:
            cache_dir = os.environ.get("NOREBOOT_CACHE_DIR") or None

        self._snapshot = Snapshot.empty(self.namespace)
        # Shadows the get() method below with the current dict's own get, so
        # a read costs what dict.get costs; re-bound at every swap.
        self.get = self._snapshot.values.get
        self._source: str | None = None
        self._revision_changed = threading.Condition()
        # Replaced whole on registration so the listener thread can iterate
        # it without a lock.
        self._callbacks: tuple[tuple[ChangeCallback, frozenset[str] | None], ...] = ()
        self._callbacks_lock = threading.Lock()
        self._type_warnings: set[tuple[str, str]] = set()

        self._api = ConfigApi(self.api_url, token, self.namespace, timeout=http_timeout)
        self._cache = SnapshotCache(cache_dir, self.namespace) if cache_dir is not None else None
        self._cache_write_interval = cache_write_interval
        self._cache_dirty = False
        self._cache_written_at = 0.0
        self._cache_failing = False
        self._snapshot_timeout = snapshot_timeout
        self._http_timeout = http_timeout
        self._listener_options = {
            "kafka_config": dict(kafka_config or {}),
            "poll_timeout": poll_timeout,
            "resync_after_outage": resync_after_outage,
            "refresh_interval": refresh_interval,
        }
        self._lifecycle = threading.Lock()
        self._listener: KafkaListener | None = None
        self._closed = False

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> "ConfigClient":
        """Load the first snapshot (API, else disk cache), start listening; returns self.

        Raises ``AuthenticationError`` / ``NamespaceNotFound`` at once (a cache
        never hides those), and ``SnapshotUnavailable`` if neither the API nor
        a cache answered within ``snapshot_timeout``.
        """
        with self._lifecycle:
            if self._closed:
                raise RuntimeError("ConfigClient is closed; create a new one")
            if self._listener is not None:
                return self
            route = self._load_first_snapshot()
            self._listener = KafkaListener(self, self._api, self.kafka_bootstrap, route, **self._listener_options)
            self._listener.start()
        return self

    def close(self, timeout: float = 5.0) -> None:
        """Stop the listener and write the cache; the last values stay readable."""
        with self._lifecycle:
            if self._closed:
                return
            self._closed = True
            listener = self._listener
        if listener is not None:
            listener.stop(timeout)
        self._flush_cache(force=True)

    def __enter__(self) -> "ConfigClient":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _load_first_snapshot(self) -> Route | None:
        """Step 1 of the contract; returns the Kafka route, or None if started from cache."""
        deadline = time.monotonic() + self._snapshot_timeout
        backoff = Backoff(initial=0.2, maximum=2.0)
        cached: Snapshot | None = None
        warned = False
        while True:
            remaining = deadline - time.monotonic()
            try:
                # ApiError (401, 404, other 4xx) propagates: retrying or
                # falling back to a cache would hide a real misconfiguration.
                response = self._api.fetch(timeout=max(0.1, min(self._http_timeout, remaining)))
            except ApiUnavailable as exc:
                if cached is None and self._cache is not None:
                    cached = self._cache.read()
                if cached is not None:
                    self._install_snapshot(cached, SOURCE_CACHE)
                    logger.warning(
                        "config service unreachable (%s): %s starts from the disk cache %s at revision %d, "
                        "retrying the service in the background",
                        exc,
                        self.namespace,
                        self._cache.path,
                        cached.revision,
                    )
                    return None
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise SnapshotUnavailable(
                        f"no snapshot of {self.namespace} after {self._snapshot_timeout:.0f}s: {exc}; "
                        + ("the disk cache is empty" if self._cache is not None else "no cache_dir configured")
                    ) from exc
                if not warned:
                    logger.warning("config service unreachable (%s); retrying for %.0fs", exc, remaining)
                    warned = True
                time.sleep(min(backoff.next_delay(), remaining))
            else:
                self._install_snapshot(response.snapshot, SOURCE_API)
                return response.route

    # -- reads: no lock, no I/O --------------------------------------------

    def get(self, name: str, default: Any = None) -> Any:  # shadowed per instance, see __init__
        """The value of ``name`` as JSON decodes it, or ``default`` if missing."""
        return self._snapshot.values.get(name, default)

    def get_int(self, name: str, default: int | None = None) -> int | None:
        value = self._snapshot.values.get(name)
        # type() rather than isinstance(): a JSON true is not the number 1.
        if type(value) is int:
            return value
        return self._wrong_type(name, "int", value, default)

    def get_float(self, name: str, default: float | None = None) -> float | None:
        value = self._snapshot.values.get(name)
        if type(value) is float or type(value) is int:
            return float(value)
        return self._wrong_type(name, "float", value, default)

    def get_bool(self, name: str, default: bool | None = None) -> bool | None:
        value = self._snapshot.values.get(name)
        if type(value) is bool:
            return value
        return self._wrong_type(name, "bool", value, default)

    def get_str(self, name: str, default: str | None = None) -> str | None:
        value = self._snapshot.values.get(name)
        if type(value) is str:
            return value
        return self._wrong_type(name, "str", value, default)

    def get_json(self, name: str, default: Any = None) -> Any:
        """A JSON object or array value (shared: treat it as read-only)."""
        value = self._snapshot.values.get(name)
        if type(value) is dict or type(value) is list:
            return value
        return self._wrong_type(name, "json", value, default)

    def _wrong_type(self, name: str, kind: str, value: Any, default: Any) -> Any:
        # Missing and null both mean "not set": the default, silently.
        if value is not None and (name, kind) not in self._type_warnings:
            self._type_warnings.add((name, kind))
            logger.warning(
                "config %s/%s is %s, not %s: using the default %r",
                self.namespace,
                name,
                type(value).__name__,
                kind,
                default,
            )
        return default

    def snapshot(self) -> Mapping[str, Any]:
        """A read-only view of every value at one revision; later changes do not alter it."""
        return self._snapshot.view

    @property
    def revision(self) -> int:
        """The namespace revision of the values being served (0 before start)."""
        return self._snapshot.revision

    @property
    def source(self) -> str | None:
        """``"api"`` once the service has answered, ``"cache"`` while serving the disk cache."""
        return self._source

    def __repr__(self) -> str:
        return f"<ConfigClient {self.namespace} revision={self.revision} source={self._source}>"

    # -- change notification -----------------------------------------------

    def on_change(self, callback: ChangeCallback, names: str | Iterable[str] | None = None) -> ChangeCallback:
        """Call ``callback(name, old, new)`` after each change (None for a missing value).

        Runs on the listener thread after the new snapshot is in place, so
        reads inside it already see ``new``; keep it short. ``names`` limits it
        to those config names. Returns ``callback``.
        """
        selected = None if names is None else frozenset([names] if isinstance(names, str) else names)
        with self._callbacks_lock:
            self._callbacks = self._callbacks + ((callback, selected),)
        return callback

    def remove_on_change(self, callback: ChangeCallback) -> None:
        with self._callbacks_lock:
            self._callbacks = tuple(entry for entry in self._callbacks if entry[0] is not callback)

    def wait_for_revision(self, revision: int, timeout: float | None = None) -> bool:
        """Block until the served revision is at least ``revision``; False on timeout."""
        with self._revision_changed:
            return self._revision_changed.wait_for(lambda: self._snapshot.revision >= revision, timeout)

    # -- writes: the listener thread (and start()) only ----------------------

    def _install_snapshot(self, snapshot: Snapshot, source: str) -> None:
        """Serve a whole new snapshot (from the API or the disk cache)."""
        previous = self._snapshot
        first = self._source is None
        self._swap(snapshot)
        self._source = source
        if source == SOURCE_API:
            self._cache_dirty = True
            self._flush_cache(force=True)
        # The initial load is not a change: a service reads its values after start().
        if not first:
            self._call_listeners(diff(previous, snapshot))

    def _apply_event(self, event: Any) -> ApplyResult:
        """Apply one decoded Kafka event under the revision rules (see ``apply_event``)."""
        result = apply_event(self._snapshot, event)
        if result.outcome is Outcome.APPLIED:
            self._swap(result.snapshot)
            self._cache_dirty = True
            self._call_listeners(result.changes)
        return result

    def _swap(self, snapshot: Snapshot) -> None:
        with self._revision_changed:
            self._snapshot = snapshot
            self.get = snapshot.values.get
            self._revision_changed.notify_all()

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

    def _flush_cache(self, force: bool = False) -> None:
        """Write the snapshot to disk if it changed; at most every ``cache_write_interval`` unless forced."""
        if self._cache is None or not self._cache_dirty:
            return
        now = time.monotonic()
        if not force and now - self._cache_written_at < self._cache_write_interval:
            return
        snapshot = self._snapshot
        try:
            self._cache.write(snapshot)
        except OSError as exc:
            if not self._cache_failing:
                logger.warning("cannot write config cache %s: %s", self._cache.path, exc)
                self._cache_failing = True
            return
        if self._cache_failing:
            logger.info("config cache %s writable again", self._cache.path)
            self._cache_failing = False
        self._cache_dirty = self._snapshot is not snapshot
        self._cache_written_at = now
