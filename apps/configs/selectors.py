"""Reads of configurations within a namespace the caller was already checked on."""

import json

from django.db import connection
from django.db.models import QuerySet

from apps.configs.models import Configuration
from apps.errors import NotFound
from apps.tenants.models import Namespace


def active_configs(namespace: Namespace) -> QuerySet[Configuration]:
    return Configuration.objects.filter(namespace=namespace, is_active=True).order_by("name")


def namespace_snapshot(namespace: Namespace) -> tuple[int, list[dict]]:
    """The namespace revision and its active configs, read by one statement so
    that the values are exactly those of that revision."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT n.revision, c.name, c.value, c.version, c.updated_at
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
        {"name": name, "value": json.loads(value), "version": version, "updated_at": updated_at}
        for _revision, name, value, version, updated_at in rows
        if name is not None
    ]
    return revision, configs


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
