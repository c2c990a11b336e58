"""The snapshot endpoint of the config service, over the standard library.

``urllib`` rather than ``requests`` keeps the SDK's only dependency the Kafka
client. Every failure is mapped to one of two kinds: ``ApiError`` (the
server refused: retrying will not help) or ``ApiUnavailable`` (transient).
"""

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from noreboot.errors import ApiError, ApiUnavailable, AuthenticationError, NamespaceNotFound
from noreboot.snapshot import Snapshot, snapshot_from_configs


@dataclass(frozen=True, slots=True)
class Route:
    """Where the namespace's events are published, as the server says."""

    topic: str
    partitions: int


@dataclass(frozen=True, slots=True)
class SnapshotResponse:
    snapshot: Snapshot
    route: Route


class ConfigApi:
    """Fetches the snapshot of one namespace."""

    def __init__(self, api_url: str, token: str, namespace: str, *, timeout: float) -> None:
        tenant, environment, service = (urllib.parse.quote(part, safe="") for part in namespace.split("/"))
        self.namespace = namespace
        self.url = f"{api_url.rstrip('/')}/api/v1/namespaces/{tenant}/{environment}/{service}/configs/"
        self._token = token
        self._timeout = timeout

    def fetch(self, *, if_none_match: int | None = None, timeout: float | None = None) -> SnapshotResponse | None:
        """The current snapshot, or ``None`` if its revision is still ``if_none_match``."""
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        if if_none_match is not None:
            # The server's ETag is the namespace revision, quoted.
            headers["If-None-Match"] = f'"{if_none_match}"'
        request = urllib.request.Request(self.url, headers=headers, method="GET")
        try:
            with urllib.request.urlopen(request, timeout=timeout or self._timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            # urllib reports 304 as an error because it is not 2xx.
            if exc.code == 304:
                return None
            raise self._error_for_status(exc.code, exc) from exc
        except urllib.error.URLError as exc:
            raise ApiUnavailable(f"config service unreachable at {self.url}: {exc.reason}") from exc
        except (OSError, http.client.HTTPException) as exc:
            # Timeouts and resets while reading the body land here.
            raise ApiUnavailable(f"config service failed at {self.url}: {exc!r}") from exc
        return self._parse(body)

    def _error_for_status(self, status: int, exc: urllib.error.HTTPError) -> Exception:
        detail = _error_detail(exc)
        if status in (401, 403):
            return AuthenticationError(
                f"config service rejected the token for {self.namespace} ({status}){detail}", status=status
            )
        if status == 404:
            return NamespaceNotFound(
                f"namespace {self.namespace} not found or not visible to this token{detail}", status=status
            )
        # Overload and gateway errors pass; other 4xx mean this client is wrong.
        if status == 429 or status >= 500:
            return ApiUnavailable(f"config service answered {status} at {self.url}{detail}")
        return ApiError(f"config service answered {status} at {self.url}{detail}", status=status)

    def _parse(self, body: bytes) -> SnapshotResponse:
        # A body that is not what the contract says is treated as a broken
        # deployment (a proxy's HTML page, a half-written response): transient.
        try:
            payload = json.loads(body)
            if payload.get("namespace") != self.namespace:
                raise ValueError(f"snapshot is for {payload.get('namespace')!r}, not {self.namespace!r}")
            topic = payload["topic"]
            partitions = payload["partitions"]
            if not isinstance(topic, str) or not topic:
                raise ValueError("topic must be a non-empty string")
            if not isinstance(partitions, int) or isinstance(partitions, bool) or partitions < 1:
                raise ValueError("partitions must be a positive integer")
            snapshot = snapshot_from_configs(self.namespace, payload["revision"], payload["configs"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ApiUnavailable(f"unexpected snapshot response from {self.url}: {exc}") from exc
        return SnapshotResponse(snapshot=snapshot, route=Route(topic=topic, partitions=partitions))


def _error_detail(exc: urllib.error.HTTPError) -> str:
    """The server's error message, if its body has one, for the exception text."""
    try:
        body = json.loads(exc.read() or b"null")
    except (ValueError, OSError):
        return ""
    # The server's error shape may nest the message one level down.
    for candidate in (body, body.get("error") if isinstance(body, dict) else None):
        if isinstance(candidate, dict):
            for key in ("detail", "message"):
                if isinstance(candidate.get(key), str):
                    return f": {candidate[key]}"
    return ""
