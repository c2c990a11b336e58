"""The config service's endpoints the SDK uses: a namespace's snapshot and its Kafka credentials.

Every failure is mapped to one of two kinds: ``ApiError`` (the server
refused: retrying will not help) or ``ApiUnavailable`` (transient).
"""

import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from noreboot.errors import ApiError, ApiUnavailable, AuthenticationError, NamespaceNotFound
from noreboot.snapshot import Snapshot, snapshot_from_configs
from noreboot.transport import HttpClient, HttpResponse

# A body that is not what the contract says is treated as a broken deployment
# (a proxy's HTML page, a half-written response): transient.
_MALFORMED = (ValueError, KeyError, TypeError, AttributeError)


def namespace_path(namespace: str) -> str:
    """``acme/prod/checkout`` -> ``/api/v1/namespaces/acme/prod/checkout``, each slug quoted."""
    return "/api/v1/namespaces/" + "/".join(urllib.parse.quote(part, safe="") for part in namespace.split("/"))


@dataclass(frozen=True, slots=True)
class Route:
    """Where the namespace's events are published, as the server says."""

    topic: str
    partitions: int


@dataclass(frozen=True, slots=True)
class SnapshotResponse:
    snapshot: Snapshot
    route: Route
    digest: str | None  # the service's digest of the values; None from a service that sends none


@dataclass(frozen=True, slots=True)
class RevealedSecret:
    version: int
    value: Any = field(repr=False)
    fingerprint: str


@dataclass(frozen=True, slots=True)
class KafkaCredentials:
    """The token's own Kafka principal, as ``kafka-credentials/`` hands it out."""

    bootstrap_servers: str
    security_protocol: str
    sasl_mechanism: str
    username: str
    password: str = field(repr=False)
    topic: str
    partitions: int
    ca_pem: str = field(repr=False)
    # Where this principal may report what the client applied; "" from a
    # service that has no ack topic (then the client does not report).
    ack_topic: str = ""


