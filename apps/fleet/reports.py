"""What the collector does with a batch of SDK apply reports (DESIGN,
"Instances and acks"): check each, then store the batch in one statement
(the instances upserted, and the first time each revision was applied).

A report is trusted only as far as the broker vouches for it: in the
per-tenant layout only the tenant's own principals may write its ack topic,
so a report naming another tenant's namespace is dropped (and counted). Within
that, each report is signed by the SDK (noreboot/reporter.py): `mac`, keyed
with the Kafka password of the token's principal named in `principal`; the
password is derived here as the API derived it, and a report not signed by a
live token of the namespace it names is dropped, so a token cannot report for
another namespace (nor, in the shared layout, another tenant)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import operator
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from functools import reduce
from typing import Any

from django.db import DataError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.configs.events import tenant_of_ack_topic
from apps.configs.values import config_value_check
from apps.errors import InvalidInput
from apps.fleet.models import Apply, Instance
from apps.metrics import ACK_REPORTS_DROPPED, ACK_REPORTS_STORED
from apps.tenants.kafka_principals import PRINCIPAL_PREFIX, principal_name, principal_password
from apps.tenants.models import Namespace, ServiceToken

logger = logging.getLogger(__name__)

MAX_LABELS = 20
MAX_LABEL_LENGTH = 100
MAX_REJECTED = 50
MAX_REASON_LENGTH = 500
MAX_BIGINT = 2**63 - 1


class Malformed(ValueError):
    pass


@dataclass(frozen=True)
class Report:
    instance_id: str
    namespace: str
    labels: dict[str, str]
    revision: int
    epoch: str
    applied_at: datetime | None
    rejected: list[dict]
    sdk: str
    reported_at: datetime
    principal: str
    mac: str


def _text(payload: dict, key: str, *, limit: int, required: bool = True) -> str:
    value = payload.get(key)
    if value in (None, "") and not required:
        return ""
    if not isinstance(value, str) or not value or len(value) > limit:
        raise Malformed(f"{key} must be a non-empty string of at most {limit} characters")
    return value


def _integer(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_BIGINT:
        raise Malformed(f"{what} must be a non-negative 64-bit integer")
    return value


def _time(value: Any, what: str) -> datetime:
    try:
        parsed = parse_datetime(value) if isinstance(value, str) else None
    except ValueError:  # well-formed but impossible, such as month 13
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise Malformed(f"{what} must be an RFC 3339 time with a zone")
    return parsed


def _labels(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or len(value) > MAX_LABELS:
        raise Malformed(f"labels must be an object of at most {MAX_LABELS} entries")
    for key, item in value.items():
        if not isinstance(item, str) or not key or len(key) > MAX_LABEL_LENGTH or len(item) > MAX_LABEL_LENGTH:
            raise Malformed("labels must map short strings to short strings")
    return value


def _rejected(value: Any) -> list[dict]:
    if not isinstance(value, list) or len(value) > MAX_REJECTED:
        raise Malformed(f"rejected must be a list of at most {MAX_REJECTED} entries")
    entries = []
    for entry in value:
        if not isinstance(entry, dict):
            raise Malformed("each rejected entry must be an object")
        entries.append({
            "revision": _integer(entry.get("revision"), "rejected revision"),
            "name": _text(entry, "name", limit=200),
            "reason": str(entry.get("reason") or "")[:MAX_REASON_LENGTH],
        })
    return entries


def report_parse(payload: dict) -> Report:
    """The report in `payload`; raises Malformed."""
    try:
        # Every string of it (label keys, reasons too) must be text PostgreSQL can
        # store: one NUL would otherwise fail the whole batch's statement.
        config_value_check(payload)
    except InvalidInput as error:
        raise Malformed(f"{error.message} {' '.join(error.fields['value'])}") from None
    return Report(
        instance_id=_text(payload, "instance_id", limit=100),
        namespace=_text(payload, "namespace", limit=200),
        labels=_labels(payload.get("labels", {})),
        revision=_integer(payload.get("revision"), "revision"),
        epoch=_text(payload, "epoch", limit=64, required=False),
        applied_at=_time(payload["applied_at"], "applied_at") if payload.get("applied_at") is not None else None,
        rejected=_rejected(payload.get("rejected", [])),
        sdk=_text(payload, "sdk", limit=40, required=False),
        reported_at=_time(payload.get("reported_at"), "reported_at"),
        # Missing from an unsigned report, which is dropped as such.
        principal=_text(payload, "principal", limit=100, required=False),
        mac=_text(payload, "mac", limit=64, required=False),
    )


class _Drops:
    """The reports a batch drops, counted in the metrics and logged once per
    reason and subject: a client whose token was revoked goes on reporting
    until it is restarted, and a line per report would flood the log."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str]] = Counter()

    def add(self, reason: str, line: str) -> None:
        ACK_REPORTS_DROPPED.labels(reason=reason).inc()
        if line:
            self._counts[(reason, line)] += 1

    def log(self) -> None:
        for (_reason, line), count in self._counts.items():
            logger.warning("dropped %s", line if count == 1 else f"{count} times: {line}")


