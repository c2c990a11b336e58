"""What the collector does with a batch of SDK apply reports (DESIGN,
"Instances and acks"): check each, then store the batch in one statement
(the instances upserted, and the first time each revision was applied).

A report is trusted only as far as the broker vouches for it: in the
per-tenant layout only the tenant's own principals may write its ack topic,
so a report naming another tenant's namespace is dropped (and counted)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.configs.events import tenant_of_ack_topic
from apps.fleet.models import Apply, Instance
from apps.metrics import ACK_REPORTS_DROPPED, ACK_REPORTS_STORED
from apps.tenants.models import Namespace

logger = logging.getLogger(__name__)

MAX_LABELS = 20
MAX_LABEL_LENGTH = 100
MAX_REJECTED = 50
MAX_REASON_LENGTH = 500


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


def _text(payload: dict, key: str, *, limit: int, required: bool = True) -> str:
    value = payload.get(key)
    if value in (None, "") and not required:
        return ""
    if not isinstance(value, str) or not value or len(value) > limit:
        raise Malformed(f"{key} must be a non-empty string of at most {limit} characters")
    return value


def _integer(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise Malformed(f"{what} must be a non-negative integer")
    return value


def _time(value: Any, what: str) -> datetime:
    parsed = parse_datetime(value) if isinstance(value, str) else None
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
    )


def _drop(reason: str, count: int = 1) -> None:
    ACK_REPORTS_DROPPED.labels(reason=reason).inc(count)


def reports_store(messages: list[tuple[str, dict]]) -> int:
    """Store a batch of (topic, report) messages; returns how many were stored."""
    parsed: list[tuple[str, Report]] = []
    for topic, payload in messages:
        try:
            parsed.append((topic, report_parse(payload)))
        except (Malformed, KeyError) as exc:
            logger.warning("dropped a malformed report from %s: %s", topic, exc)
            _drop("malformed")
    namespaces = dict(
        Namespace.objects.filter(path__in={report.namespace for _, report in parsed}).values_list("path", "pk")
    )
    now = timezone.now()
    # One row per (namespace, instance): the newest report of the batch wins.
    latest: dict[tuple[int, str], Report] = {}
    for topic, report in parsed:
        tenant = tenant_of_ack_topic(topic)
        if tenant is not None and report.namespace.partition("/")[0] != tenant:
            logger.warning("dropped a report from %s naming %s, outside its tenant", topic, report.namespace)
            _drop("foreign_namespace")
            continue
        namespace_id = namespaces.get(report.namespace)
        if namespace_id is None:
            _drop("unknown_namespace")
            continue
        key = (namespace_id, report.instance_id)
        if key not in latest or latest[key].reported_at <= report.reported_at:
            latest[key] = report
    if latest:
        _store_batch(latest, now)
        ACK_REPORTS_STORED.inc(len(latest))
    return len(latest)


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
