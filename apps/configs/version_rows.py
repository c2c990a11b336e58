"""The SQL of the versioned write (apps/configs/services.py), which holds the
namespace row lock from its first statement to commit: everything it checks
is read in one statement once the lock is held, and everything it writes
goes out in one batch (apps/sql_batch.py). Two round trips under the lock,
whatever the checks: every other writer of the namespace waits that long."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from django.db import DEFAULT_DB_ALIAS, connection

from apps.configs.lineage import LINEAGE_ROW
from apps.configs.models import ConfigDefinition, Configuration, DatabaseLineage
from apps.fleet.models import Rollout
from apps.sql_batch import SqlBatch, jsonb
from apps.tenants.models import Namespace

_CONFIG_COLUMNS = (
    "id", "value", "is_secret", "schema_version", "version", "is_active", "is_tombstone", "revision",
    "created_at", "updated_at", "created_by_id", "comment",
)

# Every column, in the model's order (Model.from_db's).
_FIELD_NAMES = [field.attname for field in Configuration._meta.concrete_fields]
assert set(_FIELD_NAMES) == {*_CONFIG_COLUMNS, "namespace_id", "name"}

# The lock every write of the namespace takes: it serialises them until
# commit, so revision order is commit order.
_LOCK = f"UPDATE {Namespace._meta.db_table} SET revision = revision + 1 WHERE id = %(namespace)s"

# Run after the statement that took the namespace lock (a statement of its own,
# so that it sees every write committed before the lock was granted).
_READ = f"""
SELECT n.revision, n.required_approvals, n.value_bytes,
       (SELECT sum(value_bytes) FROM {Namespace._meta.db_table} WHERE tenant_id = n.tenant_id),
       (SELECT epoch FROM {DatabaseLineage._meta.db_table} WHERE id = %(lineage)s),
       EXISTS (SELECT 1 FROM {Rollout._meta.db_table}
               WHERE namespace_id = n.id AND name = %(name)s AND state = %(running)s),
       d.id, d.secret, d.schema, d.schema_version,
       CASE WHEN c.is_active THEN NULL
            ELSE (SELECT count(*) FROM {Configuration._meta.db_table} WHERE namespace_id = n.id AND is_active) END,
       {", ".join(f"c.{column}" for column in _CONFIG_COLUMNS)}
FROM {Namespace._meta.db_table} n
LEFT JOIN {ConfigDefinition._meta.db_table} d ON d.namespace_id = n.id AND d.name = %(name)s
LEFT JOIN LATERAL (
    SELECT * FROM {Configuration._meta.db_table} WHERE namespace_id = n.id AND name = %(name)s
    ORDER BY version DESC LIMIT 1
) c ON TRUE
WHERE n.id = %(namespace)s
"""


def namespace_lock(namespace: Namespace) -> tuple[int, int]:
    """Take the lock; the namespace's new revision and its required approvals."""
    with connection.cursor() as cursor:
        cursor.execute(f"{_LOCK} RETURNING revision, required_approvals", {"namespace": namespace.pk})
        return cursor.fetchone()


@dataclass(frozen=True)
class WriteState:
    """What a write of one config checks, as of the moment it holds the namespace lock."""

    revision: int  # the namespace's, raised by this transaction's lock
    required_approvals: int
    latest: Configuration | None  # the config's newest version, live or not
    live_count: int | None  # the namespace's live configs, when this name is not one of them
    definition: ConfigDefinition | None
    rollout_running: bool
    namespace_bytes: int
    tenant_bytes: int
    epoch: str | None  # None: the lineage row is gone (a flushed database)


def write_state_read(namespace: Namespace, name: str, *, lock: bool) -> WriteState:
    """The state a write of `name` checks; `lock`: take the namespace lock
    first, in the same round trip (a transaction that does not hold it yet)."""
    with connection.cursor() as cursor:
        cursor.execute(f"{_LOCK};\n{_READ}" if lock else _READ, {
            "lineage": LINEAGE_ROW, "name": name, "running": Rollout.State.RUNNING.value, "namespace": namespace.pk,
        })
        row = cursor.fetchone()
    (revision, required_approvals, namespace_bytes, tenant_bytes, epoch, rollout_running, definition_id, secret,
     schema, schema_version, live_count) = row[:11]
    config = dict(zip(_CONFIG_COLUMNS, row[11:], strict=True))
    latest = None
    if config["id"] is not None:
        config["value"] = None if config["value"] is None else json.loads(config["value"])
        config.update(namespace_id=namespace.pk, name=name)
        latest = Configuration.from_db(DEFAULT_DB_ALIAS, _FIELD_NAMES, [config[column] for column in _FIELD_NAMES])
        latest.namespace = namespace
    definition = None
    if definition_id is not None:
        definition = ConfigDefinition(
            id=definition_id, namespace=namespace, name=name, secret=secret,
            schema=None if schema is None else json.loads(schema), schema_version=schema_version,
        )
    return WriteState(
        revision=revision, required_approvals=required_approvals, latest=latest, live_count=live_count, definition=definition, rollout_running=rollout_running,
        namespace_bytes=namespace_bytes, tenant_bytes=tenant_bytes, epoch=epoch,
    )


def version_deactivate(batch: SqlBatch, latest: Configuration, at: datetime) -> None:
    batch.add(f"UPDATE {Configuration._meta.db_table} SET is_active = FALSE, updated_at = %s WHERE id = %s",
              [at, latest.pk])


def version_insert(batch: SqlBatch, config: Configuration) -> None:
    """The new version's row, last in the batch so that the batch answers its id."""
    batch.add(
        f"INSERT INTO {Configuration._meta.db_table} (namespace_id, name, value, is_secret, schema_version, version, "
        "is_active, is_tombstone, revision, created_at, updated_at, created_by_id, comment) "
        "VALUES (%s, %s, %s::jsonb, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        [config.namespace_id, config.name, jsonb(config.value), config.is_secret, config.schema_version,
         config.version, config.is_active, config.is_tombstone, config.revision, config.created_at,
         config.updated_at, config.created_by_id, config.comment],
    )
