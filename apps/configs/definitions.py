"""What a config name is apart from its values (ConfigDefinition): its secrecy
and its JSON Schema. The write funnel (services._write_version) turns every
new value into its stored form here, so the schema and the encryption hold on
every write path; the schema's own writes and a secret's reveal live here too.

Schema writes take the namespace row lock, as value writes do, so a value is
never checked against a schema that is being replaced. They do not change the
namespace revision: the snapshot names, per value, the schema version that
value was checked against, and that does not change when the schema does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.change_context import ChangeContext
from apps.configs.models import ConfigDefinition, ConfigSchemaVersion, Configuration
from apps.configs.schemas import schema_check, schema_enforce, schema_violations
from apps.configs.secrets import secret_decrypt, secret_encrypt, secret_proposed_mask, value_shown
from apps.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from apps.tenants.models import Namespace


@dataclass(frozen=True)
class StoredValue:
    value: Any  # the plain value, or a secret's envelope
    is_secret: bool
    schema_version: int | None


def definition_get(namespace: Namespace, name: str) -> ConfigDefinition | None:
    return ConfigDefinition.objects.filter(namespace=namespace, name=name).first()


def definition_set_secret(*, namespace: Namespace, name: str, secret: bool, live: bool) -> ConfigDefinition:
    """Record whether a name holds a secret, as its creating write says. A live
    plain config stays plain (its history is in the clear), and a name that held
    a secret stays secret, deleted or not: a rollback to one of its versions
    must never write the secret into a plain row."""
    definition, _ = ConfigDefinition.objects.get_or_create(namespace=namespace, name=name)
    if definition.secret == secret:
        return definition
    if live or definition.secret:
        raise Conflict(
            f"{name} {'holds' if definition.secret else 'does not hold'} a secret; that is decided when it is "
            "created, and a secret stays one.",
            fields={"secret": ["Set only when the config is created; a secret stays one."]},
        )
    definition.secret = secret
    definition.save(update_fields=["secret"])
    return definition


def value_for_storage(*, namespace: Namespace, name: str, value: Any) -> StoredValue:
    """A new value in the form it is stored in, after the config's schema accepted
    it (SchemaViolation otherwise): the value itself, or a secret's envelope."""
    return stored_value(definition_get(namespace, name), namespace=namespace, name=name, value=value)


def stored_value(definition: ConfigDefinition | None, *, namespace: Namespace, name: str, value: Any) -> StoredValue:
    """value_for_storage with the definition already read (the write funnel reads it with the latest version)."""
    if definition is None:
        return StoredValue(value, False, None)
    schema_enforce(definition.schema, value, secret=definition.secret)
    schema_version = definition.schema_version if definition.schema is not None else None
    if definition.secret:
        return StoredValue(secret_encrypt(value, namespace_id=namespace.pk, name=name), True, schema_version)
    return StoredValue(value, False, schema_version)


def _definitions(namespace: Namespace, names) -> dict[str, ConfigDefinition]:
    return {
        definition.name: definition
        for definition in ConfigDefinition.objects.filter(namespace=namespace, name__in=list(names))
    }


def values_shown(namespace: Namespace, values: dict[str, Any]) -> dict[str, Any]:
    """New values as they may be shown (an import's plan): a secret name's masked."""
    definitions = _definitions(namespace, values)
    return {
        name: secret_proposed_mask() if name in definitions and definitions[name].secret else value
        for name, value in values.items()
    }


def import_schema_violations(namespace: Namespace, values: dict[str, Any]) -> dict[str, list[str]]:
    """Each value's schema violations, by `configs.<name>` (an import's field names)."""
    definitions = _definitions(namespace, values)
    violations = {}
    for name, value in values.items():
        definition = definitions.get(name)
        if definition is not None and definition.schema is not None:
            if found := schema_violations(definition.schema, value, secret=definition.secret):
                violations[f"configs.{name}"] = found
    return violations


def config_schema_violations(namespace: Namespace, name: str, value: Any) -> list[str]:
    """What the write funnel would refuse of this value, for a form to show before a save."""
    definition = definition_get(namespace, name)
    if definition is None or definition.schema is None:
        return []
    return schema_violations(definition.schema, value, secret=definition.secret)


def config_plain_value(config: Configuration) -> Any:
    """A stored version's value in the clear (for the server's own use: rollback, import, reveal)."""
    if not config.is_secret or config.value is None:
        return config.value
    return secret_decrypt(config.value, namespace_id=config.namespace_id, name=config.name)


