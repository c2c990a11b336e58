"""Writes of webhooks: each in one transaction with its audit event."""

from __future__ import annotations

import re

from django.db import transaction

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.change_context import ChangeContext
from apps.errors import InvalidInput, PermissionDenied
from apps.tenants.models import Tenant
from apps.webhooks.deliveries import delivery_enqueue_test
from apps.webhooks.models import NAMESPACE_GLOB_PATTERN, Webhook, WebhookDelivery
from apps.webhooks.signing import secret_masked, secret_new
from apps.webhooks.targets import target_check


def _check_globs(tenant: Tenant, globs: list[str]) -> None:
    malformed = [f"{glob!r}: use slugs, '*' and '?', in at most three '/' segments"
                 for glob in globs if not re.fullmatch(NAMESPACE_GLOB_PATTERN, glob)]
    if malformed:
        raise InvalidInput("Namespace globs are malformed.", fields={"namespaces": malformed})
    # A webhook hears only of its own tenant: the first segment is the tenant, literally.
    outside = [f"{glob!r}: not inside {tenant.slug}/" for glob in globs if not glob.startswith(f"{tenant.slug}/")]
    if outside:
        raise PermissionDenied(f"Namespace globs must lie inside the tenant {tenant.slug}.",
                               fields={"namespaces": outside})


def _audit_view(webhook: Webhook) -> dict:
    return {"url": webhook.url, "namespaces": webhook.namespaces, "events": webhook.events,
            "is_active": webhook.is_active, "secret": secret_masked(webhook.secret)}


def webhook_create(
    *, tenant: Tenant, url: str, namespaces: list[str], events: list[str], secret: str | None = None,
    context: ChangeContext,
) -> tuple[Webhook, str | None]:
    """The new webhook, and its signing secret if one was made here (shown this once)."""
    target_check(url)
    _check_globs(tenant, namespaces)
    generated = None if secret else secret_new()
    with transaction.atomic():
        webhook = Webhook.objects.create(
            tenant=tenant, url=url, namespaces=namespaces, events=events, secret=secret or generated,
            created_by=context.actor_user,
        )
        audit_record(context=context, action=AuditEvent.Action.WEBHOOK_CREATE, tenant=tenant,
                     target=f"webhook {webhook.pk}", after=_audit_view(webhook))
    return webhook, generated


def webhook_update(*, webhook: Webhook, context: ChangeContext, **changes) -> Webhook:
    """Change any of url, namespaces, events, secret, is_active; enabling a
    disabled webhook clears why it was disabled."""
    if "url" in changes:
        target_check(changes["url"])
    if "namespaces" in changes:
        _check_globs(webhook.tenant, changes["namespaces"])
    with transaction.atomic():
        locked = Webhook.objects.select_for_update().select_related("tenant").get(pk=webhook.pk)
        before = _audit_view(locked)
        for field, value in changes.items():
            setattr(locked, field, value)
        if changes.get("is_active"):
            locked.disabled_reason = ""
        locked.save()
        audit_record(context=context, action=AuditEvent.Action.WEBHOOK_UPDATE, tenant=locked.tenant,
                     target=f"webhook {locked.pk}", before=before, after=_audit_view(locked))
    return locked


def webhook_delete(*, webhook: Webhook, context: ChangeContext) -> None:
    """Deletes it and its delivery log; pending deliveries are dropped."""
    with transaction.atomic():
        audit_record(context=context, action=AuditEvent.Action.WEBHOOK_DELETE, tenant=webhook.tenant,
                     target=f"webhook {webhook.pk}", before=_audit_view(webhook))
        webhook.delete()


def webhook_test(*, webhook: Webhook) -> WebhookDelivery:
    """A `webhook.test` delivery, sent by the worker like any other."""
    return delivery_enqueue_test(webhook)
