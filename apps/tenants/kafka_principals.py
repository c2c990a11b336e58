"""Each service token's own Kafka principal (DESIGN, "Kafka security").

The SCRAM password is derived from a server key, the token id and the token's
credential generation, so it is stored nowhere: the API hands it to the token's
holder, and the relay derives it again when it creates the credential at the
broker. Rotating raises the generation."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

from django.conf import settings

PRINCIPAL_PREFIX = "nrb-token-"


def principal_name(token_id: int) -> str:
    return f"{PRINCIPAL_PREFIX}{token_id}"


def principal_password(token_id: int, generation: int) -> str:
    # A key of its own, derived from SECRET_KEY, so no other use of SECRET_KEY
    # can produce a Kafka password.
    key = hmac.new(settings.SECRET_KEY.encode(), b"noreboot kafka principals", hashlib.sha256).digest()
    digest = hmac.new(key, f"{token_id}:{generation}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


@dataclass(frozen=True)
class KafkaCredentials:
    """What POST .../kafka-credentials/ answers."""

    bootstrap_servers: str
    security_protocol: str
    sasl_mechanism: str
    username: str
    password: str
    topic: str
    partitions: int
    ca_pem: str
