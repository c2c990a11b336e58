"""The listener thread: keeps a client's snapshot in step with Kafka.

The order of steps is what makes "no lost update" hold (DESIGN, Client SDK
contract):

1. fetch the snapshot, to learn the topic and partition count;
2. assign the one partition that carries the namespace (no consumer group,
   no commits) and note its end offset;
3. fetch the snapshot again (conditional on the revision held), so every
   event before the noted offset is already in the snapshot;
4. consume from the noted offset, applying only revision == current + 1.

A gap in revisions, an offset out of range, a change of topic layout or a
long Kafka outage repeats steps 2-4 ("a resync"). Seeking to the newly noted
end offset after a resync is safe for the same reason as at start: the
snapshot fetched after noting the offset contains everything before it.
"""

import json
import logging
import threading
import time
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from confluent_kafka import OFFSET_END, Consumer, KafkaError, KafkaException, TopicPartition

from noreboot.api import ConfigApi, Route
from noreboot.errors import ApiError, ApiUnavailable
from noreboot.partitioner import partition_for_namespace
from noreboot.retry import Backoff, Outage
from noreboot.snapshot import SOURCE_API, Outcome

if TYPE_CHECKING:
    from noreboot.client import ConfigClient

logger = logging.getLogger("noreboot")

# Broker connection trouble: reported by librdkafka through error_cb while it
# reconnects on its own.
_CONNECTION_ERRORS = frozenset({KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._RESOLVE})
# The position we hold no longer exists (retention deleted it, or the topic was
# re-created): events may have been missed.
_LOST_POSITION_ERRORS = frozenset({KafkaError._AUTO_OFFSET_RESET, KafkaError.OFFSET_OUT_OF_RANGE})
# The topic or partition is gone or different: the server may have moved the
# namespace (new topic, more partitions), which only a full snapshot tells.
_LAYOUT_ERRORS = frozenset({KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC, KafkaError._UNKNOWN_PARTITION})

# get_watermark_offsets answers these when the broker did not answer in time.
_NO_ANSWER_ERRORS = frozenset({KafkaError._TIMED_OUT, *_CONNECTION_ERRORS})

_END_OFFSET_TIMEOUT = 5.0
_PROBE_TIMEOUT = 1.0
_ANSWER_SLICE = 0.25
_LAYOUT_CHANGES_TOLERATED = 3


class KafkaUnreachable(Exception):
    """The broker did not answer within the time given."""


