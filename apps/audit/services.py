"""The one writer of audit events. Every service that changes something calls
audit_record inside its own transaction, so the change and its record commit
together or not at all."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model

from apps.audit.models import AuditEvent
from apps.tenants.models import Namespace, Tenant


@dataclass(frozen=True)
class ChangeContext:
    """Who makes a change, and from which request."""

    actor: Any  # a User, or a ServicePrincipal for service tokens (read-only, so never here in practice)
    request_id: str = ""
    source_ip: str | None = None

    @classmethod
    def from_request(cls, request) -> ChangeContext:
        return cls(
            actor=request.user,
            request_id=getattr(request, "request_id", ""),
            source_ip=request.META.get("REMOTE_ADDR") or None,
        )

    @property
    def actor_user(self):
        return self.actor if isinstance(self.actor, get_user_model()) else None

    @property
    def actor_username(self) -> str:
        return getattr(self.actor, "username", "") or "system"


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
    )
