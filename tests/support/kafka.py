"""Test-side Kafka access with plain confluent-kafka, no project code, so that
tests check what actually landed on the broker."""

from __future__ import annotations

import json
import logging
import subprocess
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

ROOT = Path(__file__).resolve().parents[2]


class TopicTail:
    """Notes the end of every partition when created; collect() returns what
    was appended after that point."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self._consumer = Consumer({
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 10,
        }, logger=logging.getLogger("tests.kafka"))
        metadata = self._consumer.list_topics(topic, timeout=10)
        partitions = sorted(metadata.topics[topic].partitions)
        start = []
        for partition in partitions:
            _low, high = self._consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            start.append(TopicPartition(topic, partition, high))
        self._consumer.assign(start)
        self._by_key: dict[str, list[dict]] = {}

    def collect(self, key: str, count: int, timeout: float = 30.0) -> list[dict]:
        """The next `count` messages with this key (value decoded, plus
        `_partition` and `_offset`), in the order Kafka holds them. Messages of
        other keys read meanwhile are kept for their own collect()."""
        pending = self._by_key.setdefault(key, [])
        deadline = time.monotonic() + timeout
        while len(pending) < count and time.monotonic() < deadline:
            message = self._consumer.poll(0.2)
            if message is None or message.error():
                continue
            value = json.loads(message.value())
            value["_partition"] = message.partition()
            value["_offset"] = message.offset()
            self._by_key.setdefault((message.key() or b"").decode(errors="replace"), []).append(value)
        found, self._by_key[key] = pending[:count], pending[count:]
        return found

    def close(self) -> None:
        self._consumer.close()


def kafka_script(command: str) -> None:
    subprocess.run(["bash", str(ROOT / "scripts" / "kafka.sh"), command], check=True, timeout=180)
