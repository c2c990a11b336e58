"""The raw floor: the write transaction (config_set in this process, and the
same shape as one raw psycopg2 statement) and a raw confluent-kafka produce ->
consume hop (bench/kafka_floor.py), the parts no implementation of propagation
can beat."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from run import Bench


def run(bench: Bench) -> None:
    from django.conf import settings
    from setup_data import pg_floor, pg_raw_floor

    from apps.configs.events import route_for
    from apps.configs.publisher import platform_client_config, producer_config

    def pg():
        bench.metric("floor.pg_write", pg_floor(bench.fx["namespaces"]["floor"], bench.fx["user"], bench.cfg["pg_floor"]))
        bench.metric("floor.pg_raw", pg_raw_floor(bench.fx["namespaces"]["floor"], bench.fx["user"], bench.cfg["pg_floor"]))

    namespace = bench.fx["namespaces"]["floor"]
    topic = route_for(namespace).topic
    producer = dict(producer_config(), **{"client.id": "noreboot-bench-floor"})

    def kafka(label: str, consumer: dict):
        spec = {"topic": topic, "key": f"{namespace.path}/kafka", "producer": producer, "consumer": consumer,
                "count": bench.cfg["kafka_floor"], "warmup": 10, "gap": 0.01}
        result = bench.procs.run_json("kafka_floor.py", json.dumps(spec), timeout=300)
        bench.metric(f"{label}_hop", result["hop_ms"], lost=result["lost"], partition=result["partition"],
                    broker_rtt_us=result["broker_rtt_us"], broker_int_latency_us=result["broker_int_latency_us"])
        bench.metric(f"{label}_ack", result["ack_ms"])
        return f"{result['lost']} Kafka messages lost" if result["lost"] else None

    def tls_consumer() -> dict:
        # The client listener, as SDK clients reach it (the platform principal
        # stands in for a token's: the same TLS and SCRAM work per fetch).
        internal = platform_client_config()
        return {**internal, "bootstrap.servers": settings.KAFKA_CLIENT_BOOTSTRAP_SERVERS,
                "security.protocol": "SASL_SSL", "ssl.ca.location": settings.KAFKA_CA_FILE}

    bench.phase("floor.pg", pg)
    bench.phase("floor.kafka", lambda: kafka("floor.kafka", platform_client_config()))
    bench.phase("floor.kafka_tls", lambda: kafka("floor.kafka_tls", tls_consumer()))
