"""The listener thread: keeps a client's snapshot in step with the namespace's changes.

The order of steps is what makes "no lost update" hold (DESIGN, Client SDK
contract):

1. fetch the snapshot, to learn the topic and partition count;
2. note the end offset of the one partition that carries the namespace;
3. fetch the snapshot again (conditional on the revision held), so every
   event before the noted offset is already in the snapshot;
4. assign that partition (no consumer group, no commits) at the noted offset
   and consume, applying only revision == current + 1.

Only ever an exact offset is assigned: librdkafka resolves a logical one (the
end) later, and can still move there after a newer assignment (its issue 5345).

A gap in revisions, an offset out of range, a change of topic layout, a long
Kafka outage or an event that contradicts one already applied repeats steps
2-4 ("a resync"), safe for the same reason as at start: the snapshot fetched
after noting the offset contains everything before it.

Kafka is reached with the settings the client was given (``kafka_bootstrap``
and ``kafka_config``) or, without them, with the token's own credentials,
which the config service hands out and which are asked for again when the
broker refuses them. A token the service gives no credentials (a person's
login) keeps in step by polling the snapshot instead ("the polling feed").
"""

import json
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any, Protocol

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from noreboot.api import ConfigApi, Route
from noreboot.errors import ApiError, ApiUnavailable
from noreboot.kafka_access import KafkaAccess
from noreboot.kafka_feed import (
    AUTH_ERRORS,
    CONNECTION_ERRORS,
    LAYOUT_ERRORS,
    LOST_POSITION_ERRORS,
    KafkaFeed,
    KafkaUnreachable,
)
from noreboot.partitioner import partition_for_namespace
from noreboot.refresher import SnapshotRefresher
from noreboot.reporter import Reporter
from noreboot.retry import Backoff, Outage
from noreboot.secrets import fill_secrets
from noreboot.snapshot import ApplyResult, Outcome, Snapshot

logger = logging.getLogger("noreboot")

FEED_KAFKA = "kafka"
FEED_POLLING = "polling"

_LAYOUT_CHANGES_TOLERATED = 3
_LAG_CHECK_INTERVAL = 1.0


class SnapshotHolder(Protocol):
    """What the listener needs of the client it keeps current."""

    @property
    def namespace(self) -> str: ...

    @property
    def current(self) -> Snapshot:
        """The snapshot being served."""

    @property
    def source(self) -> str | None:
        """``"api"`` or ``"cache"``: where ``current`` came from."""

    def install(self, snapshot: Snapshot, source: str) -> None:
        """Serve this whole snapshot."""

    def apply(self, event: Any) -> ApplyResult:
        """Apply one decoded event under the revision rules."""

    def flush(self) -> None:
        """Write the served snapshot to the disk cache if it is due."""


