"""Liveness, readiness and metrics, for load balancers, orchestrators and Prometheus."""

import hmac
import logging

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST

from apps.configs.outbox import outbox_backlog
from apps.configs.publisher import broker_reachable
from apps.metrics import metrics_exposition
from config_service.errors import error_body

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
        lag = outbox_backlog().oldest_age_seconds
        checks["outbox_lag_seconds"] = round(lag, 3)
        if lag > settings.OUTBOX_READY_LAG_SECONDS:
            down.append("outbox")
    status = 503 if down else 200
    return JsonResponse({"status": "down" if down else "ok", "down": down, "checks": checks}, status=status)


def metrics(request):
    """Prometheus metrics; they name tenants, so not for just anyone."""
    offered = request.headers.get("Authorization", "")
    if settings.METRICS_TOKEN:
        allowed = hmac.compare_digest(offered, f"Bearer {settings.METRICS_TOKEN}")
    else:
        allowed = request.META.get("REMOTE_ADDR") in ("127.0.0.1", "::1")
    if not allowed:
        return JsonResponse(error_body("permission_denied", "Metrics need the metrics token."), status=403)
    return HttpResponse(metrics_exposition(), content_type=CONTENT_TYPE_LATEST)