class KafkaListener:
    """A stoppable daemon thread that applies a namespace's events to a client."""

    def __init__(
        self,
        client: "ConfigClient",
        api: ConfigApi,
        bootstrap: str,
        route: Route | None,
        *,
        kafka_config: Mapping[str, Any],
        poll_timeout: float,
        resync_after_outage: float,
        refresh_interval: float,
    ) -> None:
        self._client = client
        self._api = api
        self._namespace = client.namespace
        self._key = self._namespace.encode("utf-8")
        self._route = route
        self._poll_timeout = poll_timeout
        self._resync_after_outage = resync_after_outage
        self._refresh_interval = refresh_interval
        self._next_refresh_at = float("inf")
        self._consumer_config = {
            "bootstrap.servers": bootstrap,
            # librdkafka wants a group id even for manual assignment; a unique
            # one guarantees no group state is shared or committed.
            "group.id": f"noreboot-sdk-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            # Never move silently past a lost position: it means missed events.
            "auto.offset.reset": "error",
            # With fetch.min.bytes=1 the broker answers a waiting fetch as soon
            # as an event is appended, so this wait bounds only idle round
            # trips: measured on a local broker, 10 ms and 500 ms gave the same ~4 ms
            # produce-to-applied latency; 100 ms keeps an idle client cheap.
            "fetch.wait.max.ms": 100,
            "fetch.min.bytes": 1,
            "client.id": "noreboot-sdk",
            # Connection failures are reported once by this module through
            # error_cb; librdkafka's own per-attempt lines would repeat them.
            "log_level": 2,
            "logger": logging.getLogger("noreboot.kafka"),
            **kafka_config,
            "error_cb": self._on_kafka_error,
        }
        self._consumer: Consumer | None = None
        self._consumer_broken = False
        self._assigned: TopicPartition | None = None
        self._announced_partition: tuple[str, int] | None = None

        # Steps 2-4 are owed at start, and again after each reason to resync.
        self._sync_needed = True
        self._sync_min_revision = 0
        self._sync_full_fetch = route is None
        self._next_sync_at = 0.0
        self._sync_backoff = Backoff(initial=0.2, maximum=10.0)

        self._api_outage = Outage("config service")
        if route is None:
            # start() already said it serves the disk cache: no second warning.
            self._api_outage.down_since = time.monotonic()
        self._kafka_outage = Outage("Kafka")
        self._connection_trouble_since: float | None = None
        self._last_connection_error = ""
        self._next_probe_at = 0.0
        self._probe_backoff = Backoff(initial=0.5, maximum=5.0)
        self._reported_error_codes: set[int] = set()

        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"noreboot-listener:{self._namespace}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float) -> None:
        self._stopping.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

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
                    if repr(exc) != last_crash:
                        last_crash = repr(exc)
                        logger.exception("noreboot listener for %s failed; retrying", self._namespace)
                    self._stopping.wait(crash_backoff.next_delay())
                else:
                    crash_backoff.reset()
        finally:
            self._close_consumer()

    def _step(self) -> None:
        if time.monotonic() >= self._next_refresh_at and self._request_sync(full_fetch=True):
            # The safety net of Apollo-style clients: also the only way to
            # learn of a new topic layout while every fetch answers 304.
            logger.debug("%s: periodic snapshot refresh", self._namespace)
        if self._sync_needed and time.monotonic() >= self._next_sync_at:
            self._try_synchronise()
        if self._assigned is not None:
            self._poll()
            if self._consumer_broken:
                self._consumer_broken = False
                self._close_consumer()
                self._request_sync()
            else:
                self._probe_connection()
        else:
            self._stopping.wait(min(0.2, max(0.0, self._next_sync_at - time.monotonic())))
        self._client._flush_cache()

    # -- steps 1-4 -----------------------------------------------------------

    def _request_sync(self, *, min_revision: int = 0, full_fetch: bool = False) -> bool:
        """Owe a resync; returns False if one was already owed."""
        self._sync_min_revision = max(self._sync_min_revision, min_revision)
        self._sync_full_fetch = self._sync_full_fetch or full_fetch
        if self._sync_needed:
            return False
        self._sync_needed = True
        self._next_sync_at = time.monotonic()
        return True

    def _try_synchronise(self) -> None:
        try:
            self._synchronise()
        except (ApiError, ApiUnavailable) as exc:
            self._api_outage.down(exc)
        except (KafkaException, KafkaUnreachable) as exc:
            if isinstance(exc, KafkaException) and exc.args[0].code() in _LAYOUT_ERRORS:
                # The topic we were told may be stale: ask the service again.
                self._sync_full_fetch = True
            self._kafka_outage.down(exc)
        else:
            self._sync_needed = False
            self._sync_min_revision = 0
            self._sync_backoff.reset()
            self._next_refresh_at = time.monotonic() + self._refresh_interval
            # Whatever trouble error_cb saw is over: the broker just answered.
            self._connection_trouble_since = None
            return
        self._next_sync_at = time.monotonic() + self._sync_backoff.next_delay()

    def _synchronise(self) -> None:
        if self._route is None or self._sync_full_fetch:
            self._refresh_snapshot(conditional=False)  # step 1: learn the route
            self._sync_full_fetch = False
        for _ in range(_LAYOUT_CHANGES_TOLERATED):
            route = self._route
            assert route is not None
            partition = TopicPartition(route.topic, partition_for_namespace(self._namespace, route.partitions))
            consumer = self._ensure_consumer()
            if not self._is_assigned(partition):
                consumer.assign([TopicPartition(partition.topic, partition.partition, OFFSET_END)])  # step 2
                self._assigned = partition
            end_offset = self._end_offset(partition)
            self._kafka_outage.up()
            self._refresh_snapshot(conditional=True)  # step 3
            if self._route != route:
                logger.info("%s moved to %s: reassigning", self._namespace, self._route)
                continue
            consumer.assign([TopicPartition(partition.topic, partition.partition, end_offset)])  # step 4
            # Said once per partition; periodic refreshes would repeat it.
            where = (partition.topic, partition.partition)
            log = logger.info if where != self._announced_partition else logger.debug
            log(
                "%s: consuming %s[%d] from offset %d at revision %d",
                self._namespace,
                partition.topic,
                partition.partition,
                end_offset,
                self._client.revision,
            )
            self._announced_partition = where
            return
        raise ApiUnavailable("the namespace's topic layout kept changing while resynchronising")

    def _refresh_snapshot(self, *, conditional: bool) -> None:
        client = self._client
        current = client._snapshot
        from_api = client.source == SOURCE_API
        response = self._api.fetch(if_none_match=current.revision if conditional and from_api else None)
        # Served values never go back in time: a lower revision than Kafka has
        # shown, or than already applied, is a lagging server, not the truth.
        floor = max(self._sync_min_revision, current.revision if from_api else 0)
        revision = current.revision if response is None else response.snapshot.revision
        if revision < floor:
            raise ApiUnavailable(f"config service served revision {revision} of {self._namespace}, expected >= {floor}")
        self._api_outage.up()
        if response is None:
            return  # 304: what we hold is current
        self._route = response.route
        if from_api and response.snapshot.revision == current.revision:
            return
        client._install_snapshot(response.snapshot, SOURCE_API)
        if not from_api:
            logger.info("%s now served from the config service at revision %d", self._namespace, client.revision)

    def _ensure_consumer(self) -> Consumer:
        if self._consumer is None:
            self._consumer = Consumer(self._consumer_config)
            self._assigned = None
        return self._consumer

    def _is_assigned(self, partition: TopicPartition) -> bool:
        assigned = self._assigned
        return assigned is not None and (assigned.topic, assigned.partition) == (partition.topic, partition.partition)

    def _end_offset(self, partition: TopicPartition) -> int:
        return self._watermarks(partition, _END_OFFSET_TIMEOUT)[1]

    def _watermarks(self, partition: TopicPartition, timeout: float) -> tuple[int, int]:
        """Ask the broker for the partition's (low, high) offsets.

        Asked in short slices so that close() is not held up by a broker that
        does not answer; librdkafka keeps connecting between the slices.
        """
        assert self._consumer is not None
        deadline = time.monotonic() + timeout
        last_error: object = "timed out"
        while not self._stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                offsets = self._consumer.get_watermark_offsets(
                    partition, timeout=min(_ANSWER_SLICE, remaining), cached=False
                )
            except KafkaException as exc:
                if exc.args[0].code() not in _NO_ANSWER_ERRORS:
                    raise
                last_error = exc.args[0].str()
                continue
            if offsets is not None:
                return offsets
        raise KafkaUnreachable(f"no end offset for {partition.topic}[{partition.partition}]: {last_error}")

    def _close_consumer(self) -> None:
        consumer, self._consumer, self._assigned = self._consumer, None, None
        if consumer is not None:
            try:
                consumer.close()
            except (KafkaException, RuntimeError) as exc:
                logger.debug("closing the Kafka consumer: %s", exc)

    # -- consuming -----------------------------------------------------------

    def _poll(self) -> None:
        assert self._consumer is not None
        message = self._consumer.poll(self._poll_timeout)
        if message is None:
            return
        error = message.error()
        if error is not None:
            self._on_message_error(error)
            return
        self._on_broker_reachable()
        if message.key() != self._key:
            return  # another namespace sharing the partition
        try:
            event = json.loads(message.value())
        except (TypeError, ValueError):
            event = None
        result = self._client._apply_event(event)
        if result.outcome is Outcome.GAP:
            if self._request_sync(min_revision=event["revision"]):
                logger.info("%s: %s; fetching a new snapshot", self._namespace, result.reason)
        elif result.outcome is Outcome.INVALID:
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
        if code in _LOST_POSITION_ERRORS:
            if self._request_sync():
                logger.warning("%s: Kafka position lost (%s); fetching a new snapshot", self._namespace, error.str())
        elif code in _LAYOUT_ERRORS:
            if self._request_sync(full_fetch=True):
                logger.warning("%s: %s; asking the config service for the topic", self._namespace, error.str())
        elif code in _CONNECTION_ERRORS:
            self._note_connection_trouble(error)
        else:
            self._report_once(error)

    def _on_kafka_error(self, error: KafkaError) -> None:
        """librdkafka's error_cb; runs inside poll(), on this thread."""
        if error.code() in _CONNECTION_ERRORS:
            self._note_connection_trouble(error)
        elif error.fatal():
            # Not closed here: this runs inside the consumer's own poll().
            logger.error("%s: fatal Kafka error %s; recreating the consumer", self._namespace, error.str())
            self._consumer_broken = True
        else:
            self._report_once(error)

    def _report_once(self, error: KafkaError) -> None:
        if error.code() not in self._reported_error_codes:
            self._reported_error_codes.add(error.code())
            logger.warning("%s: Kafka error %s", self._namespace, error.str())

    # -- outages ---------------------------------------------------------------

    def _note_connection_trouble(self, error: KafkaError) -> None:
        """librdkafka reconnects by itself; remember when trouble began and probe."""
        self._last_connection_error = error.str()
        if self._connection_trouble_since is None:
            self._connection_trouble_since = time.monotonic()
            self._next_probe_at = self._connection_trouble_since + _PROBE_TIMEOUT

    def _probe_connection(self) -> None:
        """While in trouble, ask the broker for the end offset: an idle partition
        delivers no messages, so only a round trip tells that it is back."""
        if self._connection_trouble_since is None or time.monotonic() < self._next_probe_at:
            return
        if self._consumer is None or self._assigned is None:
            return
        try:
            self._watermarks(self._assigned, _PROBE_TIMEOUT)
            reachable = True
        except (KafkaException, KafkaUnreachable):
            reachable = False
        if reachable:
            self._on_broker_reachable()
        else:
            self._kafka_outage.down(self._last_connection_error or "no answer from the broker")
            self._next_probe_at = time.monotonic() + self._probe_backoff.next_delay()

    def _on_broker_reachable(self) -> None:
        # Called for every message: the common case must stay two comparisons.
        trouble_since = self._connection_trouble_since
        if trouble_since is None and not self._kafka_outage.is_down:
            return
        began = trouble_since if trouble_since is not None else self._kafka_outage.down_since
        self._connection_trouble_since = None
        self._probe_backoff.reset()
        self._kafka_outage.up()
        if began is not None and time.monotonic() - began > self._resync_after_outage:
            # Cheap insurance after a long outage: a failover may have lost
            # or rewritten what we would otherwise resume from.
            if self._request_sync():
                logger.info("%s: Kafka was away for a long time; fetching a new snapshot", self._namespace)
