"""Instances, apply acks and rollouts (issue 19; DESIGN, "Instances and acks",
"Rollouts") against the real stack: the live API, the relay, the collector
(`manage.py collect_acks`), Kafka, and SDK clients in processes of their own."""

from __future__ import annotations

import json
import logging
import select
import subprocess
import sys
import tempfile
import time
import uuid

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from noreboot.reporter import report_mac

from apps.audit.models import AuditEvent
from apps.configs.broker_admin import topic_partition_count
from apps.configs.events import ack_topic_for_tenant
from apps.configs.publisher import platform_client_config
from apps.configs.services import config_set
from apps.fleet.cohort import cohort_bucket
from apps.fleet.models import Instance
from apps.fleet.reports import reports_store
from apps.tenants import services as tenant_services
from tests.conftest import bearer_client, body
from tests.support.processes import ROOT, AckCollectorProcess
from tests.test_kafka_isolation import consumer_config, credentials_of, produce_error, wait_until_may_describe

pytestmark = pytest.mark.django_db(transaction=True)

STALE_SECONDS = 3


def wait_until(condition, what: str, timeout: float = 20.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        assert time.monotonic() < deadline, f"not within {timeout:.0f}s: {what() if callable(what) else what}"
        time.sleep(interval)


class ClientProcess:
    """One client service: several SDK clients of a namespace (tests/support/fleet_clients.py)."""

    def __init__(self, api_url: str, token: str, namespace: str, instance_ids: list[str], *, labels: str = "",
                 at_most: str = "") -> None:
        self.instance_ids = instance_ids
        self._log = tempfile.TemporaryFile(mode="w+")
        command = [sys.executable, "-m", "tests.support.fleet_clients", api_url, token, namespace, *instance_ids,
                   "--labels", labels, "--at-most", at_most, "--report-interval", "1"]
        self.process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=self._log, text=True)

    def _line(self, timeout: float) -> str:
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            self._log.seek(0)
            raise AssertionError(f"no answer from the client process: {self._log.read()[-2000:]}")
        return self.process.stdout.readline().strip()

    def wait_ready(self) -> None:
        assert self._line(30) == "ready"

    def read(self, name: str) -> dict:
        self.process.stdin.write(f"read {name}\n")
        self.process.stdin.flush()
        return json.loads(self._line(10))

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def fleet(live_server, relay, settings, make_namespace, make_user, grant, client_for, change_context):
    """A namespace with a config, an editor's API client, the collector, and a
    way to start client processes with the namespace's service token."""
    settings.FLEET_STALE_SECONDS = STALE_SECONDS
    collector = AckCollectorProcess(settings.DATABASES["default"]["NAME"],
                                    NOREBOOT_FLEET_STALE_SECONDS=str(STALE_SECONDS))
    collector.start()
    namespace = make_namespace()
    config_set(namespace=namespace, name="limit", value=50, context=change_context)
    _, secret = tenant_services.service_token_create(namespace=namespace, name="fleet", context=change_context)
    user = make_user()
    grant(user, namespace, "editor")
    processes: list[ClientProcess] = []

    class Fleet:
        api = client_for(user)
        path = f"/api/v1/namespaces/{namespace.path}"

        def __init__(self) -> None:
            self.namespace = namespace
            self.collector = collector

        def start(self, count_per_process: list[int], labels: list[str], at_most: str = "") -> list[ClientProcess]:
            started = []
            for index, (count, process_labels) in enumerate(zip(count_per_process, labels, strict=True)):
                ids = [f"p{len(processes) + index}-c{number}" for number in range(count)]
                started.append(ClientProcess(live_server.url, secret, namespace.path, ids, labels=process_labels,
                                             at_most=at_most))
            for process in started:
                process.wait_ready()
            processes.extend(started)
            return started

        def instances(self, query: str = "") -> dict:
            response = self.api.get(f"{self.path}/instances/{query}")
            assert response.status_code == 200, response.content
            return body(response)

        def diagnosis(self) -> str:
            clients = ""
            for process in processes:
                process._log.seek(0)
                clients += process._log.read()[-1500:]
            return f"{self.instances()}\ncollector: {collector.output()[-3000:]}\nclients: {clients}"

        def all_current(self, count: int, revision: int | None = None):
            listed = self.instances()
            revision = revision or listed["revision"]
            current = [item for item in listed["instances"]
                       if item["status"] == "current" and item["revision"] >= revision]
            return listed if len(current) == count else None

        def rollout(self, rollout_id: str) -> dict:
            return body(self.api.get(f"{self.path}/configs/limit/rollouts/{rollout_id}/"))

        def reads(self, started: list[ClientProcess]) -> dict:
            return {key: value for process in started for key, value in process.read("limit").items()}

    yield Fleet()
    for process in processes:
        process.close()
    collector.stop()


