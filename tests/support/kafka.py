"""Test-side Kafka access with plain confluent-kafka, so that tests check what
actually landed on the broker; only the platform's connection settings and
topic naming come from the project."""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from apps.configs.events import config_topic_for_tenant, config_topics_pattern
from apps.configs.publisher import platform_client_config

ROOT = Path(__file__).resolve().parents[2]


class TopicTail:
    """Reads, as the platform principal, what lands on the config topics from
    now on: collect(key, ...) follows the topic that carries that namespace.

    A topic that exists when the tail is made is read from its end at that
    moment; one made later (a new tenant's) from its beginning."""

    def __init__(self) -> None:
        self._consumer = Consumer({
            **platform_client_config(),
            "group.id": f"test-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 10,
        }, logger=logging.getLogger("tests.kafka"))
        # Only the config topics it may follow: not Kafka's own (__consumer_offsets
        # is made at a broker's first group, and has no leader for a moment).
        followed = re.compile(config_topics_pattern())
        existing = {name: topic for name, topic in self._consumer.list_topics(timeout=10).topics.items()
                    if followed.match(name)}
        self._start = {name: self._end_offsets(name, sorted(topic.partitions)) for name, topic in existing.items()}
        self._assigned: list[TopicPartition] = []
        self._by_key: dict[str, list[dict]] = {}

    def _end_offsets(self, topic: str, partitions: list[int]) -> list[TopicPartition]:
        ends = []
        for partition in partitions:
            deadline = time.monotonic() + 10
            while True:
                try:
                    _low, high = self._consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
                    break
                except KafkaException as exc:
                    # A topic made a moment ago may still be electing its leader.
                    if not exc.args[0].retriable() or time.monotonic() >= deadline:
                        raise
                    time.sleep(0.1)
            ends.append(TopicPartition(topic, partition, high))
        return ends

    def _follow(self, topic: str, deadline: float) -> bool:
        if any(assigned.topic == topic for assigned in self._assigned):
            return True
        start = self._start.get(topic)
        while start is None:
            # Created by the relay before the tenant's first event.
            metadata = self._consumer.list_topics(topic, timeout=5).topics.get(topic)
            if metadata is not None and metadata.error is None and metadata.partitions:
                start = [TopicPartition(topic, partition, OFFSET_BEGINNING) for partition in sorted(metadata.partitions)]
            elif time.monotonic() >= deadline:
                return False
            else:
                time.sleep(0.1)
        self._assigned += start
        self._consumer.assign(self._assigned)
        return True

    def collect(self, key: str, count: int, timeout: float = 30.0) -> list[dict]:
        """The next `count` messages with this key (value decoded, plus
        `_partition` and `_offset`), in the order Kafka holds them. Messages of
        other keys read meanwhile are kept for their own collect()."""
        deadline = time.monotonic() + timeout
        if not self._follow(config_topic_for_tenant(key.partition("/")[0]), deadline):
            return []
        pending = self._by_key.setdefault(key, [])
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


def topic_names() -> set[str]:
    """Every topic on the broker but Kafka's own."""
    admin = AdminClient(platform_client_config())
    return {name for name in admin.list_topics(timeout=10).topics if not name.startswith("__")}


def topics_delete(names: set[str]) -> None:
    """Delete the topics, waiting for the broker's answer. A suite makes a
    tenant, so two topics, in most tests: kept, they add up to thousands of
    partitions over a few runs, which a broker loads one by one at every start."""
    if not names:
        return
    admin = AdminClient(platform_client_config())
    for future in admin.delete_topics(sorted(names), operation_timeout=60, request_timeout=120).values():
        future.result()


def kafka_script(command: str) -> None:
    subprocess.run(["bash", str(ROOT / "scripts" / "kafka.sh"), command], check=True, timeout=180)


PORT_STEP = 10  # scripts/kafka.sh: node n listens on each base port + 10 * (n - 1)


def free_port_base(brokers: int) -> int:
    """A base port whose three listeners on each node are free."""
    for base in range(31000, 60000, 97):
        wanted = [base + offset + PORT_STEP * node for node in range(brokers) for offset in range(3)]
        try:
            for port in wanted:
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free ports for the test cluster")


class LocalCluster:
    """Kafka nodes of a test's own (scripts/kafka.sh with their own KAFKA_HOME
    and ports): the shared broker of the rest of the suite is never touched."""

    def __init__(self, home: Path, brokers: int) -> None:
        self.home = home
        self.brokers = brokers
        base = free_port_base(brokers)
        environment = {name: value for name, value in os.environ.items() if not name.startswith("KAFKA_")}
        libs = ROOT / ".local" / "kafka" / "libs"
        if libs.is_dir():
            environment["KAFKA_LIBS_DIR"] = str(libs)  # the jars `make test` already fetched
        self._script_env = dict(
            environment, KAFKA_HOME=str(home), KAFKA_BROKERS=str(brokers),
            KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{base}", KAFKA_CONTROLLER_PORT=str(base + 1),
            KAFKA_CLIENT_PORT=str(base + 2),
        )
        self.platform_env: dict[str, str] = {}

    def node_dir(self, node: int) -> Path:
        """scripts/kafka.sh: a single node keeps everything directly in its KAFKA_HOME."""
        return self.home if self.brokers == 1 else self.home / f"node-{node}"

    def script(self, command: str, *nodes: int) -> str:
        done = subprocess.run(
            ["bash", str(ROOT / "scripts" / "kafka.sh"), command, *map(str, nodes)],
            env=self._script_env, capture_output=True, text=True, timeout=240,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    def start(self, *nodes: int) -> None:
        self.script("start", *nodes)
        if not self.platform_env:
            exports = self.script("env")
            self.platform_env = dict(
                shlex.split(line.removeprefix("export "))[0].split("=", 1) for line in exports.splitlines()
            )

    def platform_password(self) -> str:
        return Path(self.platform_env["KAFKA_SASL_PASSWORD_FILE"]).read_text().strip()

    def stop(self, *nodes: int) -> None:
        self.script("stop", *nodes)

    def kill(self, node: int) -> None:
        pid = int((self.node_dir(node) / "kafka.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
