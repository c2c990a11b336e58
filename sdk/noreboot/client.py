"""``ConfigClient``: live configuration of one namespace, read without locks.

The client serves an immutable ``Snapshot`` held by its ``SnapshotStore``.
Reads look up that snapshot's dict and never lock or do I/O; the listener
thread is the only writer and replaces the snapshot whole (see ``store``).
"""

import logging
import os
import re
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from noreboot.api import ConfigApi, Route
from noreboot.cache import SnapshotCache
from noreboot.effective import EffectiveValues
from noreboot.errors import ApiUnavailable, SnapshotUnavailable
from noreboot.listener import KafkaListener
from noreboot.reporter import Reporter
from noreboot.retry import Backoff
from noreboot.rollout import check_labels, labels_from_env
from noreboot.snapshot import SOURCE_API, SOURCE_CACHE, Snapshot
from noreboot.store import ChangeCallback, SnapshotStore
from noreboot.transport import HttpClient

logger = logging.getLogger("noreboot")

_NAMESPACE = re.compile(r"[a-z0-9-]+/[a-z0-9-]+/[a-z0-9-]+")
# The order of the settings in the positional calls of 0.1.
_POSITIONAL_SETTINGS = ("namespace", "api_url", "token", "kafka_bootstrap", "cache_dir")
# The instance id of every client of this process that is given none.
PROCESS_INSTANCE_ID = str(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class ClientStatus:
    """What ``ConfigClient.status()`` reports; see the SDK README for each field."""

    source: str | None  # "api", "cache", or None before start()
    revision: int  # of the values served
    feed: str | None  # "kafka" or "polling": how changes arrive; None until start()
    connected: bool  # the feed is in step now
    last_error: str | None  # the latest failure the listener met, kept after recovery
    lag: int | None  # Kafka messages on the namespace's partition not read yet
    epoch: str | None = None  # the database lineage of ``revision``; None if the service does not say
    reports_sent: int = 0  # apply reports queued for the config service (see ``instance_id``)
    reports_dropped: int = 0  # apply reports that could not be queued or delivered


def _setting(value: str | None, env_var: str) -> str | None:
    return value if value is not None else os.environ.get(env_var) or None


def _required(value: str | None, env_var: str, what: str) -> str:
    value = _setting(value, env_var)
    if not value:
        raise ValueError(f"ConfigClient needs {what}: pass it or set {env_var}")
    return value


def _positional_settings(positional: tuple[Any, ...], settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` completed from a positional call of 0.1, which still works, with a warning."""
    if len(positional) > len(_POSITIONAL_SETTINGS):
        raise TypeError(f"ConfigClient takes at most {len(_POSITIONAL_SETTINGS)} positional arguments")
    warnings.warn(
        "ConfigClient's settings are keyword arguments: ConfigClient(namespace=..., api_url=..., token=...); "
        "positional ones will stop working in the next release",
        DeprecationWarning,
        stacklevel=3,
    )
    completed = dict(settings)
    for name, value in zip(_POSITIONAL_SETTINGS, positional, strict=False):
        if completed[name] is not None:
            raise TypeError(f"ConfigClient got {name} both by position and by keyword")
        completed[name] = value
    return completed


class ConfigClient:
    """Live configuration of one namespace (``tenant/environment/service``).

    Each of ``namespace``, ``api_url``, ``token``, ``kafka_bootstrap`` and
    ``cache_dir`` falls back to ``NOREBOOT_NAMESPACE``, ``NOREBOOT_URL``,
    ``NOREBOOT_TOKEN``, ``NOREBOOT_KAFKA_BOOTSTRAP`` and
    ``NOREBOOT_CACHE_DIR``. Without ``kafka_bootstrap`` the client asks the
    config service for the token's own Kafka credentials (or polls, if the
    token gets none); without ``cache_dir`` there is no disk cache.
    ``instance_id`` (one UUID per process if not given) and ``labels`` (else
    ``NOREBOOT_LABELS``) name this instance in its apply reports and decide
    whether it reads a rollout's candidate (see ``add_validator`` too).
    """

    def __init__(
        self,
        *positional: Any,
        namespace: str | None = None,
        api_url: str | None = None,
        token: str | None = None,
        kafka_bootstrap: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        snapshot_timeout: float = 30.0,
        http_timeout: float = 5.0,
        kafka_config: Mapping[str, Any] | None = None,
        poll_timeout: float = 0.1,
        poll_interval: float = 1.0,
        resync_after_outage: float = 30.0,
        refresh_interval: float = 300.0,
        cache_write_interval: float = 1.0,
        instance_id: str | None = None,
        labels: Mapping[str, str] | None = None,
        report_interval: float = 30.0,
    ) -> None:
        if positional:
            given = {
                "namespace": namespace,
                "api_url": api_url,
                "token": token,
                "kafka_bootstrap": kafka_bootstrap,
                "cache_dir": cache_dir,
            }
            settings = _positional_settings(positional, given)
            namespace, api_url, token = settings["namespace"], settings["api_url"], settings["token"]
            kafka_bootstrap, cache_dir = settings["kafka_bootstrap"], settings["cache_dir"]
        self.namespace = _required(namespace, "NOREBOOT_NAMESPACE", "a namespace")
        if not _NAMESPACE.fullmatch(self.namespace):
            raise ValueError(
                f"namespace must look like tenant/environment/service in lowercase slugs, got {self.namespace!r}"
            )
        self.api_url = _required(api_url, "NOREBOOT_URL", "the config service URL")
        self.kafka_bootstrap = _setting(kafka_bootstrap, "NOREBOOT_KAFKA_BOOTSTRAP")
        token = _required(token, "NOREBOOT_TOKEN", "a service token")
        cache_dir = _setting(cache_dir, "NOREBOOT_CACHE_DIR")

        # Who this client is to the config service's instance list and to
        # rollouts (the cohort hash): given, or one id per process.
        self.instance_id = instance_id or PROCESS_INSTANCE_ID
        self.labels = check_labels(labels) if labels is not None else labels_from_env()
        self._effective = EffectiveValues(self.instance_id, self.labels)
        self._store = SnapshotStore(
            self.namespace,
            cache=SnapshotCache(cache_dir, self.namespace) if cache_dir is not None else None,
            cache_write_interval=cache_write_interval,
            on_swap=self._serve,
            effective=self._effective,
        )
        self._reporter = Reporter(self._store, self._effective, interval=report_interval)
        self._serve(self._store.current)
        self._type_warnings: set[tuple[str, str]] = set()
        http = HttpClient(self.api_url, token, timeout=http_timeout, user_agent="noreboot-sdk")
        self._api = ConfigApi(http, self.namespace)
        self._snapshot_timeout = snapshot_timeout
        self._http_timeout = http_timeout
        self._listener_options = {
            "kafka_bootstrap": self.kafka_bootstrap,
            "kafka_config": dict(kafka_config or {}),
            "poll_timeout": poll_timeout,
            "poll_interval": poll_interval,
            "resync_after_outage": resync_after_outage,
            "refresh_interval": refresh_interval,
            "reporter": self._reporter,
        }
        self._lifecycle = threading.Lock()
        self._listener: KafkaListener | None = None
        self._closed = False

    def _serve(self, snapshot: Snapshot) -> None:
        # Shadows the get() method below with the current dict's own get, so
        # a read costs what dict.get costs; re-bound at every swap.
        self.get = snapshot.values.get

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
            self._listener = KafkaListener(self._store, self._api, route, **self._listener_options)
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
        self._store.flush(force=True)

    def __enter__(self) -> "ConfigClient":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def set_token(self, token: str) -> None:
        """Use ``token`` from the next request on (e.g. a renewed login); safe from any thread."""
        self._api.http.token = token

    def _load_first_snapshot(self) -> Route | None:
        """Step 1 of the contract; returns the Kafka route, or None if started from cache."""
        deadline = time.monotonic() + self._snapshot_timeout
        backoff = Backoff(initial=0.2, maximum=2.0)
        cache = self._store.cache
        cached: Snapshot | None = None
        warned = False
        while True:
            remaining = deadline - time.monotonic()
            try:
                # ApiError (401, 404, other 4xx) propagates: retrying or
                # falling back to a cache would hide a real misconfiguration.
                response = self._api.fetch(timeout=max(0.1, min(self._http_timeout, remaining)))
            except ApiUnavailable as exc:
                if cached is None and cache is not None:
                    cached = cache.read()
                if cached is not None:
                    self._store.install(cached, SOURCE_CACHE)
                    logger.warning(
                        "config service unreachable (%s): %s starts from the disk cache %s at revision %d, "
                        "retrying the service in the background",
                        exc,
                        self.namespace,
                        cache.path,
                        cached.revision,
                    )
                    return None
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise SnapshotUnavailable(
                        f"no snapshot of {self.namespace} after {self._snapshot_timeout:.0f}s: {exc}; "
                        + ("the disk cache is empty" if cache is not None else "no cache_dir configured")
                    ) from exc
                if not warned:
                    logger.warning("config service unreachable (%s); retrying for %.0fs", exc, remaining)
                    warned = True
                time.sleep(min(backoff.next_delay(), remaining))
            else:
                self._store.install(response.snapshot, SOURCE_API)
                return response.route

    # -- reads: no lock, no I/O --------------------------------------------

    def get(self, name: str, default: Any = None) -> Any:  # shadowed per instance, see _serve
        """The value of ``name`` as JSON decodes it (objects and arrays read-only), or ``default``."""
        return self._store.current.values.get(name, default)

    def get_int(self, name: str, default: int | None = None) -> int | None:
        value = self.get(name)
        # type() rather than isinstance(): a JSON true is not the number 1.
        if type(value) is int:
            return value
        return self._wrong_type(name, "int", value, default)

    def get_float(self, name: str, default: float | None = None) -> float | None:
        value = self.get(name)
        if type(value) is float or type(value) is int:
            return float(value)
        return self._wrong_type(name, "float", value, default)

    def get_bool(self, name: str, default: bool | None = None) -> bool | None:
        value = self.get(name)
        if type(value) is bool:
            return value
        return self._wrong_type(name, "bool", value, default)

    def get_str(self, name: str, default: str | None = None) -> str | None:
        value = self.get(name)
        if type(value) is str:
            return value
        return self._wrong_type(name, "str", value, default)

    def get_json(self, name: str, default: Any = None) -> Any:
        """A JSON object or array value (read-only: ``copy.deepcopy`` it to change it)."""
        value = self.get(name)
        if isinstance(value, dict | list):
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
        return self._store.current.view

    def schema(self, name: str) -> dict | None:
        """The config's JSON Schema as the service has it now (None: it has none).

        Unlike reads of values this asks the service (one request); raises
        ``ApiUnavailable`` / ``ApiError`` when it cannot answer.
        """
        return self._api.schema(name, timeout=self._http_timeout)

    @property
    def revision(self) -> int:
        """The namespace revision of the values being served (0 before start)."""
        return self._store.current.revision

    @property
    def source(self) -> str | None:
        """``"api"`` once the service has answered, ``"cache"`` while serving the disk cache."""
        return self._store.source

    def status(self) -> ClientStatus:
        """Where the values come from and whether they are kept current (cheap: no I/O)."""
        listener = self._listener
        return ClientStatus(
            source=self._store.source,
            revision=self._store.current.revision,
            feed=listener.feed if listener is not None else None,
            connected=listener is not None and not self._closed and listener.connected,
            last_error=listener.last_error if listener is not None else None,
            lag=listener.lag if listener is not None and not self._closed else None,
            epoch=self._store.current.epoch,
            reports_sent=self._reporter.sent,
            reports_dropped=self._reporter.dropped,
        )

    def __repr__(self) -> str:
        return f"<ConfigClient {self.namespace} revision={self.revision} source={self.source}>"

    # -- validation ----------------------------------------------------------

    def add_validator(self, name: str, validator: Callable[[Any], Any]) -> None:
        """Check every new value of ``name`` before it is read: ``validator(value)``
        returns True to accept; False or an exception (its text is the reason)
        refuses it. A refused value is not applied (the previous one stays),
        listeners are not called for it, and the config service is told why.
        Register validators before ``start()`` so the first values are checked too."""
        self._effective.add_validator(name, validator)

    # -- change notification -----------------------------------------------

    def on_change(self, callback: ChangeCallback, names: str | Iterable[str] | None = None) -> ChangeCallback:
        """Call ``callback(name, old, new)`` after each change (None for a missing value).

        Runs on the listener thread after the new snapshot is in place, so
        reads inside it already see ``new``; keep it short. ``names`` limits it
        to those config names. Returns ``callback``.
        """
        selected = None if names is None else frozenset([names] if isinstance(names, str) else names)
        self._store.add_callback(callback, selected)
        return callback

    def remove_on_change(self, callback: ChangeCallback) -> None:
        self._store.remove_callback(callback)

    def wait_for_revision(self, revision: int, timeout: float | None = None) -> bool:
        """Block until the served revision is at least ``revision``; False on timeout."""
        return self._store.wait_for_revision(revision, timeout)

    def on_changeset(self, callback: Callable[[int, dict[str, int]], None]) -> None:
        """Call ``callback(changeset_id, {namespace: revision})`` on the listener
        thread after this client applied its part of a changeset (see
        ``MultiNamespaceClient``, which waits for the other parts)."""
        self._store.add_changeset_callback(callback)
