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

from django.db import InterfaceError, OperationalError
from django.utils import timezone

from apps.change_context import ChangeContext
from apps.configs.definitions import config_schema_violations
from apps.errors import Conflict, NotFound, SchemaViolation
from apps.fleet.models import Rollout
from apps.fleet.selectors import rollout_cohort
from apps.fleet.services import rollout_advance, rollout_withdraw

logger = logging.getLogger(__name__)

DRIVER_CONTEXT = ChangeContext(actor=None, request_id="rollout-driver")


def rollouts_drive() -> None:
    """One pass over the running rollouts. One rollout's failure never stops
    the others (nor the collector, which would meet it again on each restart):
    a candidate the schema refuses is rolled back, anything else is logged."""
    for rollout in Rollout.objects.filter(state=Rollout.State.RUNNING).select_related("namespace"):
        try:
            _drive(rollout)
        except (Conflict, NotFound):
            continue  # A person (or another collector) moved the rollout meanwhile.
        except (OperationalError, InterfaceError):
            raise  # PostgreSQL is away: the collector's rounds back off and retry.
        except Exception:
            logger.exception("rollout %s of %s/%s could not be driven; the next one is", rollout.pk,
                             rollout.namespace.path, rollout.name)


def _drive(rollout: Rollout) -> None:
    namespace = rollout.namespace
    # The schema may have changed since the start: a candidate it refuses now
    # could never become the stable value, so it is withdrawn at once.
    if violations := config_schema_violations(namespace, rollout.name, rollout.value):
        _roll_back(rollout, _schema_reason(violations))
        return
    cohort = rollout_cohort(rollout)
    if len(cohort.rejections) > rollout.max_rejected:
        reasons = "; ".join(sorted({entry["reason"] for entry in cohort.rejections}))
        _roll_back(rollout, f"{len(cohort.rejections)} instance(s) rejected the candidate: {reasons}")
    elif _baked(rollout) and cohort.all_acked:
        try:
            rollout_advance(namespace=namespace, rollout_id=rollout.pk, from_stage=rollout.stage,
                            context=DRIVER_CONTEXT)
        except SchemaViolation as error:  # the schema changed between the check above and the lock
            _roll_back(rollout, _schema_reason(error.fields["value"]))
            return
        logger.info("rollout %s of %s/%s passed stage %d (%d instances acked)", rollout.pk, namespace.path,
                    rollout.name, rollout.stage, len(cohort.acked))


def _schema_reason(violations: list[str]) -> str:
    return f"The candidate does not match the config's schema: {'; '.join(violations)}"


def _roll_back(rollout: Rollout, reason: str) -> None:
    reason = reason[:1000]
    rollout_withdraw(namespace=rollout.namespace, rollout_id=rollout.pk, state=Rollout.State.ROLLED_BACK,
                     reason=reason, context=DRIVER_CONTEXT)
    logger.warning("rollout %s of %s/%s rolled back: %s", rollout.pk, rollout.namespace.path, rollout.name, reason)


def _baked(rollout: Rollout) -> bool:
    bake = timedelta(seconds=rollout.current_stage.get("bake_seconds", 0))
    return rollout.stage_started_at is not None and timezone.now() >= rollout.stage_started_at + bake
