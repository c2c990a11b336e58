"""Apply reports (DESIGN, "Instances and acks"): the client tells the config
service which revision it applied and which values it refused, on start,
after every applied or refused revision, and every ``interval`` seconds.

A report is one ``produce`` call on the token's own Kafka principal, which
may write only its tenant's ack topic. It never blocks the client: a report
that cannot be queued or delivered is dropped and counted (``dropped``), and
the next one says everything again.

Each report is signed: ``principal`` names the token's Kafka principal and
``mac`` is HMAC-SHA256 (hex), keyed with that principal's password, of the
report without ``mac`` as JSON with sorted keys, no spaces and non-ASCII
escaped. The collector derives the password too and keeps only reports signed
for their own namespace, so a token cannot report for another namespace."""

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from confluent_kafka import KafkaException, Producer

from noreboot.api import KafkaCredentials
from noreboot.effective import EffectiveValues
from noreboot.kafka_feed import credential_settings
from noreboot.store import SnapshotStore

logger = logging.getLogger("noreboot")

try:
    SDK_VERSION = f"noreboot-python/{version('noreboot')}"
except PackageNotFoundError:  # run from a source tree that is not installed
    SDK_VERSION = "noreboot-python"


def report_mac(password: str, report: dict[str, Any]) -> str:
    """The ``mac`` of a report (every field but ``mac`` itself)."""
    body = {key: value for key, value in report.items() if key != "mac"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(password.encode(), canonical, hashlib.sha256).hexdigest()


def _rfc3339(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat().replace("+00:00", "Z")


class Reporter:
    def __init__(
        self, store: SnapshotStore, effective: EffectiveValues, *, interval: float,
        producer_factory: Callable[[dict], Any] = Producer,
    ) -> None:
        self._store = store
        # The bench and the tests hand in a producer that counts its calls.
        self._producer_factory = producer_factory
        self._effective = effective
        self._interval = interval
        self._producer: Producer | None = None
        self._topic = ""
        self._credentials: KafkaCredentials | None = None
        # What the last report said, to report again as soon as it changes.
        self._reported: tuple[int, str | None, int] | None = None
        self._next_at = 0.0
        self.sent = 0
        self.dropped = 0

    def tick(self, credentials: KafkaCredentials | None) -> None:
        """Send a report if one is due (called often by the listener thread; cheap otherwise)."""
        if credentials is None or not credentials.ack_topic:
            return
        try:
            self._tick(credentials)
        except Exception as exc:  # reporting must never disturb the listener
            self._drop(f"reporter failed: {exc!r}")

    def _tick(self, credentials: KafkaCredentials) -> None:
        if credentials is not self._credentials:
            self._connect(credentials)
        snapshot = self._store.current
        state = (snapshot.revision, snapshot.epoch, self._effective.rejections_seen)
        producer = self._producer
        assert producer is not None
        if state != self._reported or time.monotonic() >= self._next_at:
            self._reported = state
            self._next_at = time.monotonic() + self._interval
            self.send_now()
        producer.poll(0)  # delivery reports: failures are counted there

    def report(self) -> dict[str, Any]:
        snapshot = self._store.current
        applied_at = self._store.applied_at
        return {
            "instance_id": self._effective.instance_id,
            "namespace": snapshot.namespace,
            "labels": self._effective.labels,
            "revision": snapshot.revision,
            "epoch": snapshot.epoch,
            "applied_at": _rfc3339(applied_at) if applied_at is not None else None,
            "rejected": list(self._effective.rejected.values()),
            "sdk": SDK_VERSION,
            "reported_at": _rfc3339(time.time()),
        }

    def send_now(self) -> None:
        """One report, one produce call (queued; delivered in the background)."""
        if self._producer is None:
            self._drop("no Kafka credentials yet")
            return
        report = self.report()
        assert self._credentials is not None  # set with the producer
        report["principal"] = self._credentials.username
        report["mac"] = report_mac(self._credentials.password, report)
        try:
            self._producer.produce(
                self._topic, key=self._effective.instance_id.encode(),
                value=json.dumps(report, separators=(",", ":")).encode(), on_delivery=self._on_delivery,
            )
        except (BufferError, KafkaException) as exc:
            self._drop(f"not queued: {exc}")
            return
        self.sent += 1

    def _on_delivery(self, error: Any, _message: Any) -> None:
        if error is not None:
            self._drop(f"not delivered: {error}")

    def _drop(self, why: str) -> None:
        self.dropped += 1
        # Said once per streak of failures; the count tells the rest.
        log = logger.warning if self.dropped == 1 or self.dropped % 100 == 0 else logger.debug
        log("apply report dropped (%d so far): %s", self.dropped, why)

    def _connect(self, credentials: KafkaCredentials) -> None:
        self.close()
        settings = credential_settings(credentials)
        settings.pop("group.id")  # a consumer's setting
        self._producer = self._producer_factory({
            **settings,
            "client.id": "noreboot-sdk-reporter",
            "acks": 1,
            "linger.ms": 5,
            # A report older than this says nothing the next one will not.
            "message.timeout.ms": 10000,
            "queue.buffering.max.messages": 1000,
        })
        self._topic = credentials.ack_topic
        self._credentials = credentials

    def close(self, timeout: float = 1.0) -> None:
        if self._producer is not None:
            self._producer.flush(timeout)
            self._producer = None
