"""The Django admin for audit events: strictly read-only. Events are written
only by apps.audit.services.audit_record, inside the change's transaction."""

from __future__ import annotations

from django.contrib import admin

from apps.audit.models import AuditEvent
from apps.tenants.admin import TenantScopedAdminMixin


@admin.register(AuditEvent)
class AuditEventAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    tenant_lookup = "tenant"
    namespace_lookup = "namespace"
    list_display = ("occurred_at", "actor_username", "action", "namespace", "target", "request_id")
    list_filter = ("action",)
    search_fields = ("actor_username", "target")
    list_select_related = ("namespace",)
    date_hierarchy = "occurred_at"
    fields = (
        "occurred_at", "actor_username", "actor", "action", "tenant", "namespace", "target",
        "before", "after", "request_id", "source_ip",
    )
    readonly_fields = fields
    actions = None

    # Spelled out although the mixin refuses them too: no admin path may
    # create, edit or delete an audit event, whoever asks.
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
