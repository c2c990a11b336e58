"""How deliveries are signed (DESIGN, "Webhooks"); the receiver's side is in the README.

    X-Hq-Timestamp: <unix seconds>
    X-Hq-Signature: sha256=<hex HMAC-SHA-256(secret, timestamp + "." + body)>
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.conf import settings

SECRET_PREFIX = "whsec_"


def secret_new() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def secret_masked(secret: str) -> dict:
    """How a secret is shown: enough to tell two apart, nothing to recover it."""
    fingerprint = hmac.new(settings.SECRET_KEY.encode(), secret.encode(), hashlib.sha256).hexdigest()[:12]
    return {"secret": True, "fingerprint": fingerprint}
