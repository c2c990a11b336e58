"""Writes to configurations. Each public function is one transaction holding the
namespace row lock: the new version, the namespace revision, the outbox event
and the audit event commit together or not at all. The `*_locked` ones run
inside a transaction that already holds the lock (namespace_lock_for_write):
a changeset (apps/changes) writes several namespaces that way. A write of one
config that is not part of a caller's transaction is a transaction of two
round trips (_one_config_transaction)."""

from __future__ import annotations

import contextlib
import dataclasses
import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, transaction
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.change_context import ChangeContext
from apps.configs.definitions import (
    config_plain_value,
    config_shown_value,
    definition_set_secret,
    stored_value,
)
from apps.configs.events import ConfigEvent
from apps.configs.limits import history_trim, value_bytes_charge
from apps.configs.lineage import database_epoch
from apps.configs.models import Configuration
from apps.configs.outbox import outbox_enqueue
from apps.configs.values import value_checked
from apps.configs.version_rows import (
    WriteState,
    namespace_lock,
    version_deactivate,
    version_insert,
    write_state_read,
    write_state_read_as_editor,
)
from apps.errors import ChangeRequestRequired, InvalidInput, NotFound, PreconditionFailed
from apps.fleet.guard import rollout_guard
from apps.metrics import CONFIG_WRITES
from apps.raw_sql import COMMIT, SqlBatch, transaction_in_batches
from apps.tenants.models import Namespace


@dataclass(frozen=True)
class LockedNamespace:
    """A namespace this transaction holds locked at its new revision. Writes
    made in it share that revision; a changeset passes `batch`, which collects
    the changes for one event instead of an event per change. `commits`: the
    write's rows end the transaction (its COMMIT goes out with them)."""

    namespace: Namespace
    revision: int
    batch: list[dict] | None = None
    commits: bool = False


def namespace_lock_for_write(
    namespace: Namespace, *, through_change_request: bool = False, batch: list[dict] | None = None
) -> LockedNamespace:
    """Lock the namespace and raise its revision by one, for the writes of one
    transaction. A protected namespace takes changes only from an approved
    change request (apps/changes)."""
    revision, required_approvals = namespace_lock(namespace)
    return _locked(namespace, revision, required_approvals, through_change_request=through_change_request,
                   batch=batch)


def _locked(
    namespace: Namespace, revision: int, required_approvals: int, *, through_change_request: bool = False,
    batch: list[dict] | None = None, commits: bool = False,
) -> LockedNamespace:
    # The protection is read under the lock, so no write slips past a
    # namespace protected meanwhile.
    if required_approvals and not through_change_request:
        raise ChangeRequestRequired(
            f"{namespace.path} is protected: its changes go through an approved change request.",
            namespace=namespace.path,
        )
    return LockedNamespace(namespace=namespace, revision=revision, batch=batch, commits=commits)


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


def _check_room_for_new_name(live_count: int) -> None:
    if live_count >= settings.CONFIGS_PER_NAMESPACE_MAX:
        raise InvalidInput(
            f"The namespace already holds {live_count} configs, the most allowed.",
            fields={"name": [f"At most {settings.CONFIGS_PER_NAMESPACE_MAX} configs per namespace."]},
        )


