"""The one writer of audit events. Every service that changes something calls
audit_record inside its own transaction, so the change and its record commit
together or not at all."""

from __future__ import annotations

from typing import Any

from apps.audit.models import AuditEvent
from apps.change_context import ChangeContext
from apps.tenants.models import Namespace, Tenant


def audit_record(
    *,
    context: ChangeContext,
    action: AuditEvent.Action,
    tenant: Tenant | None = None,
    namespace: Namespace | None = None,
    target: str = "",
    before: Any = None,
    after: Any = None,
) -> AuditEvent:
    return AuditEvent.objects.create(
        actor=context.actor_user,
        actor_username=context.actor_username,
        action=action,
        tenant=tenant or (namespace.tenant if namespace else None),
        namespace=namespace,
        target=target,
        before=before,
        after=after,
        request_id=context.request_id,
        source_ip=context.source_ip,
        changeset_id=context.changeset_id,
    )