class ConfigApi:
    """The endpoints of one namespace, over the package's HTTP client."""

    def __init__(self, http: HttpClient, namespace: str) -> None:
        self.namespace = namespace
        self.http = http
        self._path = namespace_path(namespace)

    @property
    def url(self) -> str:
        """The snapshot URL (for messages)."""
        return f"{self.http.base_url}{self._path}/configs/"

    def fetch(
        self, *, if_none_match: int | None = None, timeout: float | None = None, held: Snapshot | None = None
    ) -> SnapshotResponse | None:
        """The current snapshot, or ``None`` if its revision is still ``if_none_match``.

        Secrets whose fingerprint is that of ``held`` (the snapshot served now)
        keep their held value: each reveal is an audited request."""
        # The server's ETag is the namespace revision, quoted.
        headers = {"If-None-Match": f'"{if_none_match}"'} if if_none_match is not None else None
        response = self.http.request("GET", f"{self._path}/configs/", headers=headers, timeout=timeout)
        if response.status == 304:
            return None
        self._raise_for_status(response)
        try:
            payload = response.json()
            if payload.get("namespace") != self.namespace:
                raise ValueError(f"snapshot is for {payload.get('namespace')!r}, not {self.namespace!r}")
            route = Route(topic=_non_empty(payload, "topic"), partitions=_positive(payload, "partitions"))
            digest = payload.get("digest")
            if digest is not None and not isinstance(digest, str):
                raise ValueError("digest must be a string")
            secrets = self._secrets_of(payload["configs"], held, timeout=timeout)
            snapshot = snapshot_from_configs(
                self.namespace, payload["revision"], payload["configs"], payload.get("epoch"), payload.get("rollouts"),
                secrets,
            )
        except _MALFORMED as exc:
            raise ApiUnavailable(f"unexpected snapshot response from {self.url}: {exc}") from exc
        return SnapshotResponse(snapshot=snapshot, route=route, digest=digest)

    def _secrets_of(self, configs: Any, held: Snapshot | None, *, timeout: float | None) -> dict[str, Any]:
        """The plain values of the snapshot's secrets (it shows them masked),
        each at the version the snapshot lists: one changed meanwhile makes the
        whole fetch transient, so the caller fetches a consistent snapshot again."""
        secrets = {}
        for item in configs:
            if not isinstance(item, dict) or not item.get("secret"):
                continue
            name = item["name"]
            if held is not None and name in held.masked and held.masked[name] == item["value"]:
                secrets[name] = held.server_values[name]
            else:
                revealed = self.reveal(name, timeout=timeout)
                if revealed.version != item.get("version"):
                    raise ApiUnavailable(f"secret {name} changed while the snapshot was fetched")
                secrets[name] = revealed.value
        return secrets

    def reveal(self, name: str, *, timeout: float | None = None) -> "RevealedSecret":
        """A secret config's plain value, at its current version (each call is audited by the service)."""
        response = self.http.request("GET", f"{self._config_path(name)}?reveal=true", timeout=timeout)
        self._raise_for_status(response)
        try:
            payload = response.json()
            version, fingerprint = payload["version"], payload.get("fingerprint")
            if not isinstance(version, int) or not isinstance(fingerprint, str) or not payload.get("secret"):
                raise ValueError(f"{name} did not come back as a secret")
            if isinstance(payload["value"], dict) and payload["value"].get("secret") is True:
                # Masked: this token may not reveal it. Never served as if it were the value.
                raise ApiError(f"the service did not reveal {name} to this token", status=response.status)
            return RevealedSecret(version=version, value=payload["value"], fingerprint=fingerprint)
        except _MALFORMED as exc:
            raise ApiUnavailable(f"unexpected answer revealing {name}: {exc}") from exc

    def schema(self, name: str, *, timeout: float | None = None) -> dict | None:
        """The config's JSON Schema, or None if it has none."""
        response = self.http.request("GET", f"{self._config_path(name)}schema/", timeout=timeout)
        if response.status == 404:
            return None
        self._raise_for_status(response)
        try:
            schema = response.json()["schema"]
            if not isinstance(schema, dict):
                raise ValueError("schema must be an object")
            return schema
        except _MALFORMED as exc:
            raise ApiUnavailable(f"unexpected schema response for {name}: {exc}") from exc

    def _config_path(self, name: str) -> str:
        return f"{self._path}/configs/{urllib.parse.quote(name, safe='')}/"

    def kafka_credentials(self, *, timeout: float | None = None) -> KafkaCredentials:
        """The token's current Kafka credential (the same one on every call: this never rotates it)."""
        response = self.http.request("POST", f"{self._path}/kafka-credentials/", body={}, timeout=timeout)
        self._raise_for_status(response)
        try:
            payload = response.json()
            ca_pem = payload.get("ca_pem") or ""  # empty for a broker without TLS
            if not isinstance(ca_pem, str):
                raise ValueError("ca_pem must be a string")
            return KafkaCredentials(
                bootstrap_servers=_non_empty(payload, "bootstrap_servers"),
                security_protocol=_non_empty(payload, "security_protocol"),
                sasl_mechanism=_non_empty(payload, "sasl_mechanism"),
                username=_non_empty(payload, "username"),
                password=_non_empty(payload, "password"),
                topic=_non_empty(payload, "topic"),
                partitions=_positive(payload, "partitions"),
                ca_pem=ca_pem,
                ack_topic=payload.get("ack_topic") if isinstance(payload.get("ack_topic"), str) else "",
            )
        except _MALFORMED as exc:
            raise ApiUnavailable(f"unexpected Kafka credentials response from {self.url}: {exc}") from exc

    def _raise_for_status(self, response: HttpResponse) -> None:
        status = response.status
        if status < 400:
            return
        message = response.error_detail().message
        detail = f": {message}" if message else ""
        if status in (401, 403):
            raise AuthenticationError(
                f"config service rejected the token for {self.namespace} ({status}){detail}", status=status
            )
        if status == 404:
            raise NamespaceNotFound(
                f"namespace {self.namespace} not found or not visible to this token{detail}", status=status
            )
        # Overload and gateway errors pass; other 4xx mean this client is wrong.
        if status == 429 or status >= 500:
            raise ApiUnavailable(f"config service answered {status} at {self.url}{detail}")
        raise ApiError(f"config service answered {status} at {self.url}{detail}", status=status)


def _non_empty(payload: dict, key: str) -> str:
    value: Any = payload[key]
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key} must be a non-empty string")
    return value


def _positive(payload: dict, key: str) -> int:
    value: Any = payload[key]
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{key} must be a positive integer")
    return value
