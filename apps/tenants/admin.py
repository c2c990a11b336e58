"""The Django admin for tenants, namespaces, role grants and service tokens,
and the scoping every admin page of the project shares (TenantScopedAdminMixin).

The admin reads models directly but writes only through the services, so each
change made here has its audit event like a change made through the API."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from config_service.auth_tokens import refresh_tokens_revoke
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404
from guardian.admin import GroupManage, GuardedModelAdmin, UserManage

from apps.change_context import ChangeContext
from apps.changes.services import namespace_protect
from apps.errors import NotFound
from apps.tenants import services
from apps.tenants.models import Environment, Namespace, Service, ServiceToken, Tenant
from apps.tenants.roles import Role, administered_ids, role_held, tenant_role
from apps.tenants.selectors import is_last_tenant_admin


@dataclass(frozen=True)
class AdministeredScope:
    """Ids of the tenants a user administers whole, and of the single
    namespaces they administer."""

    tenant_ids: frozenset[int]
    namespace_ids: frozenset[int]


def administered_scope(request) -> AdministeredScope:
    # One admin page asks every registered ModelAdmin for its permissions, so
    # the two queries are made once per request.
    scope = getattr(request, "_administered_scope", None)
    if scope is None:
        user = request.user
        if user.is_active and user.is_staff:
            scope = AdministeredScope(frozenset(administered_ids(user, Tenant)), frozenset(administered_ids(user, Namespace)))
        else:
            scope = AdministeredScope(frozenset(), frozenset())
        request._administered_scope = scope
    return scope


def administered_filter(request, *, tenant_lookup: str | None, namespace_lookup: str | None) -> Q | None:
    """A filter for the objects that reach, through these lookups, a tenant or a
    namespace the user administers; None means everything (a superuser)."""
    if request.user.is_active and request.user.is_superuser:
        return None
    scope = administered_scope(request)
    visible = Q(pk__in=[])
    if tenant_lookup is not None:
        visible |= Q(**{f"{tenant_lookup}__in": scope.tenant_ids})
    if namespace_lookup is not None:
        visible |= Q(**{f"{namespace_lookup}__in": scope.namespace_ids})
    return visible


class TenantScopedAdminMixin:
    """Superusers see everything. Other staff see the objects of the tenants
    they administer whole and of the namespaces they administer, and nothing
    else, whatever Django model permissions they hold or lack.

    A ModelAdmin says how its model reaches a tenant and a namespace; a lookup
    left None means the model is not reachable that way (a tenant has no
    namespace, so a namespace admin does not see the tenant itself)."""

    tenant_lookup: str | None = None
    namespace_lookup: str | None = None

    def scope_filter(self, request) -> Q | None:
        """A filter on the model for what the user may see; None means everything."""
        return administered_filter(request, tenant_lookup=self.tenant_lookup, namespace_lookup=self.namespace_lookup)

    def has_scope(self, request) -> bool:
        if request.user.is_active and request.user.is_superuser:
            return True
        scope = administered_scope(request)
        return bool(
            (self.tenant_lookup is not None and scope.tenant_ids)
            or (self.namespace_lookup is not None and scope.namespace_ids)
        )

    def in_scope(self, request, obj) -> bool:
        return self.get_queryset(request).filter(pk=obj.pk).exists()

    def administered_namespaces(self, request):
        """The namespaces the user may manage, e.g. as the choices of a form."""
        namespaces = Namespace.objects.select_related("tenant")
        visible = administered_filter(request, tenant_lookup="tenant", namespace_lookup="pk")
        return namespaces if visible is None else namespaces.filter(visible)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        visible = self.scope_filter(request)
        return queryset if visible is None else queryset.filter(visible)

    def has_module_permission(self, request) -> bool:
        return self.has_scope(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return self.has_scope(request) and (obj is None or self.in_scope(request, obj))

    # Structure, versions and tokens are created and removed through the API
    # and its services only; subclasses open what they write through a service.
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class RoleAssignmentForm(forms.Form):
    """Guardian's per-user object-permissions form, replaced by one role that is
    granted or revoked through the role services, so the change is audited."""

    role = forms.ChoiceField(
        choices=[("", "No role")] + [(role.label, role.label.capitalize()) for role in Role],
        required=False,
        help_text="Viewer reads configs; editor also writes them; admin also grants roles and manages tokens.",
    )

    def __init__(self, user, obj, data=None, *, context: ChangeContext):
        self.user, self.obj, self.context = user, obj, context
        self.current_role = role_held(user, obj)
        super().__init__(data, initial={"role": self.current_role.label if self.current_role else ""})

    def clean_role(self) -> str:
        label = self.cleaned_data["role"]
        if self.current_role == Role.ADMIN and label != Role.ADMIN.label and is_last_tenant_admin(self.obj, self.user):
            raise forms.ValidationError("This is the tenant's last admin; make someone else admin first.")
        return label

    def save_obj_perms(self) -> None:
        label = self.cleaned_data["role"]
        role = Role.from_label(label) if label else None
        if role == self.current_role:
            return
        if role is None:
            services.role_revoke(target=self.obj, user=self.user, context=self.context)
        else:
            services.role_grant(target=self.obj, user=self.user, role=role, context=self.context)


# Users an admin chose by name on a role page, in their session.
CHOSEN_USERS_SESSION_KEY = "admin_role_chosen_users"


class RememberedUserManage(UserManage):
    """Guardian's choose-a-user-by-name form, which also remembers whom the admin named."""

    def __init__(self, *args, request, **kwargs):
        super().__init__(*args, **kwargs)
        self.request = request

    def clean_user(self):
        user = super().clean_user()
        chosen = self.request.session.get(CHOSEN_USERS_SESSION_KEY, [])
        self.request.session[CHOSEN_USERS_SESSION_KEY] = [*chosen[-49:], user.pk]
        return user


