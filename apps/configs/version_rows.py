"""The SQL of the versioned write (apps/configs/services.py), which holds the
namespace row lock from its first statement to commit: everything it checks
is read in one statement once the lock is held, and everything it writes
goes out in one batch (apps/raw_sql.py). Two round trips under the lock,
whatever the checks: every other writer of the namespace waits that long. A
write that is its own transaction sends its BEGIN with the first and its
COMMIT with the second (raw_sql.transaction_in_batches), so the new version's
id is drawn in the read: the batch's last answer is the COMMIT's."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from apps.configs.lineage import LINEAGE_ROW
from apps.configs.models import ConfigDefinition, Configuration, DatabaseLineage
from apps.fleet.models import Rollout
from apps.raw_sql import BEGIN, Prepared, SqlBatch, jsonb, models_from_row, select_columns
from apps.tenants.models import Namespace
from apps.tenants.roles import may_edit_params, may_edit_sql

# The lock every write of the namespace takes: it serialises them until
# commit, so revision order is commit order.
_LOCK_SQL = f"UPDATE {Namespace._meta.db_table} SET revision = revision + 1 WHERE id = %(namespace)s"
_LOCK = Prepared("write_lock", _LOCK_SQL)
_LOCK_RETURNING = Prepared("write_lock_returning", f"{_LOCK_SQL} RETURNING revision, required_approvals")


def _read_sql(locked_namespace_id: str, *, namespace_columns: bool) -> str:
    """The statement that reads a write's state: run after the statement that
    took the namespace lock (a statement of its own, so that it sees every
    write committed before the lock was granted)."""
    namespace = f"{select_columns(Namespace, 'n')}," if namespace_columns else ""
    return f"""
SELECT {namespace} n.revision, n.required_approvals, n.value_bytes,
       (SELECT sum(value_bytes)::bigint FROM {Namespace._meta.db_table} WHERE tenant_id = n.tenant_id),
       (SELECT epoch FROM {DatabaseLineage._meta.db_table} WHERE id = %(lineage)s),
       EXISTS (SELECT 1 FROM {Rollout._meta.db_table}
               WHERE namespace_id = n.id AND name = %(name)s AND state = %(running)s),
       CASE WHEN c.is_active THEN NULL
            ELSE (SELECT count(*) FROM {Configuration._meta.db_table} WHERE namespace_id = n.id AND is_active) END,
       nextval(pg_get_serial_sequence('{Configuration._meta.db_table}', 'id')),
       {select_columns(ConfigDefinition, "d")}, {select_columns(Configuration, "c")}
FROM {Namespace._meta.db_table} n
LEFT JOIN {ConfigDefinition._meta.db_table} d ON d.namespace_id = n.id AND d.name = %(name)s
LEFT JOIN LATERAL (
    SELECT * FROM {Configuration._meta.db_table} WHERE namespace_id = n.id AND name = %(name)s
    ORDER BY version DESC LIMIT 1
) c ON TRUE
WHERE n.id = {locked_namespace_id}
"""


_READ = Prepared("write_state", _read_sql("%(namespace)s", namespace_columns=False))

# A write by a user whose right to it is decided in the database (the fast
# PUT's): the lock is taken only if the user may edit the namespace at that
# path, and the read finds the namespace only if this transaction locked it,
# which the lock notes in a setting local to the transaction. One round trip
# for the role, the lock and the state, where asking the role first took one
# of its own.
_LOCKED_SETTING = "noreboot.write_locked_namespace"


@functools.cache
def _lock_as_editor() -> Prepared:
    return Prepared("write_lock_as_editor", f"""
