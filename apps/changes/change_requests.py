"""Change requests: changes proposed, reviewed by editors other than the
author, and applied as one changeset once approved. Each proposed change keeps
the version it was based on, so applying it detects a change made meanwhile."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import BooleanField
from django.db.models.expressions import RawSQL

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.change_context import ChangeContext
from apps.changes.models import ChangeRequest, Changeset, Review
from apps.changes.services import (
    ChangeInput,
    changes_write,
    changeset_apply,
    naming_change,
    retried,
    touched_namespaces,
)
from apps.configs.definitions import definition_get
from apps.configs.schemas import schema_enforce
from apps.configs.secrets import newest_key_id, secret_decrypt, secret_encrypt, secret_reencrypt
from apps.configs.selectors import config_latest
from apps.configs.values import config_value_check, value_as_stored
from apps.errors import Conflict, DomainError, NotFound, PermissionDenied, PreconditionFailed
from apps.tenants.models import Namespace
from apps.tenants.roles import Role, namespace_role


class AuthorCannotReview(PermissionDenied):
    code = "author_cannot_review"


class WrongState(Conflict):
    """The step does not fit the request's state (approving an applied one)."""

    code = "wrong_state"


class AlreadyReviewed(Conflict):
    code = "already_reviewed"


class NotApproved(Conflict):
    code = "not_approved"


def approvals_needed(change_request: ChangeRequest) -> int:
    """The most any touched namespace asks for, and at least one."""
    return max([1, *(namespace.required_approvals for namespace in change_request.namespaces.all())])


def _audit_each(context: ChangeContext, change_request: ChangeRequest, action: AuditEvent.Action, **after) -> None:
    for namespace in change_request.namespaces.all():
        audit_record(context=context, action=action, namespace=namespace,
                     target=f"change request {change_request.pk}", after={"state": change_request.state, **after})


@transaction.atomic
def change_request_open(*, changes: list[ChangeInput], context: ChangeContext, comment: str = "") -> ChangeRequest:
    """Propose changes (editor on every touched namespace). Each change keeps
    the version it is based on, so applying it later detects a change made meanwhile."""
    namespaces = touched_namespaces(context.actor, changes, Role.EDITOR)
    proposed = []
    for index, change in enumerate(changes):
        namespace = namespaces[change.namespace]
        latest, definition = config_latest(namespace, change.name), definition_get(namespace, change.name)
        version = latest.version if latest else 0
        secret = change.op == "set" and bool(change.secret or (definition is not None and definition.secret))
        try:
            if change.op == "delete" and not (latest and latest.is_active):
                raise NotFound(f"No config named {change.name!r} in {change.namespace}.")
            if change.op == "set":
                config_value_check(change.value)
                # Told now rather than at apply, where the write funnel checks it again.
                if definition is not None:
                    schema_enforce(definition.schema, change.value, secret=definition.secret)
            if isinstance(change.expected_version, int) and change.expected_version != version:
                raise PreconditionFailed(f"The config is at version {version}, not {change.expected_version}.",
                                         current_version=version)
        except DomainError as exc:
            raise naming_change(exc, index, change) from None
        proposed.append({
            "namespace": change.namespace, "name": change.name, "op": change.op, "base_version": version,
            "value": _proposed_form(namespace, change, secret) if change.op == "set" else None,
            "secret": secret,
        })
    change_request = ChangeRequest.objects.create(
        author=context.actor_user, author_username=context.actor_username, comment=comment, changes=proposed,
    )
    change_request.namespaces.set(namespaces.values())
    _audit_each(context, change_request, AuditEvent.Action.CHANGE_REQUEST_OPEN, comment=comment)
    return change_request


def _proposed_form(namespace: Namespace, change: ChangeInput, secret: bool) -> Any:
    """A proposed value as the request keeps it: a secret encrypted like a
    stored version, so its plain text is in no other row."""
    if not secret:
        return change.value
    return secret_encrypt(value_as_stored(change.value), namespace_id=namespace.pk, name=change.name)


def _applied_form(namespace: Namespace, proposed: dict) -> Any:
    if not proposed.get("secret"):
        return proposed["value"]
    return secret_decrypt(proposed["value"], namespace_id=namespace.pk, name=proposed["name"])


def change_requests_reencrypt(*, batch_size: int) -> int:
    """Re-encrypt the proposed secrets of up to batch_size change requests that
    hold one under an older key (part of rotate_secret_keys, whatever their
    state: a request's page still shows them masked); how many were."""
    newest = newest_key_id()
    older = RawSQL(
        "jsonb_path_exists(changes, '$[*] ? (@.secret == true && @.value.key != $key)', jsonb_build_object('key', %s))",
        [newest], output_field=BooleanField(),
    )
    with transaction.atomic():
        # SKIP LOCKED: a concurrent review or apply holds its request; a later batch takes it.
        requests = list(
            ChangeRequest.objects.select_for_update(skip_locked=True).filter(older).order_by("pk")
            .only("pk", "changes").prefetch_related("namespaces")[:batch_size]
        )
        for change_request in requests:
            namespace_ids = {namespace.path: namespace.pk for namespace in change_request.namespaces.all()}
            changes = [
                {**item, "value": secret_reencrypt(item["value"], namespace_id=namespace_ids[item["namespace"]],
                                                   name=item["name"])}
                if item.get("secret") and item["value"]["key"] != newest else item
                for item in change_request.changes
            ]
            # Not save(): the request itself did not change, so neither does its updated_at.
            ChangeRequest.objects.filter(pk=change_request.pk).update(changes=changes)
    return len(requests)


