"""A 3-broker KRaft cluster of its own (scripts/kafka.sh with KAFKA_BROKERS=3,
its own KAFKA_HOME and ports, started and stopped by this module): the relay,
the API and an SDK client ride out a killed partition leader and the loss of
two brokers. The shared broker of the rest of the suite is never touched."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource
from noreboot import ConfigClient
from noreboot.partitioner import partition_for_namespace
from rest_framework_simplejwt.tokens import AccessToken

from apps.configs.events import route_for
from apps.configs.models import Configuration, OutboxEvent
from apps.configs.publisher import platform_client_config
from apps.tenants.services import service_token_create
from tests.support.kafka import TopicTail
from tests.support.processes import ROOT, ApiServer, RelayProcess, http_call
from tests.test_relay import assert_gapless_in_order, collect_through

pytestmark = pytest.mark.django_db(transaction=True)

BROKERS = 3
PORT_STEP = 10  # scripts/kafka.sh: node n listens on each base port + 10 * (n - 1)


def free_port_base() -> int:
    """A base port whose three listeners on each of the three nodes are free."""
    for base in range(31000, 60000, 97):
        wanted = [base + offset + PORT_STEP * node for node in range(BROKERS) for offset in range(3)]
        try:
            for port in wanted:
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free ports for the test cluster")


class LocalCluster:
    def __init__(self, home: Path) -> None:
        self.home = home
        base = free_port_base()
        environment = {name: value for name, value in os.environ.items() if not name.startswith("KAFKA_")}
        libs = ROOT / ".local" / "kafka" / "libs"
        if libs.is_dir():
            environment["KAFKA_LIBS_DIR"] = str(libs)  # the jars `make test` already fetched
        self._script_env = dict(
            environment, KAFKA_HOME=str(home), KAFKA_BROKERS=str(BROKERS),
            KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{base}", KAFKA_CONTROLLER_PORT=str(base + 1),
            KAFKA_CLIENT_PORT=str(base + 2),
        )
        self.platform_env: dict[str, str] = {}

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

    def stop(self, *nodes: int) -> None:
        self.script("stop", *nodes)

    def kill(self, node: int) -> None:
        pid = int((self.home / f"node-{node}" / "kafka.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = LocalCluster(tmp_path_factory.mktemp("kafka-cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def on_cluster(cluster, settings, editor):
    """The relay and an API (its own server) on the cluster; the test process
    reads the cluster too. Yields (api, namespace, editor's token, tail)."""
    _, namespace, user = editor
    env = cluster.platform_env
    settings.KAFKA_BOOTSTRAP_SERVERS = env["KAFKA_BOOTSTRAP_SERVERS"]
    settings.KAFKA_SASL_PASSWORD = Path(env["KAFKA_SASL_PASSWORD_FILE"]).read_text().strip()
    database = settings.DATABASES["default"]["NAME"]
    shared = dict(env, NOREBOOT_READY_CACHE_SECONDS="0")
    relay, api = RelayProcess(database, **shared), ApiServer(database, workers=1, **shared)
    # Before the relay creates this test's topics, so it reads them from their start.
    tail = TopicTail()
    try:
        relay.start()
        api.start()
        yield api, namespace, str(AccessToken.for_user(user)), tail
    finally:
        tail.close()
        api.stop()
        relay.stop()


def partition_leader(namespace) -> int:
    """The broker (node id) leading the partition that carries the namespace, once the topic exists."""
    admin = AdminClient(platform_client_config())
    route = route_for(namespace)
    partition = partition_for_namespace(namespace.path, route.partitions)
    deadline = time.monotonic() + 60
    while True:
        topic = admin.list_topics(route.topic, timeout=10).topics.get(route.topic)
        if topic is not None and topic.error is None and partition in topic.partitions:
            leader = topic.partitions[partition].leader
            replicas = topic.partitions[partition].replicas
            if leader >= 0:
                assert len(replicas) == BROKERS, f"replication factor {len(replicas)}"
                return leader
        assert time.monotonic() < deadline, "the relay did not create the tenant's topic"
        time.sleep(0.2)


def topic_min_insync(namespace) -> str:
    admin = AdminClient(platform_client_config())
    resource = ConfigResource(ConfigResource.Type.TOPIC, route_for(namespace).topic)
    return admin.describe_configs([resource])[resource].result(timeout=10)["min.insync.replicas"].value


class ReadinessWatch:
    """Polls /readyz from a thread, keeping every answer."""

    def __init__(self, api: ApiServer) -> None:
        self.answers: list[tuple[int, dict]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(api,))
        self._thread.start()

    def _run(self, api: ApiServer) -> None:
        while not self._stop.wait(0.25):
            status, text = http_call(f"{api.url}/readyz")
            self.answers.append((status, json.loads(text)))

    def stop(self) -> list[tuple[int, dict]]:
        self._stop.set()
        self._thread.join(timeout=30)
        return self.answers


def wait_for_readiness(api: ApiServer, predicate, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status, text = http_call(f"{api.url}/readyz")
        body = json.loads(text)
        if predicate(status, body):
            return body
        assert time.monotonic() < deadline, f"/readyz kept answering {status} {body}"
        time.sleep(0.2)


def test_cluster__partition_leader_killed_after_write_100_and_back_after_300__500_writes_all_delivered_in_order(
    cluster, on_cluster, tmp_path, change_context
):
    api, namespace, token, tail = on_cluster
    leader = partition_leader(namespace)
    assert topic_min_insync(namespace) == "2"
    _, service_token = service_token_create(namespace=namespace, name="cluster-client", context=change_context)
    client = ConfigClient(namespace=namespace.path, api_url=api.url, token=service_token, cache_dir=tmp_path).start()
    readiness = ReadinessWatch(api)
    restart = threading.Thread(target=cluster.start, args=(leader,))
    statuses: list[int] = []
    try:
        for value in range(1, 501):
            status, _ = http_call(
                f"{api.url}/api/v1/namespaces/{namespace.path}/configs/k{value % 7}/", "PUT", token, {"value": value}
            )
            statuses.append(status)
            if value == 100:
                cluster.kill(leader)
            elif value == 300:
                restart.start()
        restart.join(timeout=240)
        answers = readiness.stop()

        assert set(statuses) <= {201, 503}
        namespace.refresh_from_db()
        # Every 201 made exactly one revision, and no 503 wrote anything.
        assert namespace.revision == statuses.count(201) == 500
        messages = collect_through(tail, namespace.path, namespace.revision, timeout=120)
        assert_gapless_in_order(messages, namespace.revision)
        assert [m["value"] for m in messages if m["revision"] == namespace.revision] == [500]
        assert client.wait_for_revision(namespace.revision, timeout=60), client.status()
        expected = dict(Configuration.objects.filter(namespace=namespace, is_active=True).values_list("name", "value"))
        assert {name: client.get(name) for name in expected} == expected
        # At most one broker was ever down: ready throughout.
        kafka_lines = [line for line in api.output().splitlines() if "Kafka" in line or "kafka" in line]
        assert answers and {status for status, _ in answers} == {200}, (
            [a for a in answers if a[0] != 200][:3], kafka_lines[-10:]
        )
    finally:
        readiness.stop()
        client.close()
        restart.join(timeout=240)


def test_cluster__two_brokers_stopped__writes_commit_readyz_names_kafka_and_all_delivered_in_order_after(
    cluster, on_cluster
):
    api, namespace, token, tail = on_cluster
    url = f"{api.url}/api/v1/namespaces/{namespace.path}/configs/flag/"
    assert http_call(url, "PUT", token, {"value": 0})[0] == 201
    first = tail.collect(namespace.path, 1, timeout=60)
    assert [m["revision"] for m in first] == [1]

    cluster.stop(2, 3)
    try:
        body = wait_for_readiness(api, lambda status, body: status == 503 and "kafka" in body["down"])
        assert body["checks"]["kafka"] == "down"
        statuses = [http_call(url, "PUT", token, {"value": value})[0] for value in range(1, 21)]
        assert statuses == [201] * 20
        # acks=all cannot be met by one broker: the events wait in the outbox.
        assert OutboxEvent.objects.filter(namespace=namespace, published_at__isnull=True).count() == 20
    finally:
        cluster.start(2, 3)
    wait_for_readiness(api, lambda status, body: status == 200)
    messages = first + collect_through(tail, namespace.path, 21, timeout=120)
    assert_gapless_in_order(messages, 21)
    value_by_revision = {m["revision"]: m["value"] for m in messages}
    assert [value_by_revision[revision] for revision in range(2, 22)] == list(range(1, 21))
