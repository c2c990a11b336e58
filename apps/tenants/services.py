"""Writes to tenants, namespaces, role grants and service tokens. Each is one
transaction with its audit event."""

from __future__ import annotations

import functools
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.change_context import ChangeContext
from apps.configs.events import ack_topic_for_tenant, route_for
from apps.configs.outbox import outbox_enqueue_broker_task, outbox_unpublished_broker_tasks
from apps.errors import Conflict, NotFound
from apps.tenants.authentication import service_token_new
from apps.tenants.kafka_principals import KafkaCredentials, principal_name, principal_password
from apps.tenants.models import Environment, Namespace, Service, ServiceToken, Tenant
from apps.tenants.roles import ALL_ROLE_CODENAMES, ROLE_CODENAMES, Role, role_held
from apps.tenants.selectors import is_last_tenant_admin, not_a_member


@transaction.atomic
def tenant_create(*, slug: str, name: str = "", context: ChangeContext) -> Tenant:
    # The unique slug decides, so that two creations at once give one tenant and one 409.
    try:
        with transaction.atomic():
            tenant = Tenant.objects.create(slug=slug, name=name)
    except IntegrityError:
        raise Conflict(f"A tenant named {slug!r} exists already.", fields={"slug": ["Already taken."]}) from None
    outbox_enqueue_broker_task({"task": "tenant.topics", "tenant": slug}, request_id=context.request_id)
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


def _set_role(
    *, target: Tenant | Namespace, user, role: Role | None, action: AuditEvent.Action, context: ChangeContext
) -> None:
    """Replace the user's role on the target (None: no role) and audit it."""
    if isinstance(target, Tenant):
        # One role change per tenant at a time, so two admins cannot demote each other at once.
        Tenant.objects.select_for_update().filter(pk=target.pk).first()
    before = role_held(user, target)
    if role is None and before is None:
        raise not_a_member(user.username)
    if before == Role.ADMIN and role != Role.ADMIN and is_last_tenant_admin(target, user):
        raise Conflict(f"{user.username} is the last admin of {target.slug}; make someone else admin first.")
    for codename in ALL_ROLE_CODENAMES:
        remove_perm(codename, user, target)
    for codename in ROLE_CODENAMES[role] if role is not None else ():
        assign_perm(codename, user, target)
    audit_record(
        context=context, action=action,
        tenant=target if isinstance(target, Tenant) else None,
        namespace=target if isinstance(target, Namespace) else None,
        target=user.username,
        before={"role": before.label if before else None},
        after={"role": role.label if role else None},
    )


@transaction.atomic
def role_grant(*, target: Tenant | Namespace, user, role: Role, context: ChangeContext) -> None:
    """Give the user exactly this role on a tenant (all its namespaces) or one namespace."""
    _set_role(target=target, user=user, role=role, action=AuditEvent.Action.ROLE_GRANT, context=context)


@transaction.atomic
def role_revoke(*, target: Tenant | Namespace, user, context: ChangeContext) -> None:
    _set_role(target=target, user=user, role=None, action=AuditEvent.Action.ROLE_REVOKE, context=context)


@transaction.atomic
def service_token_create(*, namespace: Namespace, name: str, context: ChangeContext) -> tuple[ServiceToken, str]:
    """A new token and its secret, which is returned here once and never stored."""
    secret, secret_hash = service_token_new()
    token = ServiceToken.objects.create(
        namespace=namespace, name=name, prefix=secret[:12], secret_hash=secret_hash,
        created_by=context.actor_user,
    )
    outbox_enqueue_broker_task({"task": "principal.upsert", "token_id": token.pk}, request_id=context.request_id)
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
    # The token stops working here at commit; its Kafka principal goes as soon
    # as the relay reaches this task, without holding up the revocation.
    outbox_enqueue_broker_task({"task": "principal.delete", "token_id": token.pk}, request_id=context.request_id)
    audit_record(context=context, action=AuditEvent.Action.TOKEN_REVOKE, namespace=token.namespace,
                 target=str(token.pk), before={"name": token.name, "prefix": token.prefix})
    return token


@transaction.atomic
def service_token_kafka_credentials(
    *, token_id: int, namespace: Namespace, rotate: bool, context: ChangeContext
) -> tuple[KafkaCredentials, list[int]]:
    """The token's Kafka credentials, and the ids of the broker tasks that must
    be done before they work (its principal just created, or just rotated)."""
    token = ServiceToken.objects.select_for_update().get(pk=token_id, revoked_at__isnull=True)
    if rotate:
        token.kafka_credential_generation += 1
        token.save(update_fields=["kafka_credential_generation"])
        outbox_enqueue_broker_task({"task": "principal.upsert", "token_id": token.pk}, request_id=context.request_id)
        audit_record(context=context, action=AuditEvent.Action.TOKEN_KAFKA_ROTATE, namespace=namespace,
                     target=str(token.pk), after={"generation": token.kafka_credential_generation})
    route = route_for(namespace)
    username = principal_name(token.secret_hash)
    credentials = KafkaCredentials(
        bootstrap_servers=settings.KAFKA_CLIENT_BOOTSTRAP_SERVERS,
        security_protocol="SASL_SSL",
        sasl_mechanism=settings.KAFKA_SASL_MECHANISM,
        username=username,
        password=principal_password(username, token.kafka_credential_generation),
        topic=route.topic,
        partitions=route.partitions,
        ca_pem=kafka_ca_pem(),
        ack_topic=ack_topic_for_tenant(namespace.path.partition("/")[0]),
    )
    return credentials, outbox_unpublished_broker_tasks(token_id=token.pk)


@functools.cache
def kafka_ca_pem() -> str:
    path = Path(settings.KAFKA_CA_FILE)
    return path.read_text() if path.is_file() else ""


@transaction.atomic
def kafka_principals_resync() -> int:
    """Ask the relay to create again every tenant's topics and every active
    token's principal (idempotent tasks): after the broker lost its metadata,
    e.g. a cluster re-created from scratch. Returns how many tasks were queued."""
    tasks = [{"task": "tenant.topics", "tenant": slug} for slug in Tenant.objects.values_list("slug", flat=True)]
    tasks += [
        {"task": "principal.upsert", "token_id": token_id}
        for token_id in ServiceToken.objects.filter(revoked_at__isnull=True).values_list("pk", flat=True)
    ]
    for task in tasks:
        outbox_enqueue_broker_task(task)
    return len(tasks)
