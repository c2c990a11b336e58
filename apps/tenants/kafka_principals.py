"""Each service token's own Kafka principal (DESIGN, "Kafka security").

The principal is named after the token's stored hash, not its id: ids repeat
across databases (a staging and a production installation, or test runs)
sharing one cluster, and one installation must never act on another's
principal. The hash is of a 256-bit random secret, so its first 80 bits name
the token uniquely and tell nothing about the secret.

The SCRAM password is derived from a server key, the principal's name and the
token's credential generation, so it is stored nowhere: the API hands it to the
token's holder, and the relay derives it again when it creates the credential
at the broker. Rotating raises the generation."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

from django.conf import settings

PRINCIPAL_PREFIX = "nrb-token-"


def principal_name(secret_hash: str) -> str:
    return f"{PRINCIPAL_PREFIX}{secret_hash[:20]}"


def principal_password(username: str, generation: int) -> str:
    # A key of its own, derived from SECRET_KEY, so no other use of SECRET_KEY
    # can produce a Kafka password.
    key = hmac.new(settings.SECRET_KEY.encode(), b"noreboot kafka principals", hashlib.sha256).digest()
    digest = hmac.new(key, f"{username}:{generation}".encode(), hashlib.sha256).digest()
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
    # Where the SDK reports what it applied (DESIGN, "Instances and acks").
    ack_topic: str
