"""The one writer of audit events. Every service that changes something calls
audit_record inside its own transaction, so the change and its record commit
together or not at all."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.change_context import ChangeContext
from apps.raw_sql import Prepared, SqlBatch, jsonb
from apps.tenants.models import Namespace, Tenant

_INSERT = Prepared(
    "audit_insert",
    f"INSERT INTO {AuditEvent._meta.db_table} (occurred_at, actor_id, actor_username, action, tenant_id, "
    "namespace_id, target, before, after, request_id, source_ip, changeset_id) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s, %s, %s)"
)


def audit_record(
    *,
    context: ChangeContext,
    action: AuditEvent.Action,
    tenant: Tenant | None = None,
    namespace: Namespace | None = None,
    target: str = "",
    before: Any = None,
    after: Any = None,
    batch: SqlBatch | None = None,
) -> None:
    """Record the event, or add it to `batch`, which the caller sends with the change."""
    actor = context.actor_user
    statements = batch if batch is not None else SqlBatch()
    statements.add(_INSERT, [
        timezone.now(), actor.pk if actor is not None else None, context.actor_username, str(action),
        tenant.pk if tenant is not None else namespace.tenant_id if namespace is not None else None,
        namespace.pk if namespace is not None else None, target, jsonb(before), jsonb(after),
        context.request_id, context.source_ip, context.changeset_id,
    ])
    if batch is None:
        statements.execute()
