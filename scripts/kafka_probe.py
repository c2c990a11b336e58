"""Readiness probe for scripts/kafka.sh: exit 0 when a broker at
$KAFKA_BOOTSTRAP_SERVERS answers a Metadata request from the platform
principal, else 1 with one line on stderr saying why.

It reads the same variables and files as the Django settings, without importing
Django: `make test` runs it every time, so it is one client call and no more.
"""

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient

ROOT = Path(__file__).resolve().parents[1]
# Failures that no amount of waiting fixes: report them instead of the timeout.
FATAL_CODES = {KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED, KafkaError._SSL}


def platform_password() -> str:
    if os.environ.get("KAFKA_SASL_PASSWORD"):
        return os.environ["KAFKA_SASL_PASSWORD"]
    # ROOT / path keeps an absolute path as it is and anchors a relative one at the repo.
    path = ROOT / os.environ.get("KAFKA_SASL_PASSWORD_FILE", ".local/kafka/platform.password")
    try:
        return path.read_text().strip()
    except OSError as error:
        sys.exit(f"kafka probe: no platform password ({error.strerror}: {path})")


def platform_config() -> dict:
    config = {
        "bootstrap.servers": os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        "security.protocol": os.environ.get("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT"),
        "sasl.mechanism": os.environ.get("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"),
        "sasl.username": os.environ.get("KAFKA_SASL_USERNAME", "noreboot-platform"),
        "sasl.password": platform_password(),
        # Silence librdkafka's own connection-refused lines while the broker starts.
        "log_level": 0,
    }
    if config["security.protocol"].upper().endswith("SSL"):
        config["ssl.ca.location"] = str(ROOT / os.environ.get("KAFKA_CA_FILE", ".local/kafka/tls/ca.pem"))
    return config


def answers_metadata(config: dict, timeout: float) -> bool:
    errors: list[KafkaError] = []
    admin = AdminClient({**config, "error_cb": errors.append})
    deadline = time.monotonic() + timeout
    # Short slices, so that a refused connection or login ends the probe at
    # once (error_cb reports it between slices) instead of at the timeout.
    while not errors and (remaining := deadline - time.monotonic()) > 0:
        try:
            return bool(admin.list_topics(timeout=min(0.1, remaining)).brokers)
        except KafkaException:
            admin.poll(0)
    fatal = [error for error in errors if error.code() in FATAL_CODES]
    if fatal:
        reason = f"authentication failed: {fatal[0].str()}"
    else:
        reason = f"no answer: {errors[0].str()}" if errors else f"no answer within {timeout:g}s"
    print(f"kafka probe: {reason}", file=sys.stderr)
    return False


def warm_producer_ids(config: dict, timeout: float) -> None:
    """A fresh broker answers its first InitProducerId with
    COORDINATOR_LOAD_IN_PROGRESS while it fetches a block of producer ids from
    the controller, which costs the relay's idempotent producer a retry of
    about a second; asking once right after a start spares clients that."""
    assigned = threading.Event()

    def on_stats(raw: str) -> None:
        if json.loads(raw).get("eos", {}).get("idemp_state") == "Assigned":
            assigned.set()

    producer = Producer({**config, "enable.idempotence": True, "statistics.interval.ms": 50, "stats_cb": on_stats})
    deadline = time.monotonic() + timeout
    while not assigned.is_set() and time.monotonic() < deadline:
        producer.poll(0.05)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("timeout", nargs="?", type=float, default=2.0, help="seconds to wait for an answer")
    parser.add_argument("--warm-producer-ids", action="store_true", help="also get an idempotent producer id")
    args = parser.parse_args()
    config = platform_config()
    if not answers_metadata(config, args.timeout):
        return 1
    if args.warm_producer_ids:
        warm_producer_ids(config, timeout=15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