def _locked_request(change_request_id: int, principal, minimum: Role) -> tuple[ChangeRequest, list[Namespace]]:
    """The request, row-locked against a concurrent step, with the caller's role
    checked on every namespace it touches (not visible: 404)."""
    change_request = ChangeRequest.objects.select_for_update().filter(pk=change_request_id).first()
    namespaces = list(change_request.namespaces.select_related("tenant")) if change_request else []
    roles = [namespace_role(principal, namespace) for namespace in namespaces]
    if change_request is None or any(role is None for role in roles):
        raise NotFound("Change request not found.")
    if any(role < minimum for role in roles):
        raise PermissionDenied(f"This needs the {minimum.label} role on every namespace the request touches.")
    return change_request, namespaces


def _require_state(change_request: ChangeRequest, *states: str) -> None:
    if change_request.state not in states:
        raise WrongState(f"The change request is {change_request.state}.", state=change_request.state)


@transaction.atomic
def change_request_review(
    *, change_request_id: int, verdict: str, context: ChangeContext, comment: str = ""
) -> ChangeRequest:
    """An approval or a rejection by an editor of every touched namespace who
    is not the author. Enough approvals make the request approved; one
    rejection rejects it."""
    change_request, _ = _locked_request(change_request_id, context.actor, Role.EDITOR)
    _require_state(change_request, ChangeRequest.State.OPEN, ChangeRequest.State.APPROVED)
    if change_request.author_id is not None and change_request.author_id == getattr(context.actor, "pk", None):
        raise AuthorCannotReview("The author of a change request cannot review it.")
    if change_request.reviews.filter(reviewer=context.actor_user).exists():
        raise AlreadyReviewed("You have already reviewed this change request.")
    Review.objects.create(change_request=change_request, reviewer=context.actor_user,
                          reviewer_username=context.actor_username, verdict=verdict, comment=comment)
    if verdict == Review.Verdict.REJECT:
        change_request.state = ChangeRequest.State.REJECTED
        action = AuditEvent.Action.CHANGE_REQUEST_REJECT
    else:
        approvals = change_request.reviews.filter(verdict=Review.Verdict.APPROVE).count()
        if approvals >= approvals_needed(change_request):
            change_request.state = ChangeRequest.State.APPROVED
        action = AuditEvent.Action.CHANGE_REQUEST_APPROVE
    change_request.save(update_fields=["state", "updated_at"])
    _audit_each(context, change_request, action, comment=comment)
    return change_request


@retried
@transaction.atomic
def change_request_apply(*, change_request_id: int, context: ChangeContext) -> ChangeRequest:
    """Apply an approved request as one changeset, by its author or an admin of
    every touched namespace; 409 `conflict` if a touched config changed since
    the request was opened."""
    change_request, namespaces = _locked_request(change_request_id, context.actor, Role.EDITOR)
    is_author = change_request.author_id is not None and change_request.author_id == getattr(context.actor, "pk", None)
    if not is_author and any(namespace_role(context.actor, ns) < Role.ADMIN for ns in namespaces):
        raise PermissionDenied("Only the author or an admin of every touched namespace applies a change request.")
    _require_state(change_request, ChangeRequest.State.APPROVED)
    # Protection may have been raised since the approvals were given.
    if change_request.reviews.filter(verdict=Review.Verdict.APPROVE).count() < approvals_needed(change_request):
        raise NotApproved("The change request needs more approvals now.")
    by_path = {ns.path: ns for ns in namespaces}
    changes = [
        ChangeInput(namespace=item["namespace"], name=item["name"], op=item["op"],
                    value=_applied_form(by_path[item["namespace"]], item) if item["op"] == "set" else None,
                    expected_version=item["base_version"], secret=True if item.get("secret") else None)
        for item in change_request.changes
    ]
    try:
        changeset = changes_write(
            changes=changes, namespaces=by_path, context=context,
            comment=change_request.comment or f"change request {change_request.pk}", through_change_request=True,
        )
    except PreconditionFailed as exc:
        raise Conflict(f"Changed since the request was opened: {exc.message}", fields=exc.fields) from None
    change_request.state, change_request.changeset = ChangeRequest.State.APPLIED, changeset
    change_request.save(update_fields=["state", "changeset", "updated_at"])
    _audit_each(context, change_request, AuditEvent.Action.CHANGE_REQUEST_APPLY, changeset=changeset.pk)
    return change_request


@transaction.atomic
def change_request_withdraw(*, change_request_id: int, context: ChangeContext) -> ChangeRequest:
    change_request, _ = _locked_request(change_request_id, context.actor, Role.VIEWER)
    if change_request.author_id is None or change_request.author_id != getattr(context.actor, "pk", None):
        raise PermissionDenied("Only the author withdraws a change request.")
    _require_state(change_request, ChangeRequest.State.OPEN, ChangeRequest.State.APPROVED)
    change_request.state = ChangeRequest.State.WITHDRAWN
    change_request.save(update_fields=["state", "updated_at"])
    _audit_each(context, change_request, AuditEvent.Action.CHANGE_REQUEST_WITHDRAW)
    return change_request


def changes_submit(
    *, changes: list[ChangeInput], context: ChangeContext, comment: str = ""
) -> Changeset | ChangeRequest:
    """Apply the changes as a changeset, or open a change request for them when
    a namespace they touch is protected (which a changeset would refuse)."""
    paths = {change.namespace for change in changes}
    if Namespace.objects.filter(path__in=paths, required_approvals__gt=0).exists():
        return change_request_open(changes=changes, context=context, comment=comment)
    return changeset_apply(changes=changes, context=context, comment=comment)
