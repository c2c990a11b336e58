"""The Kafka broker the listener's tests use, and how to log in to it.

``SDK_TEST_KAFKA_CONFIG`` (librdkafka settings as JSON) wins. Otherwise the
project's local broker on 127.0.0.1:9092: as the platform principal once
``scripts/kafka.sh`` has secured it (its password file exists), else plain.
"""

import json
import os
from pathlib import Path

# Written by the project's scripts next to the broker's data, in the repository.
_LOCAL_PASSWORD = Path(__file__).resolve().parents[2] / ".local" / "kafka" / "platform.password"


def broker_settings() -> dict[str, str]:
    configured = os.environ.get("SDK_TEST_KAFKA_CONFIG")
    if configured:
        return json.loads(configured)
    settings = {"bootstrap.servers": "127.0.0.1:9092"}
    if _LOCAL_PASSWORD.exists():
        settings.update(
            {
                "security.protocol": "SASL_PLAINTEXT",
                "sasl.mechanism": "SCRAM-SHA-512",
                "sasl.username": os.environ.get("KAFKA_SASL_USERNAME", "noreboot-platform"),
                "sasl.password": _LOCAL_PASSWORD.read_text().strip(),
            }
        )
    return settings