def test_fleet__20_clients_in_4_processes__current_within_2s_converge_roll_out_25_100_and_killed_turn_stale(fleet):
    processes = fleet.start([5, 5, 5, 5], ["region=eu1,version=2.3.1", "region=eu1", "region=us1", "region=us1"])
    wait_until(lambda: fleet.all_current(20), fleet.diagnosis)

    response = fleet.api.put(f"{fleet.path}/configs/limit/", {"value": 60}, format="json")
    assert response.status_code == 201
    fleet.namespace.refresh_from_db()
    revision = fleet.namespace.revision
    listed = wait_until(lambda: fleet.all_current(20, revision), fleet.diagnosis, timeout=10,
                        interval=0.05)
    assert listed["summary"] == {"current": 20, "behind": 0, "stale": 0, "rejected": 0}
    eu1 = fleet.instances("?label=region=eu1&label=version=2.3.1")
    assert {item["instance_id"] for item in eu1["instances"]} == {f"p0-c{number}" for number in range(5)}
    assert eu1["instances"][0]["labels"] == {"region": "eu1", "version": "2.3.1"}

    # Within 2 s of the commit, by the times the clients applied it (their own
    # reports), not by this test's clock: this process, which also serves the
    # API, once stood still for 7 s on a loaded machine while listing them.
    convergence = body(fleet.api.get(f"{fleet.path}/revisions/{revision}/convergence/"))
    assert convergence["instances"] == 20 and convergence["applied"] == 20
    assert all(convergence["times"][key]["seconds"] < 2.0 for key in ("p50", "p90", "p99", "p100"))
    assert convergence["times"]["p50"]["seconds"] <= convergence["times"]["p100"]["seconds"]

    # A rollout [25 %, 100 %]: the hash's cohort reads the candidate, then everyone, as the stable value.
    response = fleet.api.post(f"{fleet.path}/configs/limit/rollouts/", {
        "value": 75, "stages": [{"percent": 25, "bake_seconds": 5}, {"percent": 100}],
    }, format="json")
    assert response.status_code == 201, response.content
    rollout = body(response)
    assert rollout["state"] == "running" and rollout["stage"] == 0
    wait_until(lambda: fleet.all_current(20, rollout["stage_revision"]), "20 instances at stage 1")

    reads = fleet.reads(processes)
    cohort = {instance for instance in reads if cohort_bucket(rollout["id"], instance) < 25}
    assert {instance for instance, value in reads.items() if value == 75} == cohort
    assert all(value == 60 for instance, value in reads.items() if instance not in cohort)
    # Read during stage 1 (not after a slow machine let it advance meanwhile).
    during = fleet.rollout(rollout["id"])
    assert during["stage"] == 0 and during["state"] == "running"
    assert during["cohort"]["members"] == len(cohort)

    ended = wait_until(lambda: (found := fleet.rollout(rollout["id"]))["state"] == "promoted" and found,
                       "the rollout promoted")
    assert ended["end_reason"] == "Every stage passed."
    current = body(fleet.api.get(f"{fleet.path}/configs/limit/"))
    assert current["value"] == 75
    wait_until(lambda: set(fleet.reads(processes).values()) == {75}, "every client reading 75")
    wait_until(lambda: fleet.all_current(20), fleet.diagnosis)
    stages = AuditEvent.objects.filter(namespace=fleet.namespace, action__startswith="rollout.")
    assert sorted(stages.values_list("action", flat=True)) == ["rollout.promote", "rollout.stage", "rollout.start"]

    processes[3].kill()

    def killed_stale():
        statuses = {item["instance_id"]: item["status"] for item in fleet.instances()["instances"]}
        return all(statuses[f"p3-c{number}"] == "stale" for number in range(5)) and statuses

    statuses = wait_until(killed_stale, "the killed process's instances stale", timeout=STALE_SECONDS + 10)
    assert sorted(instance for instance, status in statuses.items() if status == "stale") == [
        f"p3-c{number}" for number in range(5)
    ]


