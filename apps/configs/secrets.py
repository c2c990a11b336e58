"""Secret configs at rest: AES-256-GCM under a key ring, and the masked form
that stands for a secret wherever a value is shown.

The row of a secret's version holds an envelope, never the plain text:
`{"key": <key id>, "nonce", "ciphertext", "fingerprint"}`. The key id names
the ring key that encrypted it, so rotation can re-encrypt row by row; the
additional data binds the ciphertext to its namespace and name, so a copied
envelope does not decrypt as another config. The fingerprint (an HMAC under a
key of its own, which never rotates with the encryption keys) tells two
values apart without showing either."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

FINGERPRINT_LENGTH = 12


@dataclass(frozen=True)
class RingKey:
    key_id: str
    aead: AESGCM


@functools.cache
def _ring(setting: str) -> tuple[RingKey, ...]:
    keys = []
    for text in (part.strip() for part in setting.split(",")):
        try:
            material = bytes.fromhex(text)
        except ValueError:
            material = b""
        if len(material) != 32:
            raise ImproperlyConfigured("NOREBOOT_SECRET_KEYS holds keys of 64 hex characters (32 bytes), comma-separated")
        # Derived from the key, so a ring needs no naming scheme and ids never clash by mistake.
        key_id = hashlib.sha256(b"noreboot-secret-key-id" + material).hexdigest()[:8]
        keys.append(RingKey(key_id=key_id, aead=AESGCM(material)))
    return tuple(keys)


def key_ring() -> tuple[RingKey, ...]:
    """The configured keys, newest first: the newest encrypts, any of them decrypts."""
    return _ring(settings.SECRET_VALUE_KEYS)


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def secret_fingerprint(value: Any) -> str:
    digest = hmac.new(settings.SECRET_FINGERPRINT_KEY.encode(), _canonical(value), hashlib.sha256).hexdigest()
    return digest[:FINGERPRINT_LENGTH]


def _additional_data(namespace_id: int, name: str) -> bytes:
    return f"{namespace_id}/{name}".encode()


def secret_encrypt(value: Any, *, namespace_id: int, name: str) -> dict:
    newest = key_ring()[0]
    nonce = os.urandom(12)
    ciphertext = newest.aead.encrypt(nonce, _canonical(value), _additional_data(namespace_id, name))
    return {
        "key": newest.key_id,
        "nonce": base64.b64encode(nonce).decode(),
        "ciphertext": base64.b64encode(ciphertext).decode(),
        "fingerprint": secret_fingerprint(value),
    }


def secret_decrypt(envelope: dict, *, namespace_id: int, name: str) -> Any:
    keys = {key.key_id: key for key in key_ring()}
    key = keys.get(envelope["key"])
    if key is None:
        raise ImproperlyConfigured(
            f"a secret is encrypted under key {envelope['key']}, which NOREBOOT_SECRET_KEYS no longer holds"
        )
    try:
        plain = key.aead.decrypt(
            base64.b64decode(envelope["nonce"]), base64.b64decode(envelope["ciphertext"]),
            _additional_data(namespace_id, name),
        )
    except InvalidTag:
        raise ImproperlyConfigured(f"a secret of {name} does not decrypt under key {envelope['key']}") from None
    return json.loads(plain)


def newest_key_id() -> str:
    return key_ring()[0].key_id


def secret_reencrypt(envelope: dict, *, namespace_id: int, name: str) -> dict:
    """The same value under the newest key (its fingerprint unchanged)."""
    value = secret_decrypt(envelope, namespace_id=namespace_id, name=name)
    return secret_encrypt(value, namespace_id=namespace_id, name=name)


def secret_masked(envelope: dict) -> dict:
    """What is shown in place of a secret's value."""
    return {"secret": True, "fingerprint": envelope["fingerprint"]}


def secret_proposed_mask() -> dict:
    """What stands for a value proposed for a secret before it is written (an
    import's plan, an edit's preview): its fingerprint withheld, since the
    fingerprint of any guess, beside the stored one, would say whether it is right."""
    return {"secret": True, "fingerprint": None}


def value_shown(value: Any, is_secret: bool) -> Any:
    """A stored value as it may be shown to anyone: masked if it is a secret's envelope."""
    return secret_masked(value) if is_secret and value is not None else value
