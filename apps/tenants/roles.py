"""Roles and who holds them: the one place that turns guardian object
permissions into a caller's role on a namespace or tenant."""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models import Q
from guardian.models import GroupObjectPermission, UserObjectPermission
from guardian.shortcuts import get_users_with_perms

from apps.raw_sql import Prepared, models_from_row, select_columns
from apps.tenants.models import Environment, Namespace, Tenant


class Role(enum.IntEnum):
    VIEWER = 1
    EDITOR = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def from_label(cls, label: str) -> Role:
        return cls[label.upper()]


ROLE_CODENAMES: dict[Role, tuple[str, ...]] = {
    Role.VIEWER: ("view_configs",),
    Role.EDITOR: ("view_configs", "edit_configs"),
    Role.ADMIN: ("view_configs", "edit_configs", "admin_namespace"),
}
ALL_ROLE_CODENAMES = ROLE_CODENAMES[Role.ADMIN]


def role_from_codenames(codenames: set[str]) -> Role | None:
    for role in (Role.ADMIN, Role.EDITOR, Role.VIEWER):
        if set(ROLE_CODENAMES[role]) <= codenames:
            return role
    return None


@dataclass(frozen=True)
class ServicePrincipal:
    """The caller behind a service token: reads one namespace, nothing else."""

    token_id: int
    token_name: str
    namespace_id: int
    # Loaded with the token, so a client's request needs no second lookup.
    namespace: Namespace | None = field(default=None, compare=False, repr=False)

    is_authenticated = True
    is_active = True
    is_superuser = False
    is_staff = False
    pk = None

    @property
    def username(self) -> str:
        return f"token:{self.token_name}"


def role_holders(target: Tenant | Namespace) -> list[tuple[object, Role]]:
    """Users holding a role granted on exactly this tenant or namespace, by username."""
    holders = get_users_with_perms(
        target, attach_perms=True, with_superusers=False, with_group_users=False,
        only_with_perms_in=ALL_ROLE_CODENAMES,
    )
    roles = [(user, role_from_codenames(set(codenames))) for user, codenames in holders.items()]
    return sorted(((user, role) for user, role in roles if role is not None), key=lambda pair: pair[0].username)


def _grants_sql(on_targets: str) -> str:
    """SQL of the permission codenames granted to the user %(user)s, directly or
    through a group, on the targets `on_targets` names (a condition on grant_)."""
    user_table, group_table = UserObjectPermission._meta.db_table, GroupObjectPermission._meta.db_table
    membership_table = get_user_model().groups.through._meta.db_table
    return f"""
        SELECT permission.codename FROM {user_table} grant_
        JOIN {Permission._meta.db_table} permission ON permission.id = grant_.permission_id
        WHERE grant_.user_id = %(user)s AND ({on_targets})
        UNION
        SELECT permission.codename FROM {group_table} grant_
        JOIN {Permission._meta.db_table} permission ON permission.id = grant_.permission_id
        JOIN {membership_table} membership ON membership.group_id = grant_.group_id
        WHERE membership.user_id = %(user)s AND ({on_targets})
    """


def _granted_codenames(user, objects: list[Tenant | Namespace]) -> set[str]:
    """Role codenames granted to the user, directly or through a group, on any of
    the objects. One query, whatever the number of objects; written as SQL
    because every request asks it, and building the ORM query cost more than
    running it."""
    params = {"user": user.pk}
    conditions = []
    for i, obj in enumerate(objects):
        params[f"type{i}"], params[f"pk{i}"] = ContentType.objects.get_for_model(obj).pk, str(obj.pk)
        conditions.append(f"(grant_.content_type_id = %(type{i})s AND grant_.object_pk = %(pk{i})s)")
    with connection.cursor() as cursor:
        cursor.execute(_grants_sql(" OR ".join(conditions)), params)
        return {codename for (codename,) in cursor.fetchall()} & set(ALL_ROLE_CODENAMES)


