"""Reads of configurations within a namespace the caller was already checked on."""

import hashlib
import json

from django.db import connection
from django.db.models import QuerySet

from apps.configs.models import ConfigDefinition, Configuration
from apps.configs.secrets import value_shown
from apps.errors import Conflict, NotFound
from apps.tenants.models import Namespace


def active_configs(namespace: Namespace) -> QuerySet[Configuration]:
    return Configuration.objects.filter(namespace=namespace, is_active=True).order_by("name")


def namespace_snapshot(namespace: Namespace) -> tuple[int, list[dict]]:
    """The namespace revision and its active configs, read by one statement so
    that the values are exactly those of that revision; secrets masked."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT n.revision, c.name, c.value, c.version, c.updated_at, c.is_secret, c.schema_version
            FROM tenants_namespace n
            LEFT JOIN configs_configuration c ON c.namespace_id = n.id AND c.is_active
            WHERE n.id = %s
            ORDER BY c.name
            """,
            [namespace.pk],
        )
        rows = cursor.fetchall()
    # Raw SQL returns jsonb as text.
    revision = rows[0][0]
    configs = [
        {
            "name": name, "value": value_shown(json.loads(value), is_secret), "version": version,
            "updated_at": updated_at, "secret": is_secret, "schema_version": schema_version,
        }
        for _revision, name, value, version, updated_at, is_secret, schema_version in rows
        if name is not None
    ]
    return revision, configs


def values_digest(configs: list[dict]) -> str:
    """SHA-256 of the namespace's values as canonical JSON (sorted keys, no
    spaces, UTF-8): a client holding the same revision compares it with its own
    to find values that did not come from the database. Secrets count in their
    masked form, which a client holding their plain values knows too."""
    values = {config["name"]: config["value"] for config in configs}
    canonical = json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def config_current(namespace: Namespace, name: str) -> Configuration:
    config = active_configs(namespace).filter(name=name).select_related("namespace", "created_by").first()
    if config is None:
        raise NotFound(f"No config named {name!r} in {namespace.path}.")
    return config


def config_versions(namespace: Namespace, name: str) -> QuerySet[Configuration]:
    return (
        Configuration.objects.filter(namespace=namespace, name=name)
        .select_related("namespace", "created_by")
        .order_by("-version")
    )


def config_version(namespace: Namespace, name: str, version: int) -> Configuration:
    config = config_versions(namespace, name).filter(version=version).first()
    if config is None:
        raise NotFound(f"{name!r} has no version {version} in {namespace.path}.")
    return config


def config_latest(namespace: Namespace, name: str) -> Configuration | None:
    """The newest version of a name, a deletion included; None for a name never used."""
    return config_versions(namespace, name).first()


def config_version_to_create(namespace: Namespace, name: str) -> int:
    """The version a write creating `name` must expect: a name deleted earlier goes
    on from its tombstone's version, a new one from 0. Given to config_set as
    expected_version, it refuses (412) a name someone created meanwhile, under
    the namespace lock. A name that is live already cannot be created."""
    latest = config_latest(namespace, name)
    if latest is not None and latest.is_active:
        raise Conflict(f"{name} exists already.", fields={"name": [f"{name} exists already; edit it instead."]})
    return latest.version if latest else 0


def config_schema(namespace: Namespace, name: str) -> ConfigDefinition:
    definition = ConfigDefinition.objects.filter(namespace=namespace, name=name, schema__isnull=False).first()
    if definition is None:
        raise NotFound(f"{name!r} has no schema in {namespace.path}.")
    return definition