def config_shown_value(config: Configuration | None) -> Any:
    """A version's value as anyone may see it (a secret masked); None for no version."""
    return None if config is None else value_shown(config.value, config.is_secret)


def config_reveal(*, config: Configuration, context: ChangeContext) -> Any:
    """A secret's plain value, recorded in the audit log (who, which version; never the value)."""
    audit_record(
        context=context, action=AuditEvent.Action.CONFIG_REVEAL, namespace=config.namespace,
        target=config.name, after={"version": config.version},
    )
    return config_plain_value(config)


def _lock_namespace(namespace: Namespace) -> None:
    Namespace.objects.select_for_update().filter(pk=namespace.pk).values_list("pk").get()


def _current_value(namespace: Namespace, name: str) -> Configuration | None:
    return Configuration.objects.filter(namespace=namespace, name=name, is_active=True).first()


def _record_schema(definition: ConfigDefinition, schema: dict | None, context: ChangeContext) -> None:
    definition.schema = schema
    definition.schema_version += 1
    definition.save(update_fields=["schema", "schema_version"])
    ConfigSchemaVersion.objects.create(
        definition=definition, version=definition.schema_version, schema=schema, created_by=context.actor_user
    )


def _check_may_change_schema(definition: ConfigDefinition | None, may_reveal: bool) -> None:
    # Whether a secret passes a schema one chooses tells something of its value
    # (a pattern at a time, all of it): so only those who may reveal it anyway
    # change a secret's schema. Checked under the namespace lock, where a name
    # cannot turn secret meanwhile.
    if definition is not None and definition.secret and not may_reveal:
        raise PermissionDenied(
            f"{definition.name} holds a secret: only those who may reveal it (namespace admins, the "
            "namespace's own tokens) change its schema."
        )


@transaction.atomic
def config_schema_set(
    *, namespace: Namespace, name: str, schema: Any, context: ChangeContext, may_reveal: bool = False
) -> ConfigDefinition:
    """Give a config a new JSON Schema (a new schema version, audited). The
    current value, if any, must pass it: otherwise 400 naming the failures.
    A secret's schema needs `may_reveal` (the caller may reveal its value): 403 otherwise."""
    schema_check(schema)
    _lock_namespace(namespace)
    definition, _ = ConfigDefinition.objects.get_or_create(namespace=namespace, name=name)
    _check_may_change_schema(definition, may_reveal)
    current = _current_value(namespace, name)
    if current is not None:
        violations = schema_violations(schema, config_plain_value(current), secret=current.is_secret)
        if violations:
            raise InvalidInput(
                f"The current value of {name} does not match the new schema; the schema was not set.",
                fields={"schema": [f"current value {violation}" for violation in violations]},
            )
    before = definition.schema
    _record_schema(definition, schema, context)
    audit_record(
        context=context, action=AuditEvent.Action.CONFIG_SCHEMA_SET, namespace=namespace, target=name,
        before=before, after={"schema": schema, "schema_version": definition.schema_version},
    )
    return definition


@transaction.atomic
def config_schema_delete(
    *, namespace: Namespace, name: str, context: ChangeContext, may_reveal: bool = False
) -> ConfigDefinition:
    _lock_namespace(namespace)
    definition = definition_get(namespace, name)
    _check_may_change_schema(definition, may_reveal)
    if definition is None or definition.schema is None:
        raise NotFound(f"{name!r} has no schema in {namespace.path}.")
    before = definition.schema
    _record_schema(definition, None, context)
    audit_record(
        context=context, action=AuditEvent.Action.CONFIG_SCHEMA_DELETE, namespace=namespace, target=name,
        before=before, after={"schema_version": definition.schema_version},
    )
    return definition


@transaction.atomic
def config_export_with_secrets(*, namespace: Namespace, context: ChangeContext) -> tuple[int, dict[str, Any]]:
    """The namespace's values with its secrets in the clear (an admin's export),
    recorded in the audit log with the secrets' names."""
    # Under the lock no write interleaves, so the values are those of the revision.
    (revision,) = Namespace.objects.select_for_update().filter(pk=namespace.pk).values_list("revision").get()
    configs = Configuration.objects.filter(namespace=namespace, is_active=True).order_by("name")
    exported = {config.name: config_plain_value(config) for config in configs}
    audit_record(
        context=context, action=AuditEvent.Action.CONFIG_EXPORT_SECRETS, namespace=namespace,
        after={"secrets": sorted(config.name for config in configs if config.is_secret), "revision": revision},
    )
    return revision, exported
