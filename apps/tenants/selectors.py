"""Reads of tenants and namespaces, already scoped to what the caller may see."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from apps.errors import NotFound, PermissionDenied
from apps.tenants.models import Namespace, ServiceToken, Tenant
from apps.tenants.roles import (
    Role,
    ServicePrincipal,
    namespace_role,
    namespace_with_role,
    role_held,
    role_holders,
    tenant_role,
    visible_namespaces_filter,
    visible_tenants_filter,
)


def namespaces_visible_to(principal) -> QuerySet[Namespace]:
    namespaces = Namespace.objects.select_related("tenant", "environment", "service")
    visible = visible_namespaces_filter(principal)
    return namespaces if visible is None else namespaces.filter(visible)


def tenants_visible_to(principal) -> QuerySet[Tenant]:
    visible = visible_tenants_filter(principal)
    return Tenant.objects.all() if visible is None else Tenant.objects.filter(visible).distinct()


def namespace_for(principal, *, tenant: str, environment: str, service: str, minimum: Role) -> tuple[Namespace, Role]:
    """The namespace at that path with the caller's role on it. A namespace the
    caller may not see is not found, whether it exists or not."""
    path = Namespace.path_of(tenant, environment, service)
    if isinstance(principal, ServicePrincipal) and principal.namespace is not None:
        # A token reads the one namespace it came with, loaded by the same query.
        namespace = principal.namespace if principal.namespace.path == path else None
        role = namespace_role(principal, namespace) if namespace is not None else None
    else:
        namespace, role = namespace_with_role(principal, path) or (None, None)
    if role is None:
        raise NotFound("Namespace not found.")
    if role < minimum:
        raise PermissionDenied(f"This needs the {minimum.label} role on {namespace.path}.")
    return namespace, role


def tenant_for(principal, *, slug: str, minimum: Role) -> Tenant:
    """The tenant with the caller's tenant-wide role at least `minimum`. A tenant
    the caller has nothing in is not found."""
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        raise NotFound("Tenant not found.")
    role = tenant_role(principal, tenant)
    if role is None and not namespaces_visible_to(principal).filter(tenant=tenant).exists():
        raise NotFound("Tenant not found.")
    if role is None or role < minimum:
        raise PermissionDenied(f"This needs the tenant-wide {minimum.label} role on {tenant.slug}.")
    return tenant


def user_by_username(username: str):
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise NotFound(f"No active user named {username!r}.")
    return user


def not_a_member(username: str) -> NotFound:
    return NotFound(f"{username!r} holds no role here.")


def member_by_username(target: Tenant | Namespace, username: str):
    """A user holding a role granted on exactly this tenant or namespace. An
    unknown username gets the same answer as a user without a role here, so an
    admin learns nothing of the accounts outside their own tenant."""
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None or role_held(user, target) is None:
        raise not_a_member(username)
    return user


def is_last_tenant_admin(target: Tenant | Namespace, user) -> bool:
    """Whether the user is the only active holder of the tenant-wide admin role
    on this tenant: without them nobody in it could grant roles or make tokens."""
    if not isinstance(target, Tenant):
        return False
    admins = {holder.pk for holder, role in role_holders(target) if role == Role.ADMIN and holder.is_active}
    return admins == {user.pk}


def service_tokens_of(namespace: Namespace) -> QuerySet[ServiceToken]:
    """The namespace's service tokens, revoked ones included, newest first."""
    return ServiceToken.objects.filter(namespace=namespace).select_related("namespace", "created_by")


def service_token_of(namespace: Namespace, token_id: int) -> ServiceToken:
    """One token of the namespace: another namespace's id is simply not found."""
    token = service_tokens_of(namespace).filter(pk=token_id).first()
    if token is None:
        raise NotFound("Token not found.")
    return token
