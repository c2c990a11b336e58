"""The one writer of outbox rows. Called inside the change's transaction: the
event commits with the change, and the NOTIFY wakes the relay at that commit."""

from django.conf import settings
from django.db import connection

from apps.configs.models import OutboxEvent
from apps.tenants.models import Namespace

OUTBOX_CHANNEL = "outbox_events"


def outbox_enqueue(*, namespace: Namespace, payload: dict, request_id: str) -> OutboxEvent:
    event = OutboxEvent.objects.create(
        namespace=namespace,
        revision=payload["revision"],
        topic=settings.KAFKA_TOPIC,
        key=namespace.path,
        payload=payload,
        request_id=request_id,
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_notify(%s, '')", [OUTBOX_CHANNEL])
    return event