@functools.cache
def _revision_for_viewer_statement() -> Prepared:
    user_table, group_table = UserObjectPermission._meta.db_table, GroupObjectPermission._meta.db_table
    membership_table = get_user_model().groups.through._meta.db_table
    on_namespace_or_tenant = f"permission.codename = 'view_configs' AND ({_on_namespace_or_tenant('namespace')})"
    return Prepared("revision_for_viewer", f"""
        SELECT namespace.revision, person.username
        FROM {Namespace._meta.db_table} namespace
        JOIN {get_user_model()._meta.db_table} person ON person.id = %(user)s AND person.is_active
        WHERE namespace.path = %(path)s AND (
            person.is_superuser
            OR EXISTS (SELECT 1 FROM {user_table} grant_
                       JOIN {Permission._meta.db_table} permission ON permission.id = grant_.permission_id
                       WHERE grant_.user_id = person.id AND {on_namespace_or_tenant})
            OR EXISTS (SELECT 1 FROM {group_table} grant_
                       JOIN {Permission._meta.db_table} permission ON permission.id = grant_.permission_id
                       JOIN {membership_table} membership ON membership.group_id = grant_.group_id
                       WHERE membership.user_id = person.id AND {on_namespace_or_tenant}))
    """)


def revision_for_viewer(user_id: int, path: str) -> tuple[int, str] | None:
    """(revision, username) of the namespace at `path` when that user is active
    and may view it (a superuser, or view_configs on the namespace or its tenant,
    directly or through a group); None otherwise. One statement: the conditional
    GET's fast path (apps/api/fast_paths.py) asks it on every poll."""
    with connection.cursor() as cursor:
        _revision_for_viewer_statement().execute(cursor, {"user": user_id, "path": path, **_content_type_params()})
        return cursor.fetchone()


def namespace_role(principal, namespace: Namespace) -> Role | None:
    """The caller's role on a namespace: its own grant or its tenant's, whichever is higher."""
    if isinstance(principal, ServicePrincipal):
        return Role.VIEWER if principal.namespace_id == namespace.pk else None
    if not principal.is_authenticated or not principal.is_active:
        return None
    if principal.is_superuser:
        return Role.ADMIN
    return role_from_codenames(_granted_codenames(principal, [namespace, namespace.tenant]))


def _on_namespace_or_tenant(namespace: str) -> str:
    """The condition on grant_ of a grant on the namespace row `namespace` names, or on its tenant."""
    return f"""
        (grant_.content_type_id = %(namespace_type)s AND grant_.object_pk = {namespace}.id::text)
        OR (grant_.content_type_id = %(tenant_type)s AND grant_.object_pk = {namespace}.tenant_id::text)"""


def _content_type_params() -> dict[str, int]:
    types = ContentType.objects.get_for_models(Namespace, Tenant)
    return {"namespace_type": types[Namespace].pk, "tenant_type": types[Tenant].pk}


def may_edit_sql(namespace: str) -> str:
    """SQL that is true when the user may write the configs of the namespace row
    `namespace` names: namespace_role's rule for the editor role (a superuser,
    or the editor's codenames granted on the namespace or its tenant, directly
    or through a group), for a statement that decides in the database, with
    may_edit_params(user)."""
    return f"""(%(superuser)s OR (
        SELECT count(*) FROM ({_grants_sql(_on_namespace_or_tenant(namespace))}) granted
        WHERE granted.codename = ANY(%(editor_codenames)s)) = {len(ROLE_CODENAMES[Role.EDITOR])})"""


def may_edit_params(user) -> dict:
    """The parameters of may_edit_sql, for an active user (namespace_role's
    rule gives an inactive one no role: the caller checks it)."""
    return {"user": user.pk, "superuser": user.is_superuser, "editor_codenames": list(ROLE_CODENAMES[Role.EDITOR]),
            **_content_type_params()}


@functools.cache
def _namespace_with_grants_statement() -> Prepared:
    return Prepared("namespace_with_role", f"""
        SELECT {select_columns(Namespace, "namespace")}, {select_columns(Tenant, "tenant")},
               {select_columns(Environment, "environment")},
               ARRAY({_grants_sql(_on_namespace_or_tenant("namespace"))})
        FROM {Namespace._meta.db_table} namespace
        JOIN {Tenant._meta.db_table} tenant ON tenant.id = namespace.tenant_id
        JOIN {Environment._meta.db_table} environment ON environment.id = namespace.environment_id
        WHERE namespace.path = %(path)s
    """)


