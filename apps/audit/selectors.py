from django.db.models import Q, QuerySet

from apps.audit.models import AuditEvent
from apps.tenants.models import Namespace, Tenant
from apps.tenants.roles import visible_namespaces_filter, visible_tenants_filter


def audit_events_visible_to(principal) -> QuerySet[AuditEvent]:
    """Events of namespaces the caller may view, and tenant-level events of
    tenants the caller belongs to; everything for platform staff."""
    events = AuditEvent.objects.select_related("namespace")
    namespaces = visible_namespaces_filter(principal)
    if namespaces is None:
        return events
    tenants = visible_tenants_filter(principal)
    return events.filter(
        Q(namespace__in=Namespace.objects.filter(namespaces))
        | Q(namespace__isnull=True, tenant__in=Tenant.objects.filter(tenants))
    )
