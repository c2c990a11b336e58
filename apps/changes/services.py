"""Changesets. A changeset writes every change through the
same functions as a single write (apps/configs/services.py), so every check of
a single write holds for it; it only takes the namespace locks itself, in a
fixed order, and publishes one batch event per namespace."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.db import OperationalError, connection, transaction
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.change_context import ChangeContext
from apps.changes.models import Changeset
from apps.changes.selectors import namespace_by_path
from apps.configs.events import ConfigEvent
from apps.configs.lineage import database_epoch
from apps.configs.outbox import outbox_enqueue
from apps.configs.services import (
    AnyVersion,
    config_delete_locked,
    config_set_locked,
    namespace_lock_for_write,
)
from apps.errors import DomainError, InvalidInput
from apps.tenants.models import Namespace
from apps.tenants.roles import Role

CHANGES_MAX = 500
# PostgreSQL's deadlock_detected and serialization_failure: the fixed lock
# order rules out the first, but a transaction that lost either is safe to run again.
RETRYABLE_SQLSTATES = {"40P01", "40001"}
ATTEMPTS = 3


@dataclass(frozen=True)
class ChangeInput:
    namespace: str  # a path, tenant/environment/service
    name: str
    op: str  # set | delete
    value: Any = None
    expected_version: int | AnyVersion | None = None
    # True: create the config as a secret (promoting one); None: as it is.
    secret: bool | None = None


def naming_change(exc: DomainError, index: int, change: ChangeInput) -> DomainError:
    """The same error, its fields and message naming the change that failed (changes[3].value)."""
    where = f"changes[{index}]"
    exc.fields = {f"{where}.{field}": messages for field, messages in (exc.fields or {}).items()} or {
        where: [exc.message]
    }
    exc.message = f"{where} ({change.namespace} {change.name}): {exc.message}"
    return exc


def retried(write):
    """Run a whole write transaction again when PostgreSQL aborted it for a
    deadlock or a serialization failure, so that neither reaches a caller."""

    @wraps(write)
    def run(**kwargs):
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return write(**kwargs)
            except OperationalError as exc:
                code = getattr(exc.__cause__, "pgcode", None)
                # Inside a caller's transaction the retry is the caller's to make.
                if code not in RETRYABLE_SQLSTATES or attempt == ATTEMPTS or connection.in_atomic_block:
                    raise

    return run


def touched_namespaces(principal, changes: list[ChangeInput], minimum: Role) -> dict[str, Namespace]:
    """The namespaces the changes touch, by path, each checked for the caller's
    role (an invisible one is a 404) with the error naming the first change
    that touches it; and each config changed at most once (400 naming the
    second change)."""
    found: dict[str, Namespace] = {}
    for index, change in enumerate(changes):
        if change.namespace in found:
            continue
        try:
            found[change.namespace] = namespace_by_path(principal, change.namespace, minimum)
        except DomainError as exc:
            raise naming_change(exc, index, change) from None
    first: dict[tuple[str, str], int] = {}
    for index, change in enumerate(changes):
        earlier = first.setdefault((change.namespace, change.name), index)
        if earlier != index:
            raise InvalidInput(
                f"changes[{index}] changes {change.namespace} {change.name} again.",
                fields={f"changes[{index}]": [f"Changes the config of changes[{earlier}] again."]},
            )
    return found


def changes_write(
    *, changes: list[ChangeInput], namespaces: dict[str, Namespace], context: ChangeContext, comment: str,
    through_change_request: bool,
) -> Changeset:
    """The changeset's transaction body (the caller holds the transaction)."""
    changeset = Changeset.objects.create(
        created_by=context.actor_user, actor_username=context.actor_username, comment=comment,
        request_id=context.request_id,
    )
    context = dataclasses.replace(context, changeset_id=changeset.pk)
    first_change = {}
    for index, change in enumerate(changes):
        first_change.setdefault(change.namespace, index)
    # Locks in primary key order: two changesets never wait for each other in a cycle.
    locked = {}
    for namespace in sorted(namespaces.values(), key=lambda ns: ns.pk):
        try:
            locked[namespace.path] = namespace_lock_for_write(
                namespace, through_change_request=through_change_request, batch=[]
            )
        except DomainError as exc:
            index = first_change[namespace.path]
            raise naming_change(exc, index, changes[index]) from None
    written = []
    for index, change in enumerate(changes):
        target = locked[change.namespace]
        try:
            if change.op == "delete":
                config = config_delete_locked(
                    target, name=change.name, context=context, comment=comment,
                    expected_version=change.expected_version,
                )
            else:
                config = config_set_locked(
                    target, name=change.name, value=change.value, context=context, comment=comment,
                    expected_version=change.expected_version, secret=change.secret,
                )
        except DomainError as exc:
            raise naming_change(exc, index, change) from None
        written.append({"namespace": change.namespace, "name": change.name, "op": change.op,
                        "version": config.version, "revision": target.revision})
    revisions = {path: target.revision for path, target in sorted(locked.items())}
    epoch, now = database_epoch(), timezone.now()
    for target in locked.values():
        outbox_enqueue(namespace=target.namespace, event=ConfigEvent.for_batch(
            namespace=target.namespace, revision=target.revision, epoch=epoch, changes=target.batch,
            changeset=changeset.pk, changeset_revisions=revisions, changed_at=now, actor=context.actor_username,
            request_id=context.request_id,
        ))
        audit_record(
            context=context, action=AuditEvent.Action.CHANGESET_APPLY, namespace=target.namespace,
            target=f"changeset {changeset.pk}", after={"changes": len(target.batch), "revision": target.revision},
        )
    changeset.changes, changeset.revisions = written, revisions
    changeset.save(update_fields=["changes", "revisions"])
    changeset.namespaces.set(namespaces.values())
    return changeset


@retried
@transaction.atomic
def changeset_apply(*, changes: list[ChangeInput], context: ChangeContext, comment: str = "") -> Changeset:
    """Apply every change or none: the caller needs the editor role on every
    touched namespace, none of which may be protected."""
    namespaces = touched_namespaces(context.actor, changes, Role.EDITOR)
    return changes_write(
        changes=changes, namespaces=namespaces, context=context, comment=comment, through_change_request=False
    )


@transaction.atomic
def namespace_protect(*, namespace: Namespace, required_approvals: int, context: ChangeContext) -> Namespace:
    (before,) = Namespace.objects.select_for_update().filter(pk=namespace.pk).values_list("required_approvals").get()
    Namespace.objects.filter(pk=namespace.pk).update(required_approvals=required_approvals)
    namespace.required_approvals = required_approvals
    audit_record(context=context, action=AuditEvent.Action.NAMESPACE_PROTECT, namespace=namespace,
                 target=namespace.path, before={"required_approvals": before},
                 after={"required_approvals": required_approvals})
    return namespace
