"""Writes to configurations. Each public function is one transaction holding the
namespace row lock: the new version, the namespace revision, the outbox event
and the audit event commit together or not at all."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.change_context import ChangeContext
from apps.configs.events import ConfigEvent
from apps.configs.limits import history_trim, value_bytes_charge
from apps.configs.lineage import database_epoch
from apps.configs.models import Configuration, config_name_errors
from apps.configs.outbox import outbox_enqueue
from apps.configs.values import config_value_check, value_as_stored, values_identical
from apps.errors import InvalidInput, NotFound, PreconditionFailed
from apps.metrics import CONFIG_WRITES
from apps.tenants.models import Namespace


def _lock_and_bump_revision(namespace: Namespace) -> int:
    # The UPDATE takes the namespace row lock that serialises every writer of
    # the namespace until commit, so revision order is commit order.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE tenants_namespace SET revision = revision + 1 WHERE id = %s RETURNING revision",
            [namespace.pk],
        )
        (revision,) = cursor.fetchone()
    return revision


class AnyVersion(enum.Enum):
    """`If-Match: *` (RFC 9110): whatever the current version is, as long as there is one."""

    ANY = "*"


ANY_VERSION = AnyVersion.ANY


def _check_expected_version(latest: Configuration | None, expected_version: int | AnyVersion | None) -> None:
    current = latest.version if latest else 0
    if expected_version is ANY_VERSION:
        if not _is_live(latest):
            raise PreconditionFailed("The config has no current version.", current_version=current)
        return
    if expected_version is not None and expected_version != current:
        raise PreconditionFailed(
            f"The config is at version {current}, not {expected_version}.", current_version=current
        )


def _check_room_for_new_name(namespace: Namespace) -> None:
    count = Configuration.objects.filter(namespace=namespace, is_active=True).count()
    if count >= settings.CONFIGS_PER_NAMESPACE_MAX:
        raise InvalidInput(
            f"The namespace already holds {count} configs, the most allowed.",
            fields={"name": [f"At most {settings.CONFIGS_PER_NAMESPACE_MAX} configs per namespace."]},
        )


def _write_version(
    *,
    namespace: Namespace,
    revision: int,
    name: str,
    value: Any,
    tombstone: bool,
    latest: Configuration | None,
    context: ChangeContext,
    comment: str,
) -> Configuration:
    value_bytes_charge(namespace=namespace, before=_live_value(latest), after=None if tombstone else value)
    if latest is not None and latest.is_active:
        Configuration.objects.filter(pk=latest.pk).update(is_active=False, updated_at=timezone.now())
    op = "delete" if tombstone else "upsert"
    created = Configuration.objects.create(
        namespace=namespace,
        name=name,
        value=None if tombstone else value,
        version=(latest.version if latest else 0) + 1,
        is_active=not tombstone,
        is_tombstone=tombstone,
        revision=revision,
        created_by=context.actor_user,
        comment=comment,
    )
    outbox_enqueue(
        namespace=namespace,
        event=ConfigEvent.for_change(
            namespace=namespace, name=name, value=created.value, version=created.version, revision=revision,
            epoch=database_epoch(), op=op, changed_at=created.created_at, actor=context.actor_username, request_id=context.request_id,
        ),
    )
    history_trim(namespace=namespace, name=name, newest_version=created.version)
    tenant = namespace.tenant.slug
    transaction.on_commit(lambda: CONFIG_WRITES.labels(tenant=tenant, op=op).inc())
    return created


def _latest_version(namespace: Namespace, name: str) -> Configuration | None:
    return Configuration.objects.filter(namespace=namespace, name=name).order_by("-version").first()


def _is_live(latest: Configuration | None) -> bool:
    return latest is not None and latest.is_active


def _live_value(latest: Configuration | None) -> Any:
    return latest.value if _is_live(latest) else None


def _begin_write(
    namespace: Namespace, name: str, expected_version: int | AnyVersion | None, *, must_exist: bool,
    must_be_live: bool = False
) -> tuple[int, Configuration | None]:
    """The opening every versioned write shares: take the namespace lock with
    the new revision, then read and check the config's latest version."""
    revision = _lock_and_bump_revision(namespace)
    latest = _latest_version(namespace, name)
    if (must_exist and latest is None) or (must_be_live and not _is_live(latest)):
        raise NotFound(f"No config named {name!r} in {namespace.path}.")
    _check_expected_version(latest, expected_version)
    return revision, latest


