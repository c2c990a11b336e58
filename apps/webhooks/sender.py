"""One HTTP POST of a signed delivery: to the checked address only, in bounded
time, with no redirect followed (a 3xx is a failed attempt)."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
from dataclasses import dataclass

from django.conf import settings

from apps.webhooks.signing import signature
from apps.webhooks.targets import Target, TargetRefused, target_resolve

USER_AGENT = "NoReboot-HQ-Webhooks/1"
# Enough of a response to read its status; the rest is not ours to keep.
RESPONSE_READ_BYTES = 4096


@dataclass(frozen=True)
class AttemptResult:
    ok: bool
    response_code: int | None
    error: str


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the address the target check approved, not to whatever the
    host name resolves to by the time the socket opens."""

    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout, context=ssl.create_default_context())
        self._address = target.address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        # Certificates are checked against the host name, as for any HTTPS call.
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def delivery_send(*, url: str, secret: str, body: dict, event_type: str, delivery_id: int) -> AttemptResult:
    try:
        target = target_resolve(url)
    except TargetRefused as exc:
        return AttemptResult(ok=False, response_code=None, error=exc.message)
    payload = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Hq-Event": event_type,
        "X-Hq-Delivery": str(delivery_id),
        "X-Hq-Timestamp": timestamp,
        "X-Hq-Signature": signature(secret, timestamp, payload),
    }
    connection_class = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(target, timeout=settings.WEBHOOK_TIMEOUT_SECONDS)
    try:
        connection.request("POST", target.path, body=payload, headers=headers)
        response = connection.getresponse()
        response.read(RESPONSE_READ_BYTES)
    except (OSError, http.client.HTTPException) as exc:
        return AttemptResult(ok=False, response_code=None, error=f"{type(exc).__name__}: {exc}"[:500])
    finally:
        connection.close()
    if 200 <= response.status < 300:
        return AttemptResult(ok=True, response_code=response.status, error="")
    reason = "redirect not followed" if 300 <= response.status < 400 else "not a 2xx answer"
    return AttemptResult(ok=False, response_code=response.status, error=f"HTTP {response.status}: {reason}")
