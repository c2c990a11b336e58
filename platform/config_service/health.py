"""Liveness and readiness, for load balancers and orchestrators."""

import logging

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Min
from django.http import JsonResponse
from django.utils import timezone

from apps.configs.models import OutboxEvent
from apps.configs.publisher import broker_reachable

logger = logging.getLogger(__name__)


def healthz(request):
    return JsonResponse({"status": "ok"})


def readyz(request):
    down = []
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["postgresql"] = "ok"
    except DatabaseError as exc:
        checks["postgresql"] = "down"
        down.append("postgresql")
        logger.warning("readiness: PostgreSQL unreachable: %s", exc)
    checks["kafka"] = "ok" if broker_reachable() else "down"
    if checks["kafka"] == "down":
        down.append("kafka")
    if "postgresql" not in down:
        oldest = OutboxEvent.objects.filter(published_at__isnull=True).aggregate(oldest=Min("created_at"))["oldest"]
        lag = (timezone.now() - oldest).total_seconds() if oldest else 0.0
        checks["outbox_lag_seconds"] = round(lag, 3)
        if lag > settings.OUTBOX_READY_LAG_SECONDS:
            down.append("outbox")
    status = 503 if down else 200
    return JsonResponse({"status": "down" if down else "ok", "down": down, "checks": checks}, status=status)
