"""The listener's Kafka side: one consumer assigned to the partition that carries a namespace.

It owns the ``confluent_kafka.Consumer`` (created lazily, recreated after a
fatal error or with new credentials), its assignment and offsets, and the
health of the broker connection. What to do about an error (resync, new
credentials) is the listener's decision; this module only sorts errors.
"""

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from noreboot.api import KafkaCredentials
from noreboot.retry import Backoff, Outage

logger = logging.getLogger("noreboot")

# Broker connection trouble: reported by librdkafka through error_cb while it
# reconnects on its own.
CONNECTION_ERRORS = frozenset({KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._RESOLVE})
# The position we hold no longer exists (retention deleted it, or the topic was
# re-created): events may have been missed.
LOST_POSITION_ERRORS = frozenset({KafkaError._AUTO_OFFSET_RESET, KafkaError.OFFSET_OUT_OF_RANGE})
# The topic or partition is gone or different: the server may have moved the
# namespace (new topic, more partitions), which only a full snapshot tells.
LAYOUT_ERRORS = frozenset({KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC, KafkaError._UNKNOWN_PARTITION})
# The broker refused who we are (a deleted or rotated SCRAM credential) or
# what we may do (ACLs): with credentials from the service, ask it again.
AUTH_ERRORS = frozenset(
    {
        KafkaError._AUTHENTICATION,
        KafkaError.SASL_AUTHENTICATION_FAILED,
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.GROUP_AUTHORIZATION_FAILED,
    }
)

# get_watermark_offsets answers these when the broker did not answer in time.
_NO_ANSWER_ERRORS = frozenset({KafkaError._TIMED_OUT, *CONNECTION_ERRORS})

_END_OFFSET_TIMEOUT = 5.0
_PROBE_TIMEOUT = 1.0
_ANSWER_SLICE = 0.25

_BASE_SETTINGS = {
    "enable.auto.commit": False,
    "enable.auto.offset.store": False,
    # Never move silently past a lost position: it means missed events.
    "auto.offset.reset": "error",
    # With fetch.min.bytes=1 the broker answers a waiting fetch as soon as an
    # event is appended, so this wait bounds only idle round trips: measured
    # on a local broker, 10 ms and 500 ms gave the same ~4 ms produce-to-applied
    # latency; 100 ms keeps an idle client cheap.
    "fetch.wait.max.ms": 100,
    "fetch.min.bytes": 1,
    "client.id": "noreboot-sdk",
    # Connection failures are reported once by this module through error_cb;
    # librdkafka's own per-attempt lines would repeat them.
    "log_level": 2,
}


def credential_settings(credentials: KafkaCredentials) -> dict[str, Any]:
    """librdkafka settings for the token's own principal."""
    settings: dict[str, Any] = {
        "bootstrap.servers": credentials.bootstrap_servers,
        "security.protocol": credentials.security_protocol,
        # The principal may read only the group named after it, and the
        # client asks for its group's coordinator even when it only assigns.
        "group.id": credentials.username,
    }
    protocol = credentials.security_protocol.upper()
    if protocol.startswith("SASL"):
        settings.update(
            {
                "sasl.mechanism": credentials.sasl_mechanism,
                "sasl.username": credentials.username,
                "sasl.password": credentials.password,
            }
        )
    if protocol.endswith("SSL") and credentials.ca_pem:
        settings["ssl.ca.pem"] = credentials.ca_pem
    return settings


class KafkaUnreachable(Exception):
    """The broker did not answer within the time given."""


