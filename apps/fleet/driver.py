"""The rollout driver, run by the collector (`manage.py collect_acks`) between
batches: a stage advances once its bake time has passed and every live
instance of its cohort reports its revision applied with no rejection; more
rejections than the rollout allows roll it back. Every step is a normal
audited, published write (apps/fleet/services.py); with several collectors
running, the namespace lock lets one of them act and the others find the
rollout moved."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.utils import timezone

from apps.change_context import ChangeContext
from apps.errors import Conflict, NotFound
from apps.fleet.models import Rollout
from apps.fleet.selectors import rollout_cohort
from apps.fleet.services import rollout_advance, rollout_withdraw

logger = logging.getLogger(__name__)

DRIVER_CONTEXT = ChangeContext(actor=None, request_id="rollout-driver")


def rollouts_drive() -> None:
    for rollout in Rollout.objects.filter(state=Rollout.State.RUNNING).select_related("namespace"):
        cohort = rollout_cohort(rollout)
        namespace = rollout.namespace
        try:
            if len(cohort.rejections) > rollout.max_rejected:
                reasons = "; ".join(sorted({entry["reason"] for entry in cohort.rejections}))
                reason = f"{len(cohort.rejections)} instance(s) rejected the candidate: {reasons}"[:1000]
                rollout_withdraw(namespace=namespace, rollout_id=rollout.pk, state=Rollout.State.ROLLED_BACK,
                                 reason=reason, context=DRIVER_CONTEXT)
                logger.warning("rollout %s of %s/%s rolled back: %s", rollout.pk, namespace.path, rollout.name, reason)
            elif _baked(rollout) and cohort.all_acked:
                rollout_advance(namespace=namespace, rollout_id=rollout.pk, from_stage=rollout.stage,
                                context=DRIVER_CONTEXT)
                logger.info("rollout %s of %s/%s passed stage %d (%d instances acked)", rollout.pk, namespace.path,
                            rollout.name, rollout.stage, len(cohort.acked))
        except (Conflict, NotFound):
            # A person (or another collector) moved the rollout meanwhile.
            continue


def _baked(rollout: Rollout) -> bool:
    bake = timedelta(seconds=rollout.current_stage.get("bake_seconds", 0))
    return rollout.stage_started_at is not None and timezone.now() >= rollout.stage_started_at + bake
