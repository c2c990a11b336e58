"""Liveness, readiness and metrics, for load balancers, orchestrators and Prometheus."""

import logging
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, connection
from django.http import HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST

from apps.configs.broker_admin import broker_reachable
from apps.configs.outbox import outbox_backlog
from apps.metrics import METRICS_REFUSED, metrics_access_allowed, metrics_exposition

logger = logging.getLogger(__name__)


def healthz(request):
    return JsonResponse({"status": "ok"})


@dataclass(frozen=True)
class Readiness:
    body: dict
    status: int
    checked_at: float


class ReadinessCache:
    """Probes come from every load balancer and orchestrator, several a second:
    one check per process per READY_CACHE_SECONDS answers them all, and the lock
    keeps concurrent probes from checking PostgreSQL and Kafka side by side."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: Readiness | None = None

    def get(self) -> Readiness:
        with self._lock:
            if self._last is None or time.monotonic() - self._last.checked_at >= settings.READY_CACHE_SECONDS:
                self._last = _check_readiness()
            return self._last

    def clear(self) -> None:
        with self._lock:
            self._last = None


def _check_readiness() -> Readiness:
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
    # The publisher's one admin client per process, with a bounded wait.
    checks["kafka"] = "ok" if broker_reachable(timeout=settings.READY_KAFKA_TIMEOUT_SECONDS) else "down"
    if checks["kafka"] == "down":
        down.append("kafka")
    if "postgresql" not in down:
        lag = outbox_backlog().oldest_age_seconds
        checks["outbox_lag_seconds"] = round(lag, 3)
        if lag > settings.OUTBOX_READY_LAG_SECONDS:
            down.append("outbox")
    body = {"status": "down" if down else "ok", "down": down, "checks": checks}
    return Readiness(body=body, status=503 if down else 200, checked_at=time.monotonic())


readiness = ReadinessCache()


def readyz(request):
    answer = readiness.get()
    return JsonResponse(answer.body, status=answer.status)


def metrics(request):
    """Prometheus metrics; they name tenants, so not for just anyone."""
    if not metrics_access_allowed(request.headers.get("Authorization", ""), request.META.get("REMOTE_ADDR", "")):
        return JsonResponse(METRICS_REFUSED, status=403)
    return HttpResponse(metrics_exposition(), content_type=CONTENT_TYPE_LATEST)
