from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.tenants.models import Tenant

URL_MAX_LENGTH = 2000
# What the API takes (the schema states both): an http(s) URL with a host name
# or IPv4 address and an optional port; a namespace glob of slugs, '*' and '?'.
_PORT = r"(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})"
# The path in printable ASCII (percent-encode the rest), without a fragment.
URL_PATTERN = rf"^https?://[A-Za-z0-9._~-]+(:{_PORT})?(/[!-\"$-~]*)?$"
NAMESPACE_GLOB_PATTERN = r"^[a-z0-9*?-]+(/[a-z0-9*?-]+){0,2}$"


class Webhook(models.Model):
    """A tenant's subscription: changes in namespaces matching `namespaces`
    (globs) of types matching `events` are POSTed, signed, to `url`."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="webhooks")
    url = models.CharField(max_length=URL_MAX_LENGTH)
    namespaces = models.JSONField(default=list)
    events = models.JSONField(default=list)
    # The HMAC key of the signatures. The receiver holds it too, so it must be
    # kept, unlike a token's secret; it is never shown again after creation.
    secret = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)
    # Why the worker disabled it (a target failing for too long), for the admin.
    disabled_reason = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["tenant__slug", "id"]

    def __str__(self) -> str:
        return f"{self.tenant.slug}: {self.url}"


class WebhookDelivery(models.Model):
    """One event to send to one webhook, and how its sending went: the queue
    of the worker and the delivery log the admin reads (apps/webhooks/deliveries.py
    is the only writer)."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    # The Kafka event's id (a test delivery's own): Kafka delivers at least
    # once, and a redelivered event must not become a second delivery.
    event_id = models.UUIDField()
    event_type = models.CharField(max_length=64)
    # Empty for a test delivery. Deliveries of one namespace go out in order.
    namespace = models.CharField(max_length=191, blank=True, default="")
    revision = models.BigIntegerField(null=True)
    # The JSON document sent; signed afresh at each attempt (the timestamp changes).
    body = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["webhook", "event_id"], name="webhook_delivery_once_per_event")
        ]
        indexes = [
            models.Index(
                fields=["webhook", "namespace", "id"], condition=models.Q(status="pending"),
                name="webhook_delivery_pending_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} -> webhook {self.webhook_id}"
