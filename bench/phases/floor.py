"""The raw floor: the write transaction (config_set in this process) and a
raw confluent-kafka produce -> consume hop (bench/kafka_floor.py), the parts
no implementation of propagation can beat."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from run import Bench


def run(bench: Bench) -> None:
    from django.conf import settings
    from setup_data import pg_floor

    from apps.configs.publisher import producer_config

    def pg():
        bench.metric("floor.pg_write", pg_floor(bench.fx["namespaces"]["floor"], bench.fx["user"], bench.cfg["pg_floor"]))

    def kafka():
        producer = dict(producer_config(), **{"client.id": "noreboot-bench-floor"})
        spec = {"topic": settings.KAFKA_TOPIC, "key": "bench/floor/kafka", "producer": producer,
                "count": bench.cfg["kafka_floor"], "warmup": 10, "gap": 0.01}
        result = bench.procs.run_json("kafka_floor.py", json.dumps(spec), timeout=300)
        bench.metric("floor.kafka_hop", result["hop_ms"], lost=result["lost"], partition=result["partition"],
                    broker_rtt_us=result["broker_rtt_us"], broker_int_latency_us=result["broker_int_latency_us"])
        bench.metric("floor.kafka_ack", result["ack_ms"])
        return f"{result['lost']} Kafka messages lost" if result["lost"] else None

    bench.phase("floor.pg", pg)
    bench.phase("floor.kafka", kafka)
