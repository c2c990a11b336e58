"""Writes to tenants, namespaces, role grants and service tokens. Each is one
transaction with its audit event."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm

from apps.audit.models import AuditEvent
from apps.audit.services import ChangeContext, audit_record
from apps.errors import Conflict, NotFound
from apps.tenants.authentication import service_token_new
from apps.tenants.models import Environment, Namespace, Service, ServiceToken, Tenant
from apps.tenants.roles import ALL_ROLE_CODENAMES, ROLE_CODENAMES, Role, role_held


@transaction.atomic
def tenant_create(*, slug: str, name: str = "", context: ChangeContext) -> Tenant:
    if Tenant.objects.filter(slug=slug).exists():
        raise Conflict(f"A tenant named {slug!r} exists already.", fields={"slug": ["Already taken."]})
    tenant = Tenant.objects.create(slug=slug, name=name)
    audit_record(context=context, action=AuditEvent.Action.TENANT_CREATE, tenant=tenant,
                 target=slug, after={"slug": slug, "name": name})
    return tenant


@transaction.atomic
def namespace_create(
    *, tenant: Tenant, environment: str, service: str, context: ChangeContext, is_production: bool | None = None
) -> Namespace:
    env, _ = Environment.objects.get_or_create(tenant=tenant, slug=environment)
    if is_production is not None and env.is_production != is_production:
        env.is_production = is_production
        env.save(update_fields=["is_production"])
    svc, _ = Service.objects.get_or_create(tenant=tenant, slug=service)
    path = Namespace.path_of(tenant.slug, environment, service)
    try:
        with transaction.atomic():
            namespace = Namespace.objects.create(tenant=tenant, environment=env, service=svc, path=path)
    except IntegrityError:
        raise Conflict(f"The namespace {path} exists already.") from None
    audit_record(context=context, action=AuditEvent.Action.NAMESPACE_CREATE, namespace=namespace,
                 target=path, after={"path": path, "is_production": env.is_production})
    return namespace


def _set_role(user, obj, role: Role | None) -> None:
    for codename in ALL_ROLE_CODENAMES:
        remove_perm(codename, user, obj)
    if role is not None:
        for codename in ROLE_CODENAMES[role]:
            assign_perm(codename, user, obj)


@transaction.atomic
def role_grant(*, target: Tenant | Namespace, user, role: Role, context: ChangeContext) -> None:
    """Give the user exactly this role on a tenant (all its namespaces) or one namespace."""
    before = role_held(user, target)
    _set_role(user, target, role)
    audit_record(
        context=context, action=AuditEvent.Action.ROLE_GRANT,
        tenant=target if isinstance(target, Tenant) else None,
        namespace=target if isinstance(target, Namespace) else None,
        target=user.username,
        before={"role": before.label if before else None},
        after={"role": role.label},
    )


@transaction.atomic
def role_revoke(*, target: Tenant | Namespace, user, context: ChangeContext) -> None:
    before = role_held(user, target)
    if before is None:
        raise NotFound(f"{user.username} holds no role here.")
    _set_role(user, target, None)
    audit_record(
        context=context, action=AuditEvent.Action.ROLE_REVOKE,
        tenant=target if isinstance(target, Tenant) else None,
        namespace=target if isinstance(target, Namespace) else None,
        target=user.username,
        before={"role": before.label},
        after={"role": None},
    )


@transaction.atomic
def service_token_create(*, namespace: Namespace, name: str, context: ChangeContext) -> tuple[ServiceToken, str]:
    """A new token and its secret, which is returned here once and never stored."""
    secret, secret_hash = service_token_new()
    token = ServiceToken.objects.create(
        namespace=namespace, name=name, prefix=secret[:12], secret_hash=secret_hash,
        created_by=context.actor_user,
    )
    audit_record(context=context, action=AuditEvent.Action.TOKEN_CREATE, namespace=namespace,
                 target=str(token.pk), after={"name": name, "prefix": token.prefix})
    return token, secret


@transaction.atomic
def service_token_revoke(*, token: ServiceToken, context: ChangeContext) -> ServiceToken:
    # Locked, so that two revokes at once write one audit event, not two.
    token = ServiceToken.objects.select_for_update().select_related("namespace__tenant").get(pk=token.pk)
    if token.revoked_at is not None:
        raise NotFound("This token is revoked already.")
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit_record(context=context, action=AuditEvent.Action.TOKEN_REVOKE, namespace=token.namespace,
                 target=str(token.pk), before={"name": token.name, "prefix": token.prefix})
    return token
