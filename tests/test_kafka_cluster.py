"""A 3-broker KRaft cluster of its own (scripts/kafka.sh with KAFKA_BROKERS=3,
its own KAFKA_HOME and ports, started and stopped by this module): the relay,
the API and an SDK client ride out a killed partition leader and the loss of
two brokers. The shared broker of the rest of the suite is never touched."""

from __future__ import annotations

import json
import threading
import time

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource
from noreboot import ConfigClient
from noreboot.partitioner import partition_for_namespace
from rest_framework_simplejwt.tokens import AccessToken

from apps.configs.events import route_for
from apps.configs.models import Configuration, OutboxEvent
from apps.configs.publisher import platform_client_config
from apps.tenants.services import service_token_create
from tests.support.kafka import LocalCluster, TopicTail
from tests.support.processes import ApiServer, RelayProcess, http_call
from tests.test_relay import assert_gapless_in_order, collect_through

pytestmark = pytest.mark.django_db(transaction=True)

BROKERS = 3


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = LocalCluster(tmp_path_factory.mktemp("kafka-cluster"), brokers=BROKERS)
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
    settings.KAFKA_SASL_PASSWORD = cluster.platform_password()
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
