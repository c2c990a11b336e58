"""Rollout writes (DESIGN, "Rollouts"). Each is one transaction holding the
namespace lock: a stage change is a new revision of the namespace with an
`op: "rollout"` event, audited like any change; the end at 100 % is a normal
new version of the config (config_set_locked)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.change_context import ChangeContext
from apps.configs.definitions import value_for_storage
from apps.configs.events import ConfigEvent
from apps.configs.lineage import database_epoch
from apps.configs.outbox import outbox_enqueue
from apps.configs.selectors import config_current
from apps.configs.services import LockedNamespace, config_set_locked, namespace_lock_for_write
from apps.configs.values import value_checked
from apps.errors import Conflict, InvalidInput, NotFound
from apps.fleet.guard import rollout_close
from apps.fleet.models import Rollout
from apps.tenants.models import Namespace


def _publish(locked: LockedNamespace, rollout: Rollout, *, spec: dict | None, context: ChangeContext) -> int:
    """The revision that tells clients the rollout's new stage (or, with no
    spec, that it was withdrawn); the stable value stays as it is."""
    stable = config_current(locked.namespace, rollout.name)
    outbox_enqueue(
        namespace=locked.namespace,
        event=ConfigEvent.for_change(
            namespace=locked.namespace, name=rollout.name, value=stable.value, version=stable.version,
            revision=locked.revision, epoch=database_epoch(), op="rollout", changed_at=timezone.now(),
            actor=context.actor_username, request_id=context.request_id, rollout=spec,
        ),
    )
    return locked.revision


def _complete(locked: LockedNamespace, rollout: Rollout, *, reason: str, context: ChangeContext) -> None:
    rollout_close(rollout, state=Rollout.State.PROMOTED, reason=reason, context=context)
    config_set_locked(
        locked, name=rollout.name, value=rollout.value, context=context, comment=f"Rollout {rollout.id}: {reason}"
    )


def _enter_stage(locked: LockedNamespace, rollout: Rollout, index: int, *, context: ChangeContext) -> None:
    stage = rollout.stages[index]
    rollout.stage = index
    if stage["percent"] == 100 and not stage.get("labels"):
        # Everyone reads the candidate: it is the stable value from now on.
        _complete(locked, rollout, reason="Every stage passed.", context=context)
        return
    rollout.stage_revision = _publish(locked, rollout, spec=rollout.client_spec(), context=context)
    rollout.stage_started_at = timezone.now()
    rollout.save(update_fields=["stage", "stage_revision", "stage_started_at"])
    audit_record(
        context=context, action=AuditEvent.Action.ROLLOUT_STAGE, namespace=locked.namespace, target=rollout.name,
        after={"rollout": str(rollout.id), "stage": index, **stage, "revision": rollout.stage_revision},
    )


@transaction.atomic
def rollout_start(
    *, namespace: Namespace, name: str, value: Any, stages: list[dict], max_rejected: int, context: ChangeContext,
    comment: str = "",
) -> Rollout:
    value = value_checked(value)
    locked = namespace_lock_for_write(namespace)
    stable = config_current(namespace, name)  # 404 for a config that does not exist
    if stable.is_secret:
        raise InvalidInput("A secret cannot be rolled out: its values never travel on Kafka.")
    # The candidate becomes the stable value at 100 %: it must pass the schema check a
    # write of it would (400 schema_violation), before any instance is served it.
    value_for_storage(namespace=namespace, name=name, value=value)
    if Rollout.objects.filter(namespace=namespace, name=name, state=Rollout.State.RUNNING).exists():
        raise Conflict(f"{name!r} has a running rollout already; promote or abort it first.")
    rollout = Rollout.objects.create(
        namespace=namespace, name=name, value=value, stages=stages, max_rejected=max_rejected, comment=comment,
        created_by=context.actor_user, created_by_username=context.actor_username, first_revision=locked.revision,
    )
    audit_record(
        context=context, action=AuditEvent.Action.ROLLOUT_START, namespace=namespace, target=name, before=stable.value,
        after={"rollout": str(rollout.id), "value": value, "stages": stages, "max_rejected": max_rejected},
    )
    _enter_stage(locked, rollout, 0, context=context)
    return rollout


def _locked_running(
    rollout_id: str, namespace: Namespace, *, withdrawing: bool = False
) -> tuple[LockedNamespace, Rollout]:
    """Lock the namespace, then read the rollout under that lock. A namespace
    protected while the rollout ran refuses its advance and promotion (they
    need a change request), never its withdrawal: that returns every instance
    to the stable value, which is what protection keeps."""
    locked = namespace_lock_for_write(namespace, through_change_request=withdrawing)
    rollout = Rollout.objects.filter(pk=rollout_id, namespace=namespace).select_related("namespace").first()
    if rollout is None:
        raise NotFound(f"No rollout {rollout_id} in {namespace.path}.")
    if rollout.state != Rollout.State.RUNNING:
        raise Conflict(f"The rollout is {rollout.state}, not running.", state=rollout.state)
    return locked, rollout


@transaction.atomic
def rollout_promote(*, namespace: Namespace, rollout_id: str, context: ChangeContext) -> Rollout:
    """Jump to 100 %: the candidate becomes the stable value now."""
    locked, rollout = _locked_running(rollout_id, namespace)
    _complete(locked, rollout, reason=f"Promoted by {context.actor_username}.", context=context)
    return rollout


@transaction.atomic
def rollout_withdraw(
    *, namespace: Namespace, rollout_id: str, state: Rollout.State, reason: str, context: ChangeContext
) -> Rollout:
    """Abort (a person) or roll back (the driver): the candidate is withdrawn
    as a new revision and every client reads the stable value again."""
    locked, rollout = _locked_running(rollout_id, namespace, withdrawing=True)
    rollout_close(rollout, state=state, reason=reason, context=context)
    _publish(locked, rollout, spec=None, context=context)
    return rollout


@transaction.atomic
def rollout_advance(*, namespace: Namespace, rollout_id: str, from_stage: int, context: ChangeContext) -> None:
    """The next stage, unless another driver moved the rollout meanwhile."""
    locked, rollout = _locked_running(rollout_id, namespace)
    if rollout.stage != from_stage:
        # Raised, not returned: the transaction (and the revision it took) rolls back.
        raise Conflict("Another driver moved the rollout meanwhile.")
    if from_stage + 1 == len(rollout.stages):
        _complete(locked, rollout, reason="Every stage passed.", context=context)
    else:
        _enter_stage(locked, rollout, from_stage + 1, context=context)