WITH locked AS (
    UPDATE {Namespace._meta.db_table} namespace SET revision = revision + 1
    WHERE namespace.path = %(path)s AND {may_edit_sql("namespace")}
    RETURNING namespace.id
)
SELECT set_config('{_LOCKED_SETTING}', coalesce((SELECT id FROM locked)::text, ''), true)
""")


_READ_AS_EDITOR = Prepared("write_state_as_editor", _read_sql(
    f"nullif(current_setting('{_LOCKED_SETTING}', true), '')::bigint", namespace_columns=True,
))
_NAMESPACE_COLUMNS = len(Namespace._meta.concrete_fields)

_DEACTIVATE = Prepared(
    "version_deactivate", f"UPDATE {Configuration._meta.db_table} SET is_active = FALSE, updated_at = %s WHERE id = %s",
)
_INSERT = Prepared(
    "version_insert",
    f"INSERT INTO {Configuration._meta.db_table} (id, namespace_id, name, value, is_secret, schema_version, version, "
    "is_active, is_tombstone, revision, created_at, updated_at, created_by_id, comment) "
    "VALUES (%s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
)


def namespace_lock(namespace: Namespace) -> tuple[int, int]:
    """Take the lock; the namespace's new revision and its required approvals."""
    with connection.cursor() as cursor:
        _LOCK_RETURNING.execute(cursor, {"namespace": namespace.pk})
        return cursor.fetchone()


@dataclass(frozen=True)
class WriteState:
    """What a write of one config checks, as of the moment it holds the namespace lock."""

    revision: int  # the namespace's, raised by this transaction's lock
    new_id: int  # the new version's
    required_approvals: int
    latest: Configuration | None  # the config's newest version, live or not
    live_count: int | None  # the namespace's live configs, when this name is not one of them
    definition: ConfigDefinition | None
    rollout_running: bool
    namespace_bytes: int
    tenant_bytes: int
    epoch: str | None  # None: the lineage row is gone (a flushed database)


def _read_params(name: str) -> dict:
    return {"lineage": LINEAGE_ROW, "name": name, "running": Rollout.State.RUNNING.value}


def write_state_read(namespace: Namespace, name: str, *, lock: bool, begin: bool = False) -> WriteState:
    """The state a write of `name` checks; `lock`: take the namespace lock
    first, in the same round trip (a transaction that does not hold it yet),
    which `begin` also opens."""
    params = {**_read_params(name), "namespace": namespace.pk}
    statements = SqlBatch()
    if begin:
        statements.add(BEGIN, [])
    if lock:
        statements.add(_LOCK, params)
    statements.add(_READ, params)
    return _write_state(statements.execute(), namespace)


def write_state_read_as_editor(path: str, user, name: str, *, begin: bool) -> tuple[Namespace, WriteState] | None:
    """The namespace at `path`, locked, and the state a write of `name` in it
    checks, if the (active) user may edit it; None if there is no such
    namespace or the user may not, and then nothing is locked. `begin`: the
    round trip opens the transaction too."""
    statements = SqlBatch()
    if begin:
        statements.add(BEGIN, [])
    params = {**_read_params(name), "path": path, **may_edit_params(user)}
    statements.add(_lock_as_editor(), params)
    statements.add(_READ_AS_EDITOR, params)
    row = statements.execute()
    if row is None:
        return None
    (namespace,) = models_from_row(row[:_NAMESPACE_COLUMNS], Namespace)
    return namespace, _write_state(row[_NAMESPACE_COLUMNS:], namespace)


def _write_state(row: tuple, namespace: Namespace) -> WriteState:
    (revision, required_approvals, namespace_bytes, tenant_bytes, epoch, rollout_running, live_count, new_id) = row[:8]
    definition, latest = models_from_row(row[8:], ConfigDefinition, Configuration)
    for loaded in (definition, latest):
        if loaded is not None:
            loaded.namespace = namespace
    return WriteState(
        revision=revision, new_id=new_id, required_approvals=required_approvals, latest=latest, live_count=live_count,
        definition=definition, rollout_running=rollout_running, namespace_bytes=namespace_bytes,
        tenant_bytes=tenant_bytes, epoch=epoch,
    )


def version_deactivate(batch: SqlBatch, latest: Configuration, at: datetime) -> None:
    batch.add(_DEACTIVATE, [at, latest.pk])


def version_insert(batch: SqlBatch, config: Configuration) -> None:
    batch.add(
        _INSERT,
        [config.pk, config.namespace_id, config.name, jsonb(config.value), config.is_secret, config.schema_version,
         config.version, config.is_active, config.is_tombstone, config.revision, config.created_at,
         config.updated_at, config.created_by_id, config.comment],
    )