def namespace_with_role(principal, path: str) -> tuple[Namespace, Role | None] | None:
    """The namespace at `path` (its tenant and environment loaded) and the
    caller's role on it as namespace_role tells it, or None if there is no such
    namespace. One statement: every request under /namespaces/ asks it, and a
    second round trip for the grants, or building the ORM query, cost more than
    running it."""
    asks_grants = (
        not isinstance(principal, ServicePrincipal) and principal.is_authenticated and principal.is_active
        and not principal.is_superuser
    )
    with connection.cursor() as cursor:
        _namespace_with_grants_statement().execute(cursor, {
            "path": path, "user": principal.pk if asks_grants else None, **_content_type_params(),
        })
        row = cursor.fetchone()
    if row is None:
        return None
    namespace, tenant, environment = models_from_row(row[:-1], Namespace, Tenant, Environment)
    codenames = row[-1]
    Namespace.tenant.field.set_cached_value(namespace, tenant)
    Namespace.environment.field.set_cached_value(namespace, environment)
    role = role_from_codenames(set(codenames)) if asks_grants else namespace_role(principal, namespace)
    return namespace, role


def tenant_role(principal, tenant: Tenant) -> Role | None:
    """The caller's tenant-wide role (not counting grants on single namespaces)."""
    if isinstance(principal, ServicePrincipal) or not principal.is_authenticated:
        return None
    if principal.is_superuser:
        return Role.ADMIN
    return role_from_codenames(_granted_codenames(principal, [tenant]))


def _object_ids_with(user, model, codename: str) -> set[int]:
    """Ids of the model's objects on which the user holds the permission, directly or through a group."""
    content_type = ContentType.objects.get_for_model(model)
    direct = Permission.objects.filter(
        codename=codename,
        userobjectpermission__user=user,
        userobjectpermission__content_type=content_type,
    ).values_list("userobjectpermission__object_pk", flat=True)
    through_group = Permission.objects.filter(
        codename=codename,
        groupobjectpermission__group__user=user,
        groupobjectpermission__content_type=content_type,
    ).values_list("groupobjectpermission__object_pk", flat=True)
    return {int(pk) for pk in direct.union(through_group)}


def administered_ids(user, model) -> set[int]:
    """Ids of the tenants or namespaces on which the user holds the admin role."""
    return _object_ids_with(user, model, "admin_namespace")


def role_held(user, obj: Tenant | Namespace) -> Role | None:
    """The role granted to the user on exactly this object (not inherited)."""
    return role_from_codenames(_granted_codenames(user, [obj]))


def visible_namespaces_filter(principal) -> Q | None:
    """A filter on Namespace for what the caller may see; None means everything."""
    if isinstance(principal, ServicePrincipal):
        return Q(pk=principal.namespace_id)
    if not principal.is_authenticated or not principal.is_active:
        return Q(pk__in=[])
    if principal.is_superuser:
        return None
    return Q(pk__in=_object_ids_with(principal, Namespace, "view_configs")) | Q(
        tenant_id__in=_object_ids_with(principal, Tenant, "view_configs")
    )


def tenant_role_filter(principal) -> Q | None:
    """A filter on Tenant: tenants on which the caller holds a tenant-wide role
    (a grant on one namespace does not count); None means every tenant."""
    if isinstance(principal, ServicePrincipal) or not principal.is_authenticated or not principal.is_active:
        return Q(pk__in=[])
    if principal.is_superuser:
        return None
    return Q(pk__in=_object_ids_with(principal, Tenant, "view_configs"))


def visible_tenants_filter(principal) -> Q | None:
    """A filter on Tenant: tenants granted whole, or holding a visible namespace."""
    if isinstance(principal, ServicePrincipal):
        return Q(namespaces__pk=principal.namespace_id)
    if not principal.is_authenticated or not principal.is_active:
        return Q(pk__in=[])
    if principal.is_superuser:
        return None
    return Q(pk__in=_object_ids_with(principal, Tenant, "view_configs")) | Q(
        namespaces__pk__in=_object_ids_with(principal, Namespace, "view_configs")
    )
