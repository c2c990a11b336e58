"""What a namespace may hold and keep, enforced inside the write transaction
that holds the namespace lock: byte budgets per namespace and per tenant (a
snapshot, an export and a dashboard page load a namespace whole), and how many
versions of each config the history keeps."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Sum

from apps.configs.models import Configuration
from apps.configs.values import config_value_size
from apps.errors import InvalidInput
from apps.tenants.models import Namespace


def _size(value: Any) -> int:
    return 0 if value is None else config_value_size(value)


def value_bytes_charge(*, namespace: Namespace, before: Any, after: Any) -> None:
    """Account for a live value replaced (None: absent) and refuse a change that
    grows the namespace or its tenant past its budget. A change that shrinks is
    always allowed, so a namespace over a lowered budget can be cleaned up."""
    delta = _size(after) - _size(before)
    if delta == 0:
        return
    # The namespace row is already locked by this transaction's revision bump.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE tenants_namespace SET value_bytes = value_bytes + %s WHERE id = %s RETURNING value_bytes",
            [delta, namespace.pk],
        )
        (namespace_bytes,) = cursor.fetchone()
    if delta < 0:
        return
    _refuse_over(namespace_bytes, settings.NAMESPACE_VALUE_BYTES_MAX, "namespace", "NOREBOOT_NAMESPACE_MAX_BYTES")
    # Other namespaces of the tenant are not locked: concurrent writers there can
    # overshoot the tenant budget by at most one value each, which is the price
    # of not serialising every write of a tenant.
    tenant_bytes = Namespace.objects.filter(tenant_id=namespace.tenant_id).aggregate(total=Sum("value_bytes"))["total"]
    _refuse_over(tenant_bytes, settings.TENANT_VALUE_BYTES_MAX, "tenant", "NOREBOOT_TENANT_MAX_BYTES")


def _refuse_over(held: int, budget: int, scope: str, setting: str) -> None:
    if held > budget:
        raise InvalidInput(
            f"The {scope} would hold {held} bytes of values, over its budget of {budget} bytes.",
            fields={"value": [f"The {scope} byte budget ({setting}) is {budget} bytes of JSON values."]},
            limit=setting,
        )


def history_trim(*, namespace: Namespace, name: str, newest_version: int) -> None:
    """Keep the newest CONFIG_HISTORY_MAX versions of a config (0 keeps all).
    Audit events are never trimmed: they keep every before and after."""
    keep = settings.CONFIG_HISTORY_MAX
    if keep <= 0 or newest_version <= keep:
        return
    Configuration.objects.filter(
        namespace=namespace, name=name, version__lte=newest_version - keep, is_active=False
    ).delete()
