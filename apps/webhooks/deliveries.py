"""Every read and write of delivery rows: the worker turns config events into
deliveries, then sends each namespace's deliveries to each webhook in order,
retrying with exponential backoff; the rows are also the delivery log.

Order per (webhook, namespace): only the oldest pending delivery of a pair is
ever due, and it is locked while it is sent, so several workers never send two
of one pair at once nor overtake a failing one."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, Min, OuterRef
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.webhooks.models import Webhook, WebhookDelivery
from apps.webhooks.routing import TEST_EVENT, event_type_for, subscribed
from apps.webhooks.sender import delivery_send

logger = logging.getLogger(__name__)
Status = WebhookDelivery.Status


def _body(*, event_id: str, event_type: str, tenant: str, namespace: str | None, created_at: str, data: dict) -> dict:
    # `event_id` lets receivers drop the duplicates that at-least-once brings.
    return {"event_id": event_id, "type": event_type, "tenant": tenant, "namespace": namespace,
            "created_at": created_at, "data": data}


def deliveries_enqueue_for_events(payloads: Iterable[dict]) -> None:
    """A delivery per event and subscribed webhook, in the events' order; an
    event seen before (Kafka redelivers) adds nothing."""
    webhooks_by_tenant: dict[str, list[Webhook]] = {}
    rows = []
    for payload in payloads:
        event_type = event_type_for(payload)
        changed_at = parse_datetime(payload.get("changed_at", ""))
        namespace = payload.get("namespace", "")
        if event_type is None or changed_at is None or "event_id" not in payload:
            logger.warning("skipped an event this worker does not know: op=%r", payload.get("op"))
            continue
        tenant = namespace.partition("/")[0]
        if tenant not in webhooks_by_tenant:
            webhooks_by_tenant[tenant] = list(Webhook.objects.filter(tenant__slug=tenant, is_active=True))
        for webhook in webhooks_by_tenant[tenant]:
            if subscribed(namespaces=webhook.namespaces, events=webhook.events, created_at=webhook.created_at,
                          namespace=namespace, event_type=event_type, changed_at=changed_at):
                rows.append(WebhookDelivery(
                    webhook=webhook, event_id=payload["event_id"], event_type=event_type, namespace=namespace,
                    revision=payload.get("revision"),
                    body=_body(event_id=payload["event_id"], event_type=event_type, tenant=tenant,
                               namespace=namespace, created_at=payload["changed_at"], data=payload),
                ))
    WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True)


def delivery_enqueue_test(webhook: Webhook) -> WebhookDelivery:
    event_id = str(uuid.uuid4())
    now = timezone.now()
    return WebhookDelivery.objects.create(
        webhook=webhook, event_id=event_id, event_type=TEST_EVENT,
        body=_body(event_id=event_id, event_type=TEST_EVENT, tenant=webhook.tenant.slug, namespace=None,
                   created_at=now.isoformat().replace("+00:00", "Z"), data={"webhook": webhook.pk}),
    )


def deliveries_start_time() -> datetime:
    """From when a consumer new to a topic must read: nothing older can be
    for a webhook that exists now."""
    oldest = Webhook.objects.filter(is_active=True).aggregate(oldest=Min("created_at"))["oldest"]
    return oldest or timezone.now()


def retry_delay(attempts: int) -> timedelta:
    seconds = settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** min(attempts - 1, 32)
    return timedelta(seconds=min(seconds, settings.WEBHOOK_RETRY_MAX_SECONDS))


def delivery_send_next() -> bool:
    """Send the most overdue delivery that heads its (webhook, namespace)
    queue; False when none is due. One transaction holds the row's lock for
    the attempt, which the send's timeout bounds."""
    earlier_pending = WebhookDelivery.objects.filter(
        webhook=OuterRef("webhook"), namespace=OuterRef("namespace"), status=Status.PENDING, id__lt=OuterRef("id")
    )
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.filter(
                status=Status.PENDING, webhook__is_active=True, next_attempt_at__lte=timezone.now()
            )
            .exclude(Exists(earlier_pending))
            .select_related("webhook")
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("next_attempt_at", "id")
            .first()
        )
        if delivery is None:
            return False
        webhook = delivery.webhook
        result = delivery_send(url=webhook.url, secret=webhook.secret, body=delivery.body,
                               event_type=delivery.event_type, delivery_id=delivery.pk)
        now = timezone.now()
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.response_code = result.response_code
        delivery.error = result.error
        if result.ok:
            delivery.status = Status.DELIVERED
            delivery.delivered_at = now
        elif now - delivery.created_at >= timedelta(seconds=settings.WEBHOOK_GIVE_UP_SECONDS):
            delivery.status = Status.FAILED
            _webhook_disable(webhook, f"disabled at {now:%Y-%m-%d %H:%M:%S} UTC: no delivery succeeded for "
                                      f"{settings.WEBHOOK_GIVE_UP_SECONDS / 3600:g} h; last error: {result.error}")
        else:
            delivery.next_attempt_at = now + retry_delay(delivery.attempts)
        delivery.save(update_fields=["attempts", "last_attempt_at", "response_code", "error", "status",
                                     "delivered_at", "next_attempt_at"])
    logger.info(
        "webhook %s %s %s attempt %d: %s", webhook.pk, delivery.event_type, delivery.event_id, delivery.attempts,
        delivery.status if result.ok or delivery.status == Status.FAILED else f"retry at {delivery.next_attempt_at}",
        extra={"namespace": delivery.namespace, "response_code": result.response_code},
    )
    return True


def _webhook_disable(webhook: Webhook, reason: str) -> None:
    # Its other pending deliveries wait: they go out, in order, if an admin enables it again.
    Webhook.objects.filter(pk=webhook.pk).update(is_active=False, disabled_reason=reason[:500])
    logger.warning("webhook %s %s", webhook.pk, reason)
