"""A namespace's import: many configs set at once, all or nothing, each
changed value a normal versioned write (apps/configs/services.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from apps.change_context import ChangeContext
from apps.configs.definitions import config_shown_value, import_schema_violations, values_shown
from apps.configs.models import Configuration, config_name_errors
from apps.configs.services import config_set
from apps.configs.values import config_value_check, value_as_stored, values_identical
from apps.errors import InvalidInput, SchemaViolation
from apps.tenants.models import Namespace


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
    current = {config.name: config for config in Configuration.objects.filter(namespace=namespace, is_active=True)}
    # Compared in the form it would be stored in, so that 1e20 over a stored
    # 100000000000000000000 is unchanged, but true over a stored 1 is not.
    values = {name: value_as_stored(value) for name, value in configs.items()}
    shown_values = values_shown(namespace, values)
    changes = []
    for name in sorted(configs):
        value, shown = values[name], shown_values[name]
        if name not in current:
            changes.append(ImportChange(name, "create", None, shown))
        elif current[name].is_secret or not values_identical(current[name].value, value):
            # A secret is never "unchanged": that answer would say whether a guess equals it.
            changes.append(ImportChange(name, "update", config_shown_value(current[name]), shown))
        else:
            changes.append(ImportChange(name, "unchanged", shown, shown))
    # Every value meets its schema before any is written (all or nothing), and
    # a dry run reports what a real import would meet.
    changed = {change.name: values[change.name] for change in changes if change.op != "unchanged"}
    violations = import_schema_violations(namespace, changed)
    if violations:
        raise SchemaViolation(f"{len(violations)} entries do not match their schema; nothing was imported.",
                              fields=violations)
    if not dry_run:
        for change in changes:
            if change.op != "unchanged":
                written = config_set(namespace=namespace, name=change.name, value=values[change.name],
                                     context=context, comment=comment or "import")
                revision = written.revision
    return ImportResult(revision=revision, changes=changes)
