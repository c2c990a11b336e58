"""The rollout check every versioned write passes (apps/configs/services.py,
_write_version), and how a rollout ends. Kept apart from apps/fleet/services.py,
which writes through the configs services, so that both may import this."""

from __future__ import annotations

from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.change_context import ChangeContext
from apps.errors import RolloutRunning
from apps.fleet.models import Rollout
from apps.tenants.models import Namespace

END_ACTIONS = {
    Rollout.State.PROMOTED: AuditEvent.Action.ROLLOUT_PROMOTE,
    Rollout.State.ABORTED: AuditEvent.Action.ROLLOUT_ABORT,
    Rollout.State.ROLLED_BACK: AuditEvent.Action.ROLLOUT_ROLLBACK,
}


def rollout_guard(*, namespace: Namespace, name: str, context: ChangeContext) -> None:
    """A write to a config during its rollout is refused (409) unless the caller
    aborts the rollout with it: the write's own event then tells clients the
    rollout is over."""
    rollout = Rollout.objects.select_for_update().filter(
        namespace=namespace, name=name, state=Rollout.State.RUNNING
    ).first()
    if rollout is None:
        return
    if not context.abort_rollout:
        raise RolloutRunning(
            f"{name!r} has a running rollout; abort it, or write with ?abort_rollout=true.", rollout=str(rollout.id)
        )
    rollout_close(rollout, state=Rollout.State.ABORTED, reason="Aborted by a direct write.", context=context)


def rollout_close(rollout: Rollout, *, state: Rollout.State, reason: str, context: ChangeContext) -> None:
    """Record the end of a running rollout and audit it, in the caller's transaction."""
    rollout.state = state
    rollout.end_reason = reason
    rollout.ended_at = timezone.now()
    rollout.save(update_fields=["state", "end_reason", "ended_at"])
    audit_record(
        context=context, action=END_ACTIONS[state], namespace=rollout.namespace, target=rollout.name,
        after={"rollout": str(rollout.id), "stage": rollout.stage, "reason": reason},
    )
