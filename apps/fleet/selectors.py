"""Reads of instances, convergence and rollouts, within a namespace the caller
was already checked on."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Min, QuerySet
from django.utils import timezone

from apps.configs.outbox import revision_committed_at
from apps.configs.selectors import namespace_snapshot
from apps.errors import NotFound
from apps.fleet.cohort import in_cohort
from apps.fleet.models import Apply, Instance, Rollout
from apps.tenants.models import Namespace

STATUSES = ("current", "behind", "stale", "rejected")
CONVERGENCE_PERCENTS = (50, 90, 99, 100)


def stale_before(now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - timedelta(seconds=settings.FLEET_STALE_SECONDS)


def instance_status(instance: Instance, *, revision: int, stale_since: datetime) -> str:
    if instance.last_seen < stale_since:
        return "stale"
    if instance.rejected:
        return "rejected"
    return "current" if instance.revision >= revision else "behind"


def namespace_instances(namespace: Namespace, *, labels: dict[str, str]) -> QuerySet[Instance]:
    instances = Instance.objects.filter(namespace=namespace).order_by("instance_id")
    # jsonb @>: every label given, with that value.
    return instances.filter(labels__contains=labels) if labels else instances


def revision_convergence(namespace: Namespace, revision: int) -> dict:
    """When the instances live at the revision's commit had applied it (or a
    later one): the times at which 50/90/99/100 % of them had."""
    committed_at = revision_committed_at(namespace, revision)
    if committed_at is None:
        raise NotFound(f"Revision {revision} of {namespace.path} is unknown (or too old to tell).")
    population = Instance.objects.filter(namespace=namespace, last_seen__gte=committed_at).values_list(
        "instance_id", flat=True
    )
    reached = sorted(
        Apply.objects.filter(namespace=namespace, revision__gte=revision, instance_id__in=population)
        .values("instance_id").annotate(first=Min("applied_at")).values_list("first", flat=True)
    )
    total = len(population)
    times = {}
    for percent in CONVERGENCE_PERCENTS:
        needed = math.ceil(total * percent / 100)
        at = reached[needed - 1] if total and needed <= len(reached) else None
        times[f"p{percent}"] = None if at is None else {
            "at": at, "seconds": round(max(0.0, (at - committed_at).total_seconds()), 3)
        }
    return {"revision": revision, "committed_at": committed_at, "instances": total, "applied": len(reached),
            "times": times}


@dataclass
class CohortState:
    """The cohort of a rollout's current stage among the live instances."""

    members: list[str] = field(default_factory=list)
    acked: list[str] = field(default_factory=list)
    # {instance_id, reason} of every live instance refusing the candidate.
    rejections: list[dict] = field(default_factory=list)

    @property
    def all_acked(self) -> bool:
        return len(self.acked) == len(self.members)


def rollout_cohort(rollout: Rollout) -> CohortState:
    state = CohortState()
    if rollout.state != Rollout.State.RUNNING:
        return state
    stage = rollout.current_stage
    live = Instance.objects.filter(namespace_id=rollout.namespace_id, last_seen__gte=stale_before())
    for instance in live.values("instance_id", "labels", "revision", "rejected"):
        refusals = [
            entry for entry in instance["rejected"]
            if entry["name"] == rollout.name and entry["revision"] >= rollout.first_revision
        ]
        if refusals:
            state.rejections.append({"instance_id": instance["instance_id"], "reason": refusals[-1]["reason"]})
        if in_cohort(rollout_id=str(rollout.id), instance_id=instance["instance_id"], labels=instance["labels"],
                     percent=stage["percent"], selector=stage.get("labels") or {}):
            state.members.append(instance["instance_id"])
            if instance["revision"] >= rollout.stage_revision and not refusals:
                state.acked.append(instance["instance_id"])
    return state


def latest_revisions(namespace: Namespace, count: int) -> list[int]:
    """The namespace's newest revisions that instances reported applying, newest first."""
    return list(
        Apply.objects.filter(namespace=namespace).values_list("revision", flat=True).distinct()
        .order_by("-revision")[:count]
    )


def namespace_rollouts(namespace: Namespace) -> QuerySet[Rollout]:
    return Rollout.objects.filter(namespace=namespace).select_related("namespace")


def config_rollouts(namespace: Namespace, name: str) -> QuerySet[Rollout]:
    return Rollout.objects.filter(namespace=namespace, name=name).select_related("namespace")


def rollout_get(namespace: Namespace, name: str, rollout_id: str) -> Rollout:
    rollout = config_rollouts(namespace, name).filter(pk=rollout_id).first()
    if rollout is None:
        raise NotFound(f"No rollout {rollout_id} in {namespace.path}.")
    return rollout


def snapshot_with_rollouts(namespace: Namespace) -> tuple[int, list[dict], list[dict]]:
    """The snapshot's revision and configs (namespace_snapshot) and the running
    rollouts at that same revision: one repeatable-read transaction, so a stage
    change committed in between cannot mix into it."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost:
            # Only the first statement of a transaction may set it (inside an
            # outer transaction, as in tests, that one's snapshot applies).
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        revision, configs = namespace_snapshot(namespace)
        rollouts = [
            {"name": rollout.name, **rollout.client_spec()}
            for rollout in Rollout.objects.filter(namespace=namespace, state=Rollout.State.RUNNING).order_by("name")
        ]
    return revision, configs, rollouts
