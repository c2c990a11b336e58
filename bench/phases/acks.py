"""Issue 19's line: how many SDK apply reports per second the collector
stores (`manage.py collect_acks`'s own loop, AckCollector.round, on a topic of
pre-produced reports), and what one report costs the SDK (Reporter.send_now,
counted: one produce call each)."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from run import Bench

INSTANCES = 2000  # distinct instances the reports come from (the upserts' rows)


def run(bench: Bench) -> None:
    from confluent_kafka import Producer
    from django.conf import settings
    from django.db import connection
    from django.utils import timezone
    from noreboot.api import KafkaCredentials
    from noreboot.effective import EffectiveValues
    from noreboot.reporter import Reporter, report_mac
    from noreboot.snapshot import Snapshot
    from noreboot.store import SnapshotStore

    from apps.change_context import ChangeContext
    from apps.configs.broker_admin import topic_ensure
    from apps.configs.events import ack_topic_for_tenant, config_topic_partitions
    from apps.configs.lineage import database_epoch
    from apps.configs.publisher import ConfigEventConsumer, platform_client_config
    from apps.fleet.collector import AckCollector
    from apps.fleet.models import Apply, Instance
    from apps.tenants.kafka_principals import principal_name, principal_password
    from apps.tenants.services import service_token_create, service_token_revoke

    namespace = bench.fx["namespaces"]["prop"]
    topic = ack_topic_for_tenant(namespace.tenant.slug)
    topic_ensure(topic, config_topic_partitions())
    prefix = f"bench-acks-{uuid.uuid4().hex[:8]}-"
    # Reports are signed as the SDK signs them (the collector drops the others).
    context = ChangeContext(actor=None, request_id="bench-acks")
    token, _ = service_token_create(namespace=namespace, name=f"{prefix}sdk", context=context)
    principal = principal_name(token.secret_hash)
    password = principal_password(principal, token.kafka_credential_generation)

    def collector() -> None:
        count = bench.cfg["ack_reports"]
        started = timezone.now()
        epoch = database_epoch()
        producer = Producer({**platform_client_config(), "linger.ms": 20, "client.id": "noreboot-bench-acks"})
        for number in range(count):
            instance = f"{prefix}{number % INSTANCES}"
            report = {
                "instance_id": instance, "namespace": namespace.path, "labels": {"region": "eu1"},
                "revision": number // INSTANCES + 1, "epoch": epoch, "applied_at": started.isoformat(), "rejected": [],
                "sdk": "bench", "reported_at": timezone.now().isoformat(), "principal": principal,
            }
            producer.produce(topic, key=instance.encode(),
                             value=json.dumps({**report, "mac": report_mac(password, report)}).encode())
            producer.poll(0)
        producer.flush(30)
        stop = threading.Event()
        consumer = ConfigEventConsumer(f"noreboot-bench-acks-{uuid.uuid4().hex[:8]}", start_time=lambda: started,
                                       topics_pattern=f"^{re.escape(topic)}$")
        worker = AckCollector(stop)
        stored, batches, first_at = 0, [], None
        deadline = time.monotonic() + 120
        try:
            while stored < count and time.monotonic() < deadline:
                began = time.monotonic()
                batch = worker.round(consumer)
                if batch:
                    first_at = first_at or began
                    stored += batch
                    batches.append((time.monotonic() - began) * 1000)
        finally:
            consumer.close()
        elapsed = time.monotonic() - (first_at or time.monotonic())
        rate = round(stored / elapsed) if elapsed > 0 else None
        # Every report was read and every instance's row is there (none dropped as malformed).
        rows = Instance.objects.filter(instance_id__startswith=prefix).count()
        bench.metric("acks.collector_batch", batches, reports=stored, instances=rows, rate=rate,
                     lost=count - stored + INSTANCES - rows)
        Apply.objects.filter(instance_id__startswith=prefix).delete()
        Instance.objects.filter(instance_id__startswith=prefix).delete()
        service_token_revoke(token=token, context=context)
        connection.close()

    def sdk_report() -> None:
        calls = []

        class CountingProducer(Producer):
            def produce(self, *args, **kwargs):
                calls.append(1)
                return super().produce(*args, **kwargs)

        platform = platform_client_config()
        credentials = KafkaCredentials(
            bootstrap_servers=platform["bootstrap.servers"], security_protocol=platform["security.protocol"],
            sasl_mechanism=settings.KAFKA_SASL_MECHANISM, username=settings.KAFKA_SASL_USERNAME,
            password=settings.KAFKA_SASL_PASSWORD, topic=topic, partitions=config_topic_partitions(), ca_pem="",
            ack_topic=topic,
        )
        store = SnapshotStore(namespace.path, cache=None, cache_write_interval=1.0, on_swap=lambda _snapshot: None)
        store.install(Snapshot(namespace=namespace.path, revision=1, values={"a": 1}), "api")
        reporter = Reporter(store, EffectiveValues(f"{prefix}sdk", {"region": "eu1"}), interval=30.0,
                            producer_factory=CountingProducer)
        reporter.tick(credentials)  # connects, and sends the start report
        before = len(calls)
        costs = []
        # Fewer than the reporter's queue holds (1,000): sent back to back with
        # no delivery report served between them, more would be dropped by design.
        for _ in range(bench.cfg["sdk_reports"]):
            began = time.perf_counter_ns()
            reporter.send_now()
            costs.append((time.perf_counter_ns() - began) / 1000)
        reporter.close(5.0)
        bench.metric("acks.sdk_report", costs, unit="us",
                     produce_calls_per_report=(len(calls) - before) / len(costs), dropped=reporter.dropped)
        Instance.objects.filter(instance_id__startswith=prefix).delete()
        connection.close()

    bench.phase("acks.collector", collector)
    bench.phase("acks.sdk", sdk_report)