def ack_topic_reports(tenant: str) -> list[dict]:
    """Every report on the tenant's ack topic so far, read as the platform principal."""
    topic = ack_topic_for_tenant(tenant)
    consumer = Consumer({**platform_client_config(), "group.id": f"test-{uuid.uuid4()}", "enable.auto.commit": False})
    try:
        partitions = [TopicPartition(topic, number) for number in range(topic_partition_count(topic))]
        ends = {tp.partition: consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in partitions}
        consumer.assign([TopicPartition(topic, tp.partition, OFFSET_BEGINNING) for tp in partitions])
        reports, left = [], {partition for partition, end in ends.items() if end > 0}
        deadline = time.monotonic() + 10
        while left and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            reports.append(json.loads(message.value()))
            if message.offset() + 1 >= ends[message.partition()]:
                left.discard(message.partition())
        return reports
    finally:
        consumer.close()


def test_collector__killed_while_clients_apply_a_change__its_restart_stores_what_they_reported(fleet):
    (clients,) = fleet.start([5], ["region=eu1"])
    wait_until(lambda: fleet.all_current(5), fleet.diagnosis)
    fleet.collector.kill()

    assert fleet.api.put(f"{fleet.path}/configs/limit/", {"value": 61}, format="json").status_code == 201
    fleet.namespace.refresh_from_db()
    revision = fleet.namespace.revision
    wait_until(lambda: set(clients.read("limit").values()) == {61}, "the clients reading 61")
    # Their reports of the change are on Kafka, and nothing will report again.
    wait_until(lambda: {report["instance_id"] for report in ack_topic_reports(fleet.namespace.tenant.slug)
                        if report["revision"] >= revision} == set(clients.instance_ids), "the reports on Kafka")
    clients.close()
    assert not Instance.objects.filter(namespace=fleet.namespace, revision__gte=revision).exists()

    fleet.collector.start()  # the same consumer group, from its committed offsets
    wait_until(lambda: Instance.objects.filter(namespace=fleet.namespace, revision__gte=revision).count() == 5,
               fleet.diagnosis)


def test_rollouts__eu1_selector_then_a_candidate_every_validator_refuses__only_eu1_then_rolled_back(fleet):
    eu1, us1 = fleet.start([5, 5], ["region=eu1", "region=us1"], at_most="limit=100")
    wait_until(lambda: fleet.all_current(10), fleet.diagnosis)

    # A label selector reaches only those instances.
    response = fleet.api.post(f"{fleet.path}/configs/limit/rollouts/", {
        "value": 80, "stages": [{"percent": 100, "labels": {"region": "eu1"}, "bake_seconds": 600}],
    }, format="json")
    assert response.status_code == 201, response.content
    rollout = body(response)
    wait_until(lambda: fleet.all_current(10, rollout["stage_revision"]), "10 instances at the stage")
    assert set(eu1.read("limit").values()) == {80}
    assert set(us1.read("limit").values()) == {50}
    assert fleet.rollout(rollout["id"])["cohort"] == {"members": 5, "acked": 5, "rejections": []}

    # A direct write during the rollout: refused unless it aborts it.
    refused = fleet.api.put(f"{fleet.path}/configs/limit/", {"value": 60}, format="json")
    assert refused.status_code == 409 and body(refused)["error"]["code"] == "rollout_running"
    written = fleet.api.put(f"{fleet.path}/configs/limit/?abort_rollout=true", {"value": 60}, format="json")
    assert written.status_code == 201
    assert fleet.rollout(rollout["id"])["state"] == "aborted"
    wait_until(lambda: set(eu1.read("limit").values()) | set(us1.read("limit").values()) == {60}, "all reading 60")

    # A candidate every cohort instance's validator refuses: rolled back by the driver.
    response = fleet.api.post(f"{fleet.path}/configs/limit/rollouts/", {
        "value": 500, "stages": [{"percent": 100, "labels": {"region": "eu1"}}], "auto_rollback": {"max_rejected": 0},
    }, format="json")
    assert response.status_code == 201, response.content
    rollout_id = body(response)["id"]
    ended = wait_until(lambda: (found := fleet.rollout(rollout_id))["state"] != "running" and found,
                       "the rollout ended")
    assert ended["state"] == "rolled_back"
    assert "rejected the candidate" in ended["end_reason"] and "500 is above 100.0" in ended["end_reason"]
    audit = AuditEvent.objects.get(namespace=fleet.namespace, action="rollout.rollback")
    assert audit.after["reason"] == ended["end_reason"] and audit.actor_username == "system"
    assert set(eu1.read("limit").values()) | set(us1.read("limit").values()) == {60}
    assert body(fleet.api.get(f"{fleet.path}/configs/limit/"))["value"] == 60
    # Withdrawn, the candidate is refused nowhere any more.
    wait_until(lambda: fleet.all_current(10), "10 instances current again")