class GroupRefused(GroupManage):
    def clean_group(self):
        raise forms.ValidationError("Roles are granted to users here; group grants have no audited path.")


class RoleGrantingAdmin(TenantScopedAdminMixin, GuardedModelAdmin):
    """A tenant or namespace whose roles its admins manage on guardian's
    object-permissions page. Its own fields are read-only: "change" here means
    managing who holds which role."""

    def has_change_permission(self, request, obj=None) -> bool:
        return self.has_view_permission(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method == "POST":
            raise PermissionDenied("Tenants and namespaces are changed through the API.")
        extra_context = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def get_obj_perms_manage_user_form(self, request):
        return functools.partial(RoleAssignmentForm, context=ChangeContext.from_request(request))

    def get_obj_perms_group_select_form(self, request):
        return GroupRefused

    def get_obj_perms_user_select_form(self, request):
        return functools.partial(RememberedUserManage, request=request)

    def obj_perms_manage_user_view(self, request, object_pk, user_id):
        # A user's page names the user: only for those holding a role here or
        # tenant-wide (whom the role pages list anyway) or named by this admin,
        # so that user ids are no directory of every account.
        if not request.user.is_superuser:
            obj = get_object_or_404(self.get_queryset(request), pk=unquote(object_pk))
            user = get_user_model().objects.filter(pk=user_id).first() if str(user_id).isdigit() else None
            tenant = obj if isinstance(obj, Tenant) else obj.tenant
            known = user is not None and (
                user.pk in request.session.get(CHOSEN_USERS_SESSION_KEY, [])
                or role_held(user, obj) is not None or role_held(user, tenant) is not None
            )
            if not known:
                raise Http404("No such member.")
        return super().obj_perms_manage_user_view(request, object_pk, user_id)

    def obj_perms_manage_group_view(self, request, object_pk, group_id):
        raise PermissionDenied("Roles are granted to users here; group grants have no audited path.")


@admin.register(Tenant)
class TenantAdmin(RoleGrantingAdmin):
    tenant_lookup = "pk"
    list_display = ("slug", "name", "created_at")
    search_fields = ("slug", "name")
    fields = ("slug", "name", "created_at")


@admin.register(Namespace)
class NamespaceAdmin(RoleGrantingAdmin):
    tenant_lookup = "tenant"
    namespace_lookup = "pk"
    list_display = ("path", "revision", "required_approvals", "created_at")
    search_fields = ("path",)
    fields = ("path", "tenant", "environment", "service", "revision", "required_approvals", "created_at")
    list_select_related = ("tenant",)
    actions = ("protect", "unprotect")

    def has_protect_permission(self, request) -> bool:
        return self.has_view_permission(request)

    def _set_protection(self, request, queryset, required_approvals: int) -> None:
        # Protection is the tenant admins' call, not a namespace admin's.
        context = ChangeContext.from_request(request)
        changed = 0
        for namespace in queryset.select_related("tenant"):
            if tenant_role(request.user, namespace.tenant) == Role.ADMIN:
                namespace_protect(namespace=namespace, required_approvals=required_approvals, context=context)
                changed += 1
        skipped = queryset.count() - changed
        message = f"Set {changed} namespace(s) to {required_approvals} required approval(s)."
        if skipped:
            message += f" {skipped} skipped: protection is set by the tenant's admins."
        self.message_user(request, message, messages.SUCCESS if not skipped else messages.WARNING)

    @admin.action(description="Protect: changes only through change requests with 1 approval",
                  permissions=("protect",))
    def protect(self, request, queryset) -> None:
        self._set_protection(request, queryset, 1)

    @admin.action(description="Remove protection", permissions=("protect",))
    def unprotect(self, request, queryset) -> None:
        self._set_protection(request, queryset, 0)


@admin.register(Environment)
class EnvironmentAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    tenant_lookup = "tenant"
    list_display = ("tenant", "slug", "is_production")
    search_fields = ("tenant__slug", "slug")
    list_select_related = ("tenant",)


@admin.register(Service)
class ServiceAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    tenant_lookup = "tenant"
    list_display = ("tenant", "slug")
    search_fields = ("tenant__slug", "slug")
    list_select_related = ("tenant",)


@admin.register(ServiceToken)
class ServiceTokenAdmin(TenantScopedAdminMixin, admin.ModelAdmin):
    tenant_lookup = "namespace__tenant"
    namespace_lookup = "namespace"
    list_display = ("name", "prefix", "namespace", "created_by", "created_at", "last_used_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("name", "prefix", "namespace__path")
    list_select_related = ("namespace__tenant", "created_by")
    # The secret's hash stays out of sight; the prefix is enough to tell tokens apart.
    fields = ("name", "prefix", "namespace", "created_by", "created_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    actions = ("revoke_tokens",)

    def has_revoke_permission(self, request) -> bool:
        # The changelist's queryset is already scoped to what the user administers.
        return self.has_view_permission(request)

    @admin.action(description="Revoke selected tokens", permissions=("revoke",))
    def revoke_tokens(self, request, queryset) -> None:
        context = ChangeContext.from_request(request)
        revoked = 0
        for token in queryset.filter(revoked_at__isnull=True):
            try:
                services.service_token_revoke(token=token, context=context)
            except NotFound:  # revoked by someone else since the list was read
                continue
            revoked += 1
        skipped = queryset.count() - revoked
        message = f"Revoked {revoked} token(s)."
        if skipped:
            message += f" {skipped} were revoked already."
        self.message_user(request, message, messages.SUCCESS)


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class SessionEndingUserAdmin(UserAdmin):
    """Django's user admin, where deactivating a user or setting their password
    also ends their API sessions (their refresh tokens)."""

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data and not obj.is_active:
            refresh_tokens_revoke(obj)

    def user_change_password(self, request, id, form_url=""):
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302:  # the new password was saved
            refresh_tokens_revoke(self.get_object(request, unquote(id)))
        return response
