from django.db.models import QuerySet

from apps.errors import NotFound
from apps.tenants.models import Tenant
from apps.tenants.roles import administered_ids
from apps.webhooks.models import Webhook, WebhookDelivery

RECENT_DELIVERIES = 20


def webhooks_of(tenant: Tenant) -> QuerySet[Webhook]:
    return Webhook.objects.filter(tenant=tenant).select_related("tenant").order_by("id")


def webhook_of(tenant: Tenant, webhook_id: int) -> Webhook:
    webhook = webhooks_of(tenant).filter(pk=webhook_id).first()
    if webhook is None:
        raise NotFound("Webhook not found.")
    return webhook


def deliveries_of(webhook: Webhook) -> QuerySet[WebhookDelivery]:
    """Newest first: the delivery log."""
    return WebhookDelivery.objects.filter(webhook=webhook).order_by("-id")


def webhooks_administered_by(user) -> QuerySet[Webhook]:
    """Webhooks of the tenants on which the user is a tenant-wide admin."""
    webhooks = Webhook.objects.select_related("tenant").order_by("tenant__slug", "id")
    if user.is_superuser:
        return webhooks
    return webhooks.filter(tenant_id__in=administered_ids(user, Tenant))


def deliveries_recent(webhook: Webhook) -> list[WebhookDelivery]:
    return list(deliveries_of(webhook)[:RECENT_DELIVERIES])