def test_ack_reports__other_tenant_nul_too_deep_or_unsigned__dropped_collector_goes_on_b_topic_refused(
    live_server, relay, settings, make_namespace, change_context
):
    collector = AckCollectorProcess(settings.DATABASES["default"]["NAME"])
    collector.start()
    try:
        namespace_a, namespace_b = make_namespace(), make_namespace()
        _, secret = tenant_services.service_token_create(namespace=namespace_a, name="a", context=change_context)
        credentials = credentials_of(bearer_client(secret), namespace_a)
        wait_until_may_describe(credentials)
        config = {key: value for key, value in consumer_config(credentials).items()
                  if key not in ("group.id", "enable.auto.commit", "fetch.wait.max.ms")}
        # Made with the tenant, like its config topic (kafka_resync runs the same task).
        assert credentials["ack_topic"] == ack_topic_for_tenant(namespace_a.tenant.slug)
        assert topic_partition_count(credentials["ack_topic"]) == settings.KAFKA_PARTITIONS

        def report(namespace, instance_id: str = "forger", *, signed: bool = True) -> bytes:
            unsigned = {"instance_id": instance_id, "namespace": namespace.path, "labels": {}, "revision": 0,
                        "epoch": None, "applied_at": None, "rejected": [], "sdk": "test",
                        "reported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                        "principal": credentials["username"]}
            mac = report_mac(credentials["password"], unsigned) if signed else ""
            return json.dumps({**unsigned, "mac": mac}).encode()

        producer = Producer({**config, "acks": "all"})
        # One key, so one partition: once A's own report is stored, the forged one was read before it.
        producer.produce(credentials["ack_topic"], key=b"forger", value=report(namespace_b))
        # Neither may stop the collector (nor hold back the report after them).
        producer.produce(credentials["ack_topic"], key=b"forger", value=report(namespace_a, "nul\x00"))
        producer.produce(credentials["ack_topic"], key=b"forger", value=report(namespace_a, "unsigned", signed=False))
        producer.produce(credentials["ack_topic"], key=b"forger", value=b"[" * 100_000 + b"]" * 100_000)
        producer.produce(credentials["ack_topic"], key=b"forger", value=report(namespace_a))
        assert producer.flush(10) == 0
        wait_until(lambda: Instance.objects.filter(namespace=namespace_a, instance_id="forger").exists(),
                   "A's own report stored")
        assert not Instance.objects.filter(namespace=namespace_b).exists()
        collector.wait_for_output(f"naming {namespace_b.path}, outside its tenant")
        collector.wait_for_output("dropped a malformed report")
        collector.wait_for_output("skipped a message that is not a JSON object")
        collector.wait_for_output(f"dropped a report of {namespace_a.path} not signed by a token of that namespace")
        assert Instance.objects.filter(namespace=namespace_a).count() == 1

        error = produce_error(config, ack_topic_for_tenant(namespace_b.tenant.slug))
        assert getattr(error, "code", lambda: None)() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    finally:
        collector.stop()


def test_ack_reports__unsigned_three_times_in_one_batch__dropped_with_one_log_line(make_namespace, caplog):
    # A client whose token was revoked reports until it is restarted: one line per batch, not per report.
    namespace = make_namespace()
    report = {"instance_id": "revoked", "namespace": namespace.path, "labels": {}, "revision": 0, "epoch": None,
              "applied_at": None, "rejected": [], "sdk": "test", "reported_at": "2026-01-01T00:00:00Z",
              "principal": "nobody", "mac": "0" * 64}
    topic = ack_topic_for_tenant(namespace.tenant.slug)

    with caplog.at_level(logging.WARNING, logger="apps.fleet.reports"):
        assert reports_store([(topic, report)] * 3) == 0

    assert [record.getMessage() for record in caplog.records] == [
        f"dropped 3 times: a report of {namespace.path} not signed by a token of that namespace"
    ]
    assert not Instance.objects.filter(namespace=namespace).exists()


def test_cohort_bucket__server_and_sdk__agree():
    from noreboot.rollout import cohort_bucket as sdk_bucket

    rollout_id = str(uuid.uuid4())
    for number in range(500):
        assert cohort_bucket(rollout_id, f"instance-{number}") == sdk_bucket(rollout_id, f"instance-{number}")
    assert sorted({cohort_bucket(rollout_id, f"i{number}") for number in range(2000)}) == list(range(100))

