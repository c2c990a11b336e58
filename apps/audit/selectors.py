from django.db.models import Q, QuerySet

from apps.audit.models import AuditEvent
from apps.tenants.models import Namespace, Tenant
from apps.tenants.roles import tenant_role_filter, visible_namespaces_filter


def audit_events_visible_to(principal) -> QuerySet[AuditEvent]:
    """Events of namespaces the caller may read, and tenant-level events (who
    holds a tenant-wide role, say) only of tenants the caller holds a tenant-wide
    role on; everything for platform staff."""
    events = AuditEvent.objects.select_related("namespace")
    namespaces = visible_namespaces_filter(principal)
    if namespaces is None:
        return events
    tenants = tenant_role_filter(principal)
    return events.filter(
        Q(namespace__in=Namespace.objects.filter(namespaces))
        | Q(namespace__isnull=True, tenant__in=Tenant.objects.filter(tenants))
    )


def audit_events_filtered(
    principal, *, namespace: str | None = None, actor: str | None = None, action: str | None = None,
    since=None, until=None,
) -> QuerySet[AuditEvent]:
    """The events the caller may see, narrowed by whichever filters are given."""
    events = audit_events_visible_to(principal)
    if namespace:
        events = events.filter(namespace__path=namespace)
    if actor:
        events = events.filter(actor_username=actor)
    if action:
        events = events.filter(action=action)
    if since:
        events = events.filter(occurred_at__gte=since)
    if until:
        events = events.filter(occurred_at__lt=until)
    return events
