"""Reads of changesets, change requests and namespace comparisons, scoped to
what the caller may see: a changeset or request is visible only to a viewer of
every namespace it touches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from apps.changes.models import ChangeRequest, Changeset
from apps.configs.definitions import config_shown_value
from apps.configs.diffs import value_patch
from apps.configs.models import Configuration
from apps.configs.secrets import value_shown
from apps.configs.selectors import active_configs, config_latest
from apps.configs.values import values_identical
from apps.errors import NotFound
from apps.tenants.models import Namespace
from apps.tenants.roles import Role, visible_namespaces_filter
from apps.tenants.selectors import namespace_for


def namespace_by_path(principal, path: str, minimum: Role) -> Namespace:
    """The namespace at `tenant/environment/service` with at least that role
    (apps/tenants/selectors.namespace_for: invisible is 404, too low a role 403)."""
    segments = path.split("/")
    if len(segments) != 3:
        raise NotFound("Namespace not found.")
    tenant, environment, service = segments
    return namespace_for(principal, tenant=tenant, environment=environment, service=service, minimum=minimum)[0]


def _touching_only_visible(queryset: QuerySet, principal) -> QuerySet:
    visible = visible_namespaces_filter(principal)
    if visible is None:
        return queryset
    return queryset.exclude(namespaces__in=Namespace.objects.exclude(visible))


def changeset_for(principal, changeset_id: int) -> Changeset:
    changeset = _touching_only_visible(Changeset.objects.all(), principal).filter(pk=changeset_id).first()
    if changeset is None:
        raise NotFound("Changeset not found.")
    return changeset


def change_requests_visible_to(principal, *, namespace: str | None = None, state: str | None = None) -> QuerySet:
    requests = _touching_only_visible(ChangeRequest.objects.all(), principal).prefetch_related("reviews", "namespaces")
    if namespace:
        requests = requests.filter(namespaces__path=namespace)
    if state:
        requests = requests.filter(state=state)
    return requests.order_by("-id")


def change_request_for(principal, change_request_id: int) -> ChangeRequest:
    change_request = change_requests_visible_to(principal).filter(pk=change_request_id).first()
    if change_request is None:
        raise NotFound("Change request not found.")
    return change_request


def comparison_form(config: Configuration | None) -> Any:
    """What two values are compared and shown by in compare and review: the
    value itself, a secret by its masked form, whose fingerprint is the same
    wherever the value is."""
    if config is None or not config.is_active:
        return None
    return config_shown_value(config)


def proposed_changes_shown(change_request: ChangeRequest) -> list[dict]:
    """The proposed changes as anyone may see them: a secret masked."""
    return [{**change, "value": value_shown(change["value"], change.get("secret", False))}
            for change in change_request.changes]


def change_request_diff(change_request: ChangeRequest) -> list[dict]:
    """Each proposed change against today's value: `changed_since` when the
    config moved on from the version the request was based on."""
    namespaces = {ns.path: ns for ns in change_request.namespaces.all()}
    diff = []
    for change in proposed_changes_shown(change_request):
        latest = config_latest(namespaces[change["namespace"]], change["name"])
        current = comparison_form(latest)
        proposed = change["value"]
        diff.append({
            **change,
            "current_value": current,
            "current_version": latest.version if latest else 0,
            "changed_since": (latest.version if latest else 0) != change["base_version"],
            "patch": value_patch(current, proposed),
        })
    return diff


@dataclass(frozen=True)
class ComparedName:
    name: str
    status: str  # only_in_from | only_in_to | different | same
    from_value: Any
    to_value: Any
    from_version: int | None
    to_version: int | None
    patch: list[dict]


def namespaces_compare(source: Namespace, target: Namespace) -> list[ComparedName]:
    """Every live name of either namespace, by name."""
    left = {config.name: config for config in active_configs(source)}
    right = {config.name: config for config in active_configs(target)}
    compared = []
    for name in sorted(left.keys() | right.keys()):
        before, after = left.get(name), right.get(name)
        from_value, to_value = comparison_form(before), comparison_form(after)
        if after is None:
            status = "only_in_from"
        elif before is None:
            status = "only_in_to"
        else:
            status = "same" if values_identical(from_value, to_value) else "different"
        compared.append(ComparedName(
            name=name, status=status, from_value=from_value, to_value=to_value,
            from_version=before.version if before else None, to_version=after.version if after else None,
            # What promoting would do to the target.
            patch=value_patch(to_value, from_value) if status == "different" else [],
        ))
    return compared