def reports_store(messages: list[tuple[str, dict]]) -> int:
    """Store a batch of (topic, report) messages; returns how many were stored."""
    drops = _Drops()
    parsed: list[tuple[str, Report, dict]] = []
    for topic, payload in messages:
        try:
            parsed.append((topic, report_parse(payload), payload))
        except Malformed as exc:
            drops.add("malformed", f"a malformed report from {topic}: {exc}")
    namespaces = dict(
        Namespace.objects.filter(path__in={report.namespace for _, report, _ in parsed}).values_list("path", "pk")
    )
    signers = _signers({report.principal for _, report, _ in parsed})
    now = timezone.now()
    # One row per (namespace, instance): the newest report of the batch wins.
    latest: dict[tuple[int, str], Report] = {}
    for topic, report, payload in parsed:
        tenant = tenant_of_ack_topic(topic)
        if tenant is not None and report.namespace.partition("/")[0] != tenant:
            drops.add("foreign_namespace", f"a report from {topic} naming {report.namespace}, outside its tenant")
            continue
        namespace_id = namespaces.get(report.namespace)
        if namespace_id is None:
            drops.add("unknown_namespace", "")
            continue
        if not _signed_for_its_namespace(report, payload, signers):
            drops.add("unauthenticated", f"a report of {report.namespace} not signed by a token of that namespace")
            continue
        key = (namespace_id, report.instance_id)
        if key not in latest or latest[key].reported_at <= report.reported_at:
            latest[key] = report
    drops.log()
    stored = _store(latest, now)
    ACK_REPORTS_STORED.inc(stored)
    return stored


def report_mac(password: str, payload: dict) -> str:
    """What the SDK signs: the report but its `mac`, as sorted, compact, ASCII JSON."""
    canonical = json.dumps({key: value for key, value in payload.items() if key != "mac"}, sort_keys=True,
                           separators=(",", ":"))
    return hmac.new(password.encode(), canonical.encode(), hashlib.sha256).hexdigest()


def _signers(principals: set[str]) -> dict[str, tuple[str, str]]:
    """Principal name -> (its live token's namespace path, its Kafka password)."""
    # A principal is named after the start of its token's hash (kafka_principals.principal_name).
    heads = [Q(secret_hash__startswith=name.removeprefix(PRINCIPAL_PREFIX))
             for name in principals if name.startswith(PRINCIPAL_PREFIX) and len(name) > len(PRINCIPAL_PREFIX)]
    if not heads:
        return {}
    tokens = ServiceToken.objects.filter(reduce(operator.or_, heads), revoked_at__isnull=True).values_list(
        "secret_hash", "kafka_credential_generation", "namespace__path"
    )
    signers = {}
    for secret_hash, generation, path in tokens:
        name = principal_name(secret_hash)
        if name in principals:
            signers[name] = (path, principal_password(name, generation))
    return signers


def _signed_for_its_namespace(report: Report, payload: dict, signers: dict[str, tuple[str, str]]) -> bool:
    signer = signers.get(report.principal)
    if signer is None or signer[0] != report.namespace:
        return False
    return hmac.compare_digest(report_mac(signer[1], payload), report.mac)


def _store(latest: dict[tuple[int, str], Report], now: datetime) -> int:
    """Store the batch in one statement; should PostgreSQL refuse its data
    anyway, store the reports one by one and drop only those it refuses, so
    that no report can hold the batch back (the collector would retry it forever)."""
    if not latest:
        return 0
    try:
        with transaction.atomic():
            _store_batch(latest, now)
        return len(latest)
    except DataError:
        logger.warning("PostgreSQL refused a batch of %d reports; storing them one by one", len(latest))
    stored = 0
    for key, report in latest.items():
        try:
            with transaction.atomic():
                _store_batch({key: report}, now)
            stored += 1
        except DataError as exc:
            logger.warning("dropped a report of %s that PostgreSQL refused: %s", report.instance_id, exc)
            ACK_REPORTS_DROPPED.labels(reason="unstorable").inc()
    return stored


def _store_batch(latest: dict[tuple[int, str], Report], now: datetime) -> None:
    """One statement, one round trip: upsert the instances, and keep the first
    time each applied revision was reported (a periodic report repeats it)."""
    rows = []
    for (namespace_id, instance_id), report in latest.items():
        applied_at = min(report.applied_at, now) if report.applied_at is not None else None
        rows += [
            namespace_id, instance_id, _json(report.labels), report.revision, report.epoch, applied_at,
            _json(report.rejected), report.sdk, min(report.reported_at, now),
        ]
    placeholders = ",".join(
        ["(%s::bigint, %s, %s::jsonb, %s::bigint, %s, %s::timestamptz, %s::jsonb, %s, %s::timestamptz)"] * len(latest)
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH batch (namespace_id, instance_id, labels, revision, epoch, applied_at, rejected, sdk, last_seen)
                AS (VALUES {placeholders}),
            instances AS (
                INSERT INTO fleet_instance
                    (namespace_id, instance_id, labels, revision, epoch, applied_at, rejected, sdk, last_seen)
                SELECT * FROM batch
                ON CONFLICT (namespace_id, instance_id) DO UPDATE SET
                    labels = EXCLUDED.labels, revision = EXCLUDED.revision, epoch = EXCLUDED.epoch,
                    applied_at = EXCLUDED.applied_at, rejected = EXCLUDED.rejected, sdk = EXCLUDED.sdk,
                    last_seen = EXCLUDED.last_seen
                WHERE fleet_instance.last_seen <= EXCLUDED.last_seen
            )
            INSERT INTO fleet_apply (namespace_id, instance_id, revision, applied_at)
            SELECT namespace_id, instance_id, revision, applied_at FROM batch WHERE applied_at IS NOT NULL
            ON CONFLICT (namespace_id, revision, instance_id) DO NOTHING
            """,
            rows,
        )


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def instances_forget(*, older_than: datetime) -> int:
    """Remove instances (and their apply times) unseen since `older_than`."""
    deleted, _ = Instance.objects.filter(last_seen__lt=older_than).delete()
    Apply.objects.filter(applied_at__lt=older_than).delete()
    return deleted