class KafkaListener:
    """A stoppable daemon thread that keeps a ``SnapshotHolder`` current."""

    def __init__(
        self,
        holder: SnapshotHolder,
        api: ConfigApi,
        route: Route | None,
        *,
        kafka_bootstrap: str | None,
        kafka_config: Mapping[str, Any],
        poll_timeout: float,
        poll_interval: float,
        resync_after_outage: float,
        refresh_interval: float,
        reporter: Reporter | None = None,
    ) -> None:
        self._holder = holder
        self._api = api
        self._reporter = reporter
        self._namespace = holder.namespace
        self._key = self._namespace.encode("utf-8")
        self._poll_timeout = poll_timeout
        self._poll_interval = poll_interval
        self._resync_after_outage = resync_after_outage
        self._refresh_interval = refresh_interval
        self._next_refresh_at = float("inf")
        self._stopping = threading.Event()
        self.last_error: str | None = None
        self._reported_error_codes: set[int] = set()

        self._access = KafkaAccess(
            api, kafka_bootstrap=kafka_bootstrap, kafka_config=kafka_config, poll_interval=poll_interval
        )
        self._feed = KafkaFeed(
            self._access.settings,
            stopping=self._stopping,
            on_error=self._on_kafka_error,
            on_outage_error=self._note_error,
        )
        self._lag: int | None = None
        self._next_lag_check = 0.0

        api_outage = Outage("config service", on_error=self._note_error)
        if route is None:
            # start() already said it serves the disk cache: no second warning.
            api_outage.down_since = time.monotonic()
        self._refresher = SnapshotRefresher(holder, api, route, api_outage)

        # Steps 2-4 are owed at start, and again after each reason to resync.
        self._sync_needed = True
        self._sync_min_revision = 0
        self._sync_full_fetch = route is None
        self._next_sync_at = 0.0
        self._sync_backoff = Backoff(initial=0.2, maximum=10.0)
        self._announced_partition: tuple[str, int] | None = None

        self._thread = threading.Thread(target=self._run, name=f"noreboot-listener:{self._namespace}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float) -> None:
        self._stopping.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    # -- what ConfigClient.status() shows (read from other threads) -------------

    @property
    def feed(self) -> str:
        return FEED_POLLING if self._access.polling else FEED_KAFKA

    @property
    def connected(self) -> bool:
        if self._access.polling:
            return not self._refresher.outage.is_down
        return self._feed.assigned is not None and not self._sync_needed and self._feed.healthy

    @property
    def lag(self) -> int | None:
        return self._lag if not self._access.polling and self.connected else None

    # -- the loop ------------------------------------------------------------

    def _run(self) -> None:
        crash_backoff = Backoff(initial=1.0, maximum=30.0)
        last_crash = ""
        try:
            while not self._stopping.is_set():
                try:
                    self._step()
                except Exception as exc:
                    # A bug or a bad kafka_config must not leave the service
                    # with frozen config and no sign of it: log it (once while
                    # it repeats), slow down, go on.
                    self._note_error(f"listener: {exc!r}")
                    if repr(exc) != last_crash:
                        last_crash = repr(exc)
                        logger.exception("noreboot listener for %s failed; retrying", self._namespace)
                    self._stopping.wait(crash_backoff.next_delay())
                else:
                    crash_backoff.reset()
        finally:
            self._feed.close()
            if self._reporter is not None:
                self._reporter.close()

    def _step(self) -> None:
        if time.monotonic() >= self._next_refresh_at and self._request_sync(full_fetch=True):
            # The safety net of Apollo-style clients: the only way to see a
            # digest mismatch, or a new topic layout while every fetch answers 304.
            logger.debug("%s: periodic snapshot refresh", self._namespace)
        if self._sync_needed and time.monotonic() >= self._next_sync_at:
            self._try_synchronise()
        feed = self._feed
        if feed.assigned is not None and not self._access.polling:
            self._poll_kafka()
            if feed.broken:
                feed.close()
                self._request_sync()
            else:
                self._after_away(feed.probe())
            if time.monotonic() >= self._next_lag_check:
                self._lag = feed.lag()
                self._next_lag_check = time.monotonic() + _LAG_CHECK_INTERVAL
        else:
            self._stopping.wait(min(0.2, max(0.0, self._next_sync_at - time.monotonic())))
        self._holder.flush()
        if self._reporter is not None:
            self._reporter.tick(self._access.credentials)

    # -- steps 1-4 -----------------------------------------------------------

    def _request_sync(self, *, min_revision: int = 0, full_fetch: bool = False, delay: float = 0.0) -> bool:
        """Owe a resync, not before ``delay`` seconds; returns False if one was already owed."""
        self._sync_min_revision = max(self._sync_min_revision, min_revision)
        self._sync_full_fetch = self._sync_full_fetch or full_fetch
        earliest = time.monotonic() + delay
        if self._sync_needed:
            self._next_sync_at = max(self._next_sync_at, earliest)
            return False
        self._sync_needed = True
        self._next_sync_at = earliest
        return True

    def _try_synchronise(self) -> None:
        try:
            self._synchronise()
        except (ApiError, ApiUnavailable) as exc:
            self._refresher.outage.down(exc)
        except (KafkaException, KafkaUnreachable) as exc:
            error = exc.args[0] if isinstance(exc, KafkaException) else None
            if error is not None and error.code() in AUTH_ERRORS and self._access.uses_credentials:
                self._on_auth_failure(error)
                self._feed.close()
                return  # the next attempt waits for the credentials' backoff
            if error is not None and error.code() in LAYOUT_ERRORS:
                # The topic we were told may be stale: ask the service again.
                self._sync_full_fetch = True
            self._feed.outage.down(exc)
        else:
            # The polling feed owes its next conditional fetch at once.
            polling = self._access.polling
            self._sync_needed = polling
            self._sync_min_revision = 0
            self._sync_backoff.reset()
            now = time.monotonic()
            self._next_sync_at = now + self._poll_interval if polling else now
            self._next_refresh_at = now + self._refresh_interval
            # Whatever trouble error_cb saw is over: the broker just answered.
            self._feed.answered()
            return
        self._next_sync_at = time.monotonic() + self._sync_backoff.next_delay()

    def _synchronise(self) -> None:
        refresher = self._refresher
        if refresher.route is None or self._sync_full_fetch:
            refresher.refresh(conditional=False, min_revision=self._sync_min_revision)  # step 1: learn the route
            self._sync_full_fetch = False
        elif self._access.polling:
            refresher.refresh(conditional=True, min_revision=self._sync_min_revision)
        if self._access.polling or not self._access.ensure(self._feed, self._namespace):
            return
        feed = self._feed
        for _ in range(_LAYOUT_CHANGES_TOLERATED):
            route = refresher.route
            assert route is not None
            partition = TopicPartition(route.topic, partition_for_namespace(self._namespace, route.partitions))
            end_offset = feed.end_offset(partition)  # step 2
            feed.outage.up()
            refresher.refresh(conditional=True, min_revision=self._sync_min_revision)  # step 3
            if refresher.route != route:
                logger.info("%s moved to %s: reassigning", self._namespace, refresher.route)
                continue
            feed.assign(partition, end_offset)  # step 4
            # Said once per partition; periodic refreshes would repeat it.
            where = (partition.topic, partition.partition)
            log = logger.info if where != self._announced_partition else logger.debug
            log(
                "%s: consuming %s[%d] from offset %d at revision %d",
                self._namespace,
                partition.topic,
                partition.partition,
                end_offset,
                self._holder.current.revision,
            )
            self._announced_partition = where
            return
        raise ApiUnavailable("the namespace's topic layout kept changing while resynchronising")

    # -- consuming -----------------------------------------------------------

    def _poll_kafka(self) -> None:
        message = self._feed.poll(self._poll_timeout)
        if message is None:
            return
        error = message.error()
        if error is not None:
            self._on_message_error(error)
            return
        self._after_away(self._feed.answered())
        self._access.accepted()
        if message.key() != self._key:
            return  # another namespace sharing the partition
        try:
            event = json.loads(message.value())
        except (TypeError, ValueError):
            event = None
        if not fill_secrets(event, self._holder.current, self._api, self._request_sync):
            return
        result = self._holder.apply(event)
        outcome = result.outcome
        if outcome is Outcome.APPLIED:
            return
        if outcome is Outcome.GAP:
            if self._request_sync(min_revision=event["revision"]):
                logger.info("%s: %s; fetching a new snapshot", self._namespace, result.reason)
        elif outcome is Outcome.EPOCH:
            # The revisions held mean nothing in the new history: a full
            # snapshot of it replaces them, whatever its revision.
            if self._request_sync(full_fetch=True):
                logger.warning("%s: %s; fetching the new history's snapshot", self._namespace, result.reason)
        elif outcome is Outcome.CONFLICT:
            # Only the full snapshot's digest tells which of the two was genuine.
            if self._request_sync(full_fetch=True):
                logger.warning("%s: %s; checking against the config service", self._namespace, result.reason)
        elif outcome is Outcome.INVALID:
            logger.warning(
                "%s: ignoring a malformed event at %s[%d] offset %d: %s",
                self._namespace,
                message.topic(),
                message.partition(),
                message.offset(),
                result.reason or "not JSON",
            )

    def _on_message_error(self, error: KafkaError) -> None:
        code = error.code()
        if code == KafkaError._PARTITION_EOF:
            return
        if code in LOST_POSITION_ERRORS:
            self._note_error(f"Kafka: {error.str()}")
            if self._request_sync():
                logger.warning("%s: Kafka position lost (%s); fetching a new snapshot", self._namespace, error.str())
        elif code in LAYOUT_ERRORS:
            self._note_error(f"Kafka: {error.str()}")
            if self._request_sync(full_fetch=True):
                logger.warning("%s: %s; asking the config service for the topic", self._namespace, error.str())
        elif code in CONNECTION_ERRORS:
            self._feed.note_trouble(error)
        elif code in AUTH_ERRORS:
            self._on_auth_failure(error)
        else:
            self._report_once(error)

    def _on_kafka_error(self, error: KafkaError) -> None:
        """librdkafka's error_cb; runs inside poll(), on this thread."""
        code = error.code()
        if code in CONNECTION_ERRORS:
            self._feed.note_trouble(error)
        elif code in AUTH_ERRORS:
            self._on_auth_failure(error)
        elif error.fatal():
            logger.error("%s: fatal Kafka error %s; recreating the consumer", self._namespace, error.str())
            self._feed.broken = True
        else:
            self._report_once(error)

    def _on_auth_failure(self, error: KafkaError) -> None:
        if not self._access.uses_credentials:
            self._report_once(error)  # a broker of the user's own: its settings are theirs to fix
            return
        self._note_error(f"Kafka: {error.str()}")
        self._feed.broken = True
        delay = self._access.refused(error, self._namespace)
        if delay is not None:
            self._request_sync(delay=delay)

    def _after_away(self, away: float) -> None:
        # Cheap insurance after a long outage: a failover may have lost or
        # rewritten what we would otherwise resume from.
        if away > self._resync_after_outage and self._request_sync():
            logger.info("%s: Kafka was away for a long time; fetching a new snapshot", self._namespace)

    def _report_once(self, error: KafkaError) -> None:
        self._note_error(f"Kafka: {error.str()}")
        if error.code() not in self._reported_error_codes:
            self._reported_error_codes.add(error.code())
            logger.warning("%s: Kafka error %s", self._namespace, error.str())

    def _note_error(self, text: str) -> None:
        self.last_error = text
