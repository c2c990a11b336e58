"""What a namespace may hold and keep, enforced inside the write transaction
that holds the namespace lock: byte budgets per namespace and per tenant (a
snapshot, an export and a dashboard page load a namespace whole), and how many
versions of each config the history keeps."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from apps.configs.models import Configuration
from apps.configs.values import config_value_size
from apps.errors import InvalidInput
from apps.raw_sql import Prepared, SqlBatch
from apps.tenants.models import Namespace

_CHARGE = Prepared("value_bytes_charge", f"UPDATE {Namespace._meta.db_table} SET value_bytes = value_bytes + %s WHERE id = %s")
_TRIM = Prepared(
    "history_trim",
    f"DELETE FROM {Configuration._meta.db_table} WHERE namespace_id = %s AND name = %s AND version <= %s "
    "AND NOT is_active",
)


def _size(value: Any) -> int:
    return 0 if value is None else config_value_size(value)


def value_bytes_charge(
    *, namespace: Namespace, held: int, tenant_held: int, before: Any, after: Any, batch: SqlBatch
) -> None:
    """Account for a live value replaced (None: absent) and refuse a change that
    grows the namespace or its tenant past its budget. A change that shrinks is
    always allowed, so a namespace over a lowered budget can be cleaned up.
    `held` and `tenant_held` are the bytes read under this transaction's
    namespace lock; the update goes out with the rest of the write's batch."""
    delta = _size(after) - _size(before)
    if delta == 0:
        return
    if delta > 0:
        _refuse_over(held + delta, settings.NAMESPACE_VALUE_BYTES_MAX, "namespace", "NOREBOOT_NAMESPACE_MAX_BYTES")
        # Other namespaces of the tenant are not locked: concurrent writers there can
        # overshoot the tenant budget by at most one value each, which is the price
        # of not serialising every write of a tenant.
        _refuse_over(tenant_held + delta, settings.TENANT_VALUE_BYTES_MAX, "tenant", "NOREBOOT_TENANT_MAX_BYTES")
    batch.add(_CHARGE, [delta, namespace.pk])


def _refuse_over(held: int, budget: int, scope: str, setting: str) -> None:
    if held > budget:
        raise InvalidInput(
            f"The {scope} would hold {held} bytes of values, over its budget of {budget} bytes.",
            fields={"value": [f"The {scope} byte budget ({setting}) is {budget} bytes of JSON values."]},
            limit=setting,
        )


def history_trim(*, namespace: Namespace, name: str, newest_version: int, batch: SqlBatch) -> None:
    """Keep the newest CONFIG_HISTORY_MAX versions of a config (0 keeps all).
    Audit events are never trimmed: they keep every before and after."""
    keep = settings.CONFIG_HISTORY_MAX
    if keep <= 0 or newest_version <= keep:
        return
    batch.add(_TRIM, [namespace.pk, name, newest_version - keep])