def _write_version(
    *,
    locked: LockedNamespace,
    state: WriteState,
    name: str,
    value: Any,
    tombstone: bool,
    context: ChangeContext,
    comment: str,
    audit_action: AuditEvent.Action,
    audit_before: Any,
    audit_after: Callable[[Configuration], Any],
) -> Configuration:
    """The one funnel of every versioned write: the checks that must hold on
    every path (the config's JSON Schema) and the stored form (a secret
    encrypted) are applied here, so no path can skip them. Its rows (the
    version, the audit and outbox events, the byte count) go to PostgreSQL in
    one round trip."""
    namespace, latest = locked.namespace, state.latest
    if state.rollout_running:
        rollout_guard(namespace=namespace, name=name, context=context)
    stored = None if tombstone else stored_value(state.definition, namespace=namespace, name=name, value=value)
    value = None if stored is None else stored.value
    rows = SqlBatch()
    value_bytes_charge(namespace=namespace, held=state.namespace_bytes, tenant_held=state.tenant_bytes,
                       before=_live_value(latest), after=value, batch=rows)
    now = timezone.now()
    if _is_live(latest):
        version_deactivate(rows, latest, now)
    created = Configuration(
        pk=state.new_id,
        namespace=namespace,
        name=name,
        value=value,
        is_secret=stored is not None and stored.is_secret,
        schema_version=None if stored is None else stored.schema_version,
        version=(latest.version if latest else 0) + 1,
        is_active=not tombstone,
        is_tombstone=tombstone,
        revision=locked.revision,
        created_at=now,
        updated_at=now,
        created_by=context.actor_user,
        comment=comment,
    )
    history_trim(namespace=namespace, name=name, newest_version=created.version, batch=rows)
    op = "delete" if tombstone else "upsert"
    event = ConfigEvent.for_change(
        namespace=namespace, name=name, value=created.value, version=created.version, revision=locked.revision,
        epoch=state.epoch or database_epoch(), op=op, changed_at=now, actor=context.actor_username,
        request_id=context.request_id, secret=created.is_secret,
    )
    if locked.batch is None:
        outbox_enqueue(namespace=namespace, event=event, batch=rows)
    else:
        locked.batch.append(event.change())
    audit_record(
        context=context, action=audit_action, namespace=namespace, target=name,
        before=audit_before, after=audit_after(created), batch=rows,
    )
    version_insert(rows, created)
    if locked.commits:
        rows.add(COMMIT, [])
    rows.execute()
    # As Model.from_db leaves an instance that is in the database.
    created._state.adding, created._state.db = False, DEFAULT_DB_ALIAS
    counted = CONFIG_WRITES.labels(tenant=namespace.path.partition("/")[0], op=op).inc
    if locked.commits:
        counted()
    else:
        transaction.on_commit(counted)
    return created


def _is_live(latest: Configuration | None) -> bool:
    return latest is not None and latest.is_active


def _live_value(latest: Configuration | None) -> Any:
    return latest.value if _is_live(latest) else None


def _live_shown(latest: Configuration | None) -> Any:
    return config_shown_value(latest) if _is_live(latest) else None


def _check_state(
    state: WriteState, namespace: Namespace, name: str, expected_version: int | AnyVersion | None, *,
    must_exist: bool, must_be_live: bool = False
) -> None:
    """What every versioned write checks once it holds the namespace lock: the
    config's latest version, against what the caller expected."""
    latest = state.latest
    if (must_exist and latest is None) or (must_be_live and not _is_live(latest)):
        raise NotFound(f"No config named {name!r} in {namespace.path}.")
    _check_expected_version(latest, expected_version)


@dataclass(frozen=True)
class AsEditor:
    """The namespace at `path`, for a write by `user` (active) if they may edit
    it, which the statement that takes the lock decides: the role, the lock and
    the write's state in one round trip (the fast PUT, apps/api/fast_paths.py)."""

    path: str
    user: Any


class NotAnEditor(Exception):
    """AsEditor's user may not edit the namespace, or there is none at that
    path: the write locked and wrote nothing."""


def _locked_state(namespace: Namespace | AsEditor, name: str, *, begin: bool) -> tuple[Namespace, WriteState]:
    if isinstance(namespace, AsEditor):
        found = write_state_read_as_editor(namespace.path, namespace.user, name, begin=begin)
        if found is None:
            raise NotAnEditor(namespace.path)
        return found
    return namespace, write_state_read(namespace, name, lock=True, begin=begin)


@contextlib.contextmanager
def _one_config_transaction(
    namespace: Namespace | AsEditor, name: str
) -> Iterator[tuple[LockedNamespace, WriteState]]:
    """The transaction of a write of one config: namespace_lock_for_write and
    the write's state in one round trip. Its own transaction sends BEGIN with
    them and COMMIT with the rows (raw_sql.transaction_in_batches): two round
    trips in all, the lock held over both. Inside a caller's transaction, it is
    a savepoint of it."""
    if connection.in_atomic_block:
        with transaction.atomic():
            namespace, state = _locked_state(namespace, name, begin=False)
            yield _locked(namespace, state.revision, state.required_approvals), state
        return
    with transaction_in_batches():
        namespace, state = _locked_state(namespace, name, begin=True)
        yield _locked(namespace, state.revision, state.required_approvals, commits=True), state


def config_set(
    *, namespace: Namespace | AsEditor, name: str, value: Any, context: ChangeContext, comment: str = "",
    expected_version: int | AnyVersion | None = None, secret: bool | None = None,
) -> Configuration:
    value = value_checked(value)  # before the lock: it needs nothing the lock guards
    with _one_config_transaction(namespace, name) as (locked, state):
        return _set(
            locked, state, name=name, value=value, context=context, comment=comment,
            expected_version=expected_version, secret=secret,
        )