class KafkaFeed:
    """A consumer (no group, no commits) of one partition, and the broker's health as it sees it."""

    def __init__(
        self,
        settings: Mapping[str, Any],
        *,
        stopping: threading.Event,
        on_error: Callable[[KafkaError], None],
        on_outage_error: Callable[[str], None],
    ) -> None:
        self._stopping = stopping
        self._on_error = on_error
        self.consumer: Consumer | None = None
        self.assigned: TopicPartition | None = None
        # Set by error_cb, which runs inside the consumer's own poll(): the
        # listener closes the consumer once poll() has returned.
        self.broken = False
        self._next_offset: int | None = None  # of the next message to read, for lag()
        self._settings: dict[str, Any] = {}
        self.use_settings(settings)

        self.outage = Outage("Kafka", on_error=on_outage_error)
        self._trouble_since: float | None = None
        self._last_trouble = ""
        self._next_probe_at = 0.0
        self._probe_backoff = Backoff(initial=0.5, maximum=5.0)

    def use_settings(self, settings: Mapping[str, Any]) -> None:
        """Connect with these settings from now on (the next ``assign`` creates the consumer)."""
        self.close()
        self._settings = {
            **_BASE_SETTINGS,
            "logger": logging.getLogger("noreboot.kafka"),
            **settings,
            "error_cb": self._on_error,
        }

    # -- assignment and offsets ----------------------------------------------

    def _connected(self) -> Consumer:
        if self.consumer is None:
            self.consumer = Consumer(self._settings)
        return self.consumer

    def assign(self, partition: TopicPartition, offset: int) -> None:
        """Read the partition from `offset`, an exact one (see the listener on why never a logical one)."""
        assert offset >= 0, offset
        self._connected().assign([TopicPartition(partition.topic, partition.partition, offset)])
        self.assigned = partition
        self._next_offset = offset

    def end_offset(self, partition: TopicPartition) -> int:
        self._connected()
        return self._watermarks(partition, _END_OFFSET_TIMEOUT)[1]

    def _watermarks(self, partition: TopicPartition, timeout: float) -> tuple[int, int]:
        """Ask the broker for the partition's (low, high) offsets.

        Asked in short slices so that close() is not held up by a broker that
        does not answer; librdkafka keeps connecting between the slices.
        """
        assert self.consumer is not None
        deadline = time.monotonic() + timeout
        last_error: object = "timed out"
        while not self._stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                offsets = self.consumer.get_watermark_offsets(
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

    def lag(self) -> int | None:
        """Messages on the partition not read yet, from the high offset the last fetch saw (no round trip)."""
        consumer, assigned, next_offset = self.consumer, self.assigned, self._next_offset
        if consumer is None or assigned is None or next_offset is None:
            return None
        try:
            high = consumer.get_watermark_offsets(assigned, cached=True)[1]
        except (KafkaException, RuntimeError):
            return None
        return max(0, high - next_offset) if high >= 0 else None

    def poll(self, timeout: float) -> Message | None:
        assert self.consumer is not None
        message = self.consumer.poll(timeout)
        if message is not None and message.error() is None:
            self._next_offset = message.offset() + 1
        return message

    def close(self) -> None:
        consumer, self.consumer, self.assigned, self._next_offset = self.consumer, None, None, None
        self.broken = False
        if consumer is not None:
            try:
                consumer.close()
            except (KafkaException, RuntimeError) as exc:
                logger.debug("closing the Kafka consumer: %s", exc)

    # -- connection health -------------------------------------------------------

    @property
    def healthy(self) -> bool:
        return self._trouble_since is None and not self.outage.is_down

    def note_trouble(self, error: KafkaError) -> None:
        """librdkafka reconnects by itself; remember when trouble began, and probe."""
        self._last_trouble = error.str()
        if self._trouble_since is None:
            self._trouble_since = time.monotonic()
            self._next_probe_at = self._trouble_since + _PROBE_TIMEOUT

    def probe(self) -> float:
        """While in trouble, ask the broker for the end offset: an idle partition
        delivers no messages, so only a round trip tells that it is back.
        Returns how long it was away if it just came back, else 0."""
        if self._trouble_since is None or time.monotonic() < self._next_probe_at:
            return 0.0
        if self.consumer is None or self.assigned is None:
            return 0.0
        try:
            self._watermarks(self.assigned, _PROBE_TIMEOUT)
        except (KafkaException, KafkaUnreachable):
            self.outage.down(self._last_trouble or "no answer from the broker")
            self._next_probe_at = time.monotonic() + self._probe_backoff.next_delay()
            return 0.0
        return self.answered()

    def answered(self) -> float:
        """The broker answered; returns how long it was away (0 in the common case)."""
        # Called for every message: the common case must stay two comparisons.
        trouble_since = self._trouble_since
        if trouble_since is None and not self.outage.is_down:
            return 0.0
        began = trouble_since if trouble_since is not None else self.outage.down_since
        self._trouble_since = None
        self._probe_backoff.reset()
        self.outage.up()
        return 0.0 if began is None else time.monotonic() - began
