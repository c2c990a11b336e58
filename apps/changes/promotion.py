"""Promotion: the values of one namespace copied to another, as a changeset,
or as a change request when the target is protected."""

from __future__ import annotations

from apps.change_context import ChangeContext
from apps.changes.change_requests import changes_submit
from apps.changes.models import ChangeRequest, Changeset
from apps.changes.selectors import namespaces_compare
from apps.changes.services import ChangeInput
from apps.configs.definitions import config_plain_value
from apps.configs.selectors import active_configs, config_latest
from apps.errors import InvalidInput, PermissionDenied
from apps.tenants.models import Namespace
from apps.tenants.roles import Role, ServicePrincipal, namespace_role


def promote(
    *, source: Namespace, target: Namespace, names: list[str] | None, context: ChangeContext, comment: str = ""
) -> Changeset | ChangeRequest:
    """Copy the source's values that the target lacks or holds differently
    (all, or the names given) to the target: a changeset, or a change request
    when the target is protected. Names only the target has are left alone.
    Each change expects the target's version seen here, so a value changed
    meanwhile is not overwritten unseen. Copying a secret needs what revealing
    it at the source needs (403 naming the secrets otherwise)."""
    compared = {entry.name: entry for entry in namespaces_compare(source, target)}
    unknown = [name for name in names or [] if name not in compared or compared[name].status == "only_in_to"]
    if unknown:
        raise InvalidInput(f"{source.path} has no config named {', '.join(map(repr, unknown))}.",
                           fields={"names": [f"Not in {source.path}: {name}" for name in unknown]})
    chosen = [entry for name, entry in compared.items() if (names is None or name in names)
              and entry.status in ("only_in_from", "different")]
    if not chosen:
        raise InvalidInput("The chosen configs are the same in both namespaces: nothing to promote.",
                           fields={"names": ["Nothing differs."]})
    sources = {config.name: config for config in active_configs(source).filter(name__in=[e.name for e in chosen])}
    secret_names = [entry.name for entry in chosen if sources[entry.name].is_secret]
    if secret_names and not _may_copy_secrets(context.actor, source):
        # A copy would let the caller reveal it at the target, where they may be an admin.
        raise PermissionDenied(
            f"Promoting a secret needs the admin role on {source.path}: {', '.join(secret_names)}.",
            fields={"names": [f"A secret only an admin of {source.path} may copy: {name}" for name in secret_names]},
            secrets=secret_names,
        )
    changes = []
    for entry in chosen:
        latest, config = config_latest(target, entry.name), sources[entry.name]
        changes.append(ChangeInput(
            namespace=target.path, name=entry.name, op="set", value=config_plain_value(config),
            expected_version=latest.version if latest else 0, secret=True if config.is_secret else None,
        ))
    comment = comment or f"promoted from {source.path}"
    return changes_submit(changes=changes, context=context, comment=comment)


def _may_copy_secrets(principal, source: Namespace) -> bool:
    """Copying a secret is reading it: those who may reveal it at the source,
    its admins and its own service tokens."""
    if isinstance(principal, ServicePrincipal):
        return principal.namespace_id == source.pk
    role = namespace_role(principal, source)
    return role is not None and role >= Role.ADMIN
