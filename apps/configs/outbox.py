"""Every read and write of outbox rows. Events are enqueued inside the change's
transaction: the event commits with the change, and the NOTIFY wakes the relay
at that commit. The relay reads pending rows in order and marks them published
once Kafka acknowledged them."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Count, Min
from django.utils import timezone

from apps.configs.events import ConfigEvent, route_for
from apps.configs.models import OutboxEvent
from apps.raw_sql import Prepared, SqlBatch, jsonb
from apps.tenants.models import Namespace

OUTBOX_CHANNEL = "outbox_events"


_INSERT_CONFIG_EVENT = Prepared(
    "outbox_insert",
    f"INSERT INTO {OutboxEvent._meta.db_table} (kind, namespace_id, revision, topic, key, payload, request_id, "
    "created_at) VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s, %s)"
)
_WAKE_RELAY = Prepared("outbox_wake_relay", "SELECT pg_notify(%s, '')")


def outbox_enqueue(*, namespace: Namespace, event: ConfigEvent, batch: SqlBatch | None = None) -> None:
    """Enqueue the event, or add it to `batch`, which the caller sends with the change."""
    route = route_for(namespace)
    statements = batch if batch is not None else SqlBatch()
    statements.add(_INSERT_CONFIG_EVENT, [
        OutboxEvent.Kind.CONFIG_EVENT.value, namespace.pk, event.revision, route.topic, route.key,
        jsonb(event.to_payload()), event.request_id, timezone.now(),
    ])
    statements.add(_WAKE_RELAY, [OUTBOX_CHANNEL])
    if batch is None:
        statements.execute()


def outbox_enqueue_broker_task(task: dict, *, request_id: str = "") -> OutboxEvent:
    """A broker change (apps/configs/broker_tasks.py) the relay carries out,
    retrying until it succeeds, in order with the config events around it."""
    row = OutboxEvent.objects.create(kind=OutboxEvent.Kind.BROKER_TASK, payload=task, request_id=request_id)
    _wake_relay()
    return row


def _wake_relay() -> None:
    with connection.cursor() as cursor:
        _WAKE_RELAY.execute(cursor, [OUTBOX_CHANNEL])


@dataclass(frozen=True)
class PendingEvent:
    id: int
    kind: str
    topic: str
    key: str
    payload: dict
    request_id: str
    created_at: datetime


_PENDING = Prepared(
    "outbox_pending",
    f"SELECT id, kind, topic, key, payload, request_id, created_at FROM {OutboxEvent._meta.db_table} "
    "WHERE published_at IS NULL ORDER BY id LIMIT %s"
)


def outbox_pending(limit: int) -> list[PendingEvent]:
    """The oldest unpublished events, in commit order of their namespaces.
    Written as SQL: the relay asks it for every change, between the commit and
    the publish, and building the ORM query cost more than running it."""
    with connection.cursor() as cursor:
        _PENDING.execute(cursor, [limit])
        rows = cursor.fetchall()
    return [PendingEvent(event_id, kind, topic, key, json.loads(payload), request_id, created_at)
            for event_id, kind, topic, key, payload, request_id, created_at in rows]


_MARK_PUBLISHED = Prepared(
    "outbox_mark_published", f"UPDATE {OutboxEvent._meta.db_table} SET published_at = %s WHERE id = ANY(%s)",
)


def outbox_mark_published(ids: list[int], at: datetime) -> None:
    with connection.cursor() as cursor:
        _MARK_PUBLISHED.execute(cursor, [at, ids])


def outbox_restamp_epoch(epoch: str) -> int:
    """Stamp a new database epoch on the config events still to publish: they
    belong to the database as it is now, not to the history it came from."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {OutboxEvent._meta.db_table} SET payload = jsonb_set(payload, '{{epoch}}', to_jsonb(%s::text))"
            " WHERE published_at IS NULL AND kind = %s",
            [epoch, OutboxEvent.Kind.CONFIG_EVENT],
        )
        return cursor.rowcount


def outbox_unpublished_broker_tasks(**payload_fields) -> list[int]:
    """Ids of broker tasks still to do whose payload holds these fields."""
    lookups = {f"payload__{name}": value for name, value in payload_fields.items()}
    rows = OutboxEvent.objects.filter(kind=OutboxEvent.Kind.BROKER_TASK, published_at__isnull=True, **lookups)
    return list(rows.values_list("pk", flat=True))


def outbox_wait_published(ids: list[int], *, timeout: float, interval: float = 0.02) -> bool:
    """Wait until the relay has done these events; False if it has not within `timeout`."""
    deadline = time.monotonic() + timeout
    while OutboxEvent.objects.filter(pk__in=ids, published_at__isnull=True).exists():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True


@dataclass(frozen=True)
class Backlog:
    count: int
    oldest_age_seconds: float


def outbox_backlog() -> Backlog:
    found = OutboxEvent.objects.filter(published_at__isnull=True).aggregate(count=Count("id"), oldest=Min("created_at"))
    age = (timezone.now() - found["oldest"]).total_seconds() if found["oldest"] else 0.0
    return Backlog(count=found["count"], oldest_age_seconds=age)


def outbox_prune(*, older_than: timedelta) -> int:
    """Delete events published longer ago than `older_than`; never an unpublished one."""
    deleted, _ = OutboxEvent.objects.filter(published_at__lt=timezone.now() - older_than).delete()
    return deleted


def revision_committed_at(namespace: Namespace, revision: int) -> datetime | None:
    """When the change of `revision` was written (its event's row); None once pruned."""
    return (
        OutboxEvent.objects.filter(namespace=namespace, revision=revision).values_list("created_at", flat=True).first()
    )
