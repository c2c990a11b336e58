"""The platform workers' consumer (webhooks, ack collector) against the real
broker: where a partition it sees for the first time starts."""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timezone

from confluent_kafka import Producer

from apps.configs.broker_admin import topic_ensure
from apps.configs.publisher import ConfigEventConsumer, platform_client_config


class _ProducesBeforeAssigning:
    """The consumer handed to the assignment callback, which has `produce()`
    run just before the assignment takes effect: the moment a producer's
    first events land on a topic the group has only just found."""

    def __init__(self, consumer, produce) -> None:
        self._consumer = consumer
        self._produce = produce

    def __getattr__(self, name):
        return getattr(self._consumer, name)

    def incremental_assign(self, partitions) -> None:
        self._produce()
        self._consumer.incremental_assign(partitions)


def test_new_topic__events_written_while_its_partitions_are_assigned__all_read():
    topic = f"test-worker-consumer-{uuid.uuid4().hex}"
    assert topic_ensure(topic, partitions=2) == 2
    producer = Producer(platform_client_config())

    def produce() -> None:
        for revision in (1, 2, 3):
            producer.produce(topic, key=b"t/prod/checkout", value=json.dumps({"revision": revision}))
        assert producer.flush(10) == 0

    class Consumer(ConfigEventConsumer):
        def _on_assign(self, consumer, partitions):
            super()._on_assign(_ProducesBeforeAssigning(consumer, produce), partitions)

    consumer = Consumer(f"test-{topic}", start_time=lambda: datetime.now(timezone.utc), topics_pattern=f"^{topic}$")
    try:
        events: list[dict] = []
        deadline = time.monotonic() + 30
        while len(events) < 3 and time.monotonic() < deadline:
            events += consumer.poll(10, 0.2)
        assert [event["revision"] for event in events] == [1, 2, 3]
    finally:
        consumer.close()