def config_set_locked(
    locked: LockedNamespace, *, name: str, value: Any, context: ChangeContext, comment: str = "",
    expected_version: int | AnyVersion | None = None, secret: bool | None = None,
) -> Configuration:
    """config_set inside a namespace this transaction already holds (a changeset's
    writes). `secret` (None: as it is) is decided when the config is created."""
    value = value_checked(value)
    return _set(
        locked, write_state_read(locked.namespace, name, lock=False), name=name, value=value, context=context,
        comment=comment, expected_version=expected_version, secret=secret,
    )


def _set(
    locked: LockedNamespace, state: WriteState, *, name: str, value: Any, context: ChangeContext, comment: str,
    expected_version: int | AnyVersion | None, secret: bool | None,
) -> Configuration:
    namespace = locked.namespace
    _check_state(state, namespace, name, expected_version, must_exist=False)
    live = _is_live(state.latest)
    if not live:
        _check_room_for_new_name(state.live_count)
    if secret is not None:
        definition = definition_set_secret(namespace=namespace, name=name, secret=secret, live=live)
        state = dataclasses.replace(state, definition=definition)
    return _write_version(
        locked=locked, state=state, name=name, value=value, tombstone=False, context=context, comment=comment,
        audit_action=AuditEvent.Action.CONFIG_SET, audit_before=_live_shown(state.latest),
        audit_after=config_shown_value,
    )


def config_delete(
    *, namespace: Namespace, name: str, context: ChangeContext, comment: str = "",
    expected_version: int | AnyVersion | None = None,
) -> Configuration:
    with _one_config_transaction(namespace, name) as (locked, state):
        return _delete(
            locked, state, name=name, context=context, comment=comment, expected_version=expected_version,
        )


def config_delete_locked(
    locked: LockedNamespace, *, name: str, context: ChangeContext, comment: str = "",
    expected_version: int | AnyVersion | None = None,
) -> Configuration:
    """config_delete inside a namespace this transaction already holds (a changeset's writes)."""
    return _delete(
        locked, write_state_read(locked.namespace, name, lock=False), name=name, context=context, comment=comment,
        expected_version=expected_version,
    )


def _delete(
    locked: LockedNamespace, state: WriteState, *, name: str, context: ChangeContext, comment: str,
    expected_version: int | AnyVersion | None,
) -> Configuration:
    _check_state(state, locked.namespace, name, expected_version, must_exist=True, must_be_live=True)
    return _write_version(
        locked=locked, state=state, name=name, value=None, tombstone=True, context=context, comment=comment,
        audit_action=AuditEvent.Action.CONFIG_DELETE, audit_before=config_shown_value(state.latest),
        audit_after=lambda _tombstone: None,
    )


def config_rollback(
    *, namespace: Namespace, name: str, to_version: int, context: ChangeContext, comment: str = "",
    expected_version: int | AnyVersion | None = None,
) -> Configuration:
    with _one_config_transaction(namespace, name) as (locked, state):
        return _rollback(locked, state, name=name, to_version=to_version, context=context, comment=comment,
                         expected_version=expected_version)


def _rollback(
    locked: LockedNamespace, state: WriteState, *, name: str, to_version: int, context: ChangeContext, comment: str,
    expected_version: int | AnyVersion | None,
) -> Configuration:
    namespace = locked.namespace
    _check_state(state, namespace, name, expected_version, must_exist=True)
    target = Configuration.objects.filter(namespace=namespace, name=name, version=to_version).first()
    if target is None:
        raise NotFound(f"{name!r} has no version {to_version}.")
    if target.is_tombstone:
        raise InvalidInput(
            f"Version {to_version} is a deletion; roll back to a version with a value.",
            fields={"to_version": ["This version is a deletion."]},
        )
    if not state.latest.is_active:
        _check_room_for_new_name(state.live_count)
    return _write_version(
        locked=locked, state=state, name=name, value=config_plain_value(target), tombstone=False, context=context,
        comment=comment or f"Rollback to version {to_version}",
        audit_action=AuditEvent.Action.CONFIG_ROLLBACK, audit_before=_live_shown(state.latest),
        audit_after=lambda created: {
            "value": config_shown_value(created), "to_version": to_version, "version": created.version,
        },
    )