@transaction.atomic
def config_set(
    *,
    namespace: Namespace,
    name: str,
    value: Any,
    context: ChangeContext,
    comment: str = "",
    expected_version: int | AnyVersion | None = None,
) -> Configuration:
    config_value_check(value)
    value = value_as_stored(value)
    revision, latest = _begin_write(namespace, name, expected_version, must_exist=False)
    if not _is_live(latest):
        _check_room_for_new_name(namespace)
    created = _write_version(
        namespace=namespace, revision=revision, name=name, value=value, tombstone=False,
        latest=latest, context=context, comment=comment,
    )
    audit_record(
        context=context, action=AuditEvent.Action.CONFIG_SET, namespace=namespace,
        target=name, before=_live_value(latest), after=value,
    )
    return created


@transaction.atomic
def config_delete(
    *,
    namespace: Namespace,
    name: str,
    context: ChangeContext,
    comment: str = "",
    expected_version: int | AnyVersion | None = None,
) -> Configuration:
    revision, latest = _begin_write(namespace, name, expected_version, must_exist=True, must_be_live=True)
    tombstone = _write_version(
        namespace=namespace, revision=revision, name=name, value=None, tombstone=True,
        latest=latest, context=context, comment=comment,
    )
    audit_record(
        context=context, action=AuditEvent.Action.CONFIG_DELETE, namespace=namespace,
        target=name, before=latest.value, after=None,
    )
    return tombstone


@transaction.atomic
def config_rollback(
    *,
    namespace: Namespace,
    name: str,
    to_version: int,
    context: ChangeContext,
    comment: str = "",
    expected_version: int | AnyVersion | None = None,
) -> Configuration:
    revision, latest = _begin_write(namespace, name, expected_version, must_exist=True)
    target = Configuration.objects.filter(namespace=namespace, name=name, version=to_version).first()
    if target is None:
        raise NotFound(f"{name!r} has no version {to_version}.")
    if target.is_tombstone:
        raise InvalidInput(
            f"Version {to_version} is a deletion; roll back to a version with a value.",
            fields={"to_version": ["This version is a deletion."]},
        )
    if not latest.is_active:
        _check_room_for_new_name(namespace)
    created = _write_version(
        namespace=namespace, revision=revision, name=name, value=target.value, tombstone=False,
        latest=latest, context=context,
        comment=comment or f"Rollback to version {to_version}",
    )
    audit_record(
        context=context, action=AuditEvent.Action.CONFIG_ROLLBACK, namespace=namespace,
        target=name, before=_live_value(latest),
        after={"value": target.value, "to_version": to_version, "version": created.version},
    )
    return created


@dataclass(frozen=True)
class ImportChange:
    name: str
    op: str  # create | update | unchanged
    before: Any
    after: Any


@dataclass(frozen=True)
class ImportResult:
    # The namespace revision after the import (unchanged by a dry run).
    revision: int
    changes: list[ImportChange]


def _import_entry_errors(name: str, value: Any) -> list[str]:
    errors = config_name_errors(name)
    try:
        config_value_check(value)
    except InvalidInput as exc:
        errors.extend(message for messages in (exc.fields or {}).values() for message in messages)
    return errors


@transaction.atomic
def config_import(
    *,
    namespace: Namespace,
    configs: dict[str, Any],
    context: ChangeContext,
    comment: str = "",
    dry_run: bool = False,
) -> ImportResult:
    """Set many configs at once, all or nothing: any invalid entry refuses the
    whole import. Each changed value is a normal, published and audited write;
    values equal to the current ones are left alone."""
    fields = {f"configs.{name}": errors for name, value in configs.items() if (errors := _import_entry_errors(name, value))}
    if fields:
        raise InvalidInput(f"{len(fields)} entries are invalid; nothing was imported.", fields=fields)
    # Lock first, so the plan below cannot go stale before it is applied.
    (revision,) = Namespace.objects.select_for_update().filter(pk=namespace.pk).values_list("revision").get()
    current = dict(Configuration.objects.filter(namespace=namespace, is_active=True).values_list("name", "value"))
    changes = []
    for name in sorted(configs):
        # Compared in the form it would be stored in, so that 1e20 over a stored
        # 100000000000000000000 is unchanged, but true over a stored 1 is not.
        value = value_as_stored(configs[name])
        if name not in current:
            changes.append(ImportChange(name, "create", None, value))
        elif not values_identical(current[name], value):
            changes.append(ImportChange(name, "update", current[name], value))
        else:
            changes.append(ImportChange(name, "unchanged", value, value))
    if not dry_run:
        for change in changes:
            if change.op != "unchanged":
                written = config_set(namespace=namespace, name=change.name, value=change.after, context=context,
                                     comment=comment or "import")
                revision = written.revision
    return ImportResult(revision=revision, changes=changes)
