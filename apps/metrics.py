"""Every Prometheus metric of the platform, defined once.

Under several processes (the API server's workers, the relay) each process writes its
samples to PROMETHEUS_MULTIPROC_DIR and /metrics aggregates them; without that
variable, as in the test process, the default per-process registry is used."""

import hmac
import ipaddress
import json
import os
import socket
import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from config_service.errors import error_body
from django.conf import settings
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, make_wsgi_app, multiprocess
from prometheus_client.core import REGISTRY, GaugeMetricFamily

# Propagation is measured in milliseconds, so are the buckets.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

HTTP_REQUESTS = Counter(
    "noreboot_http_requests_total", "HTTP requests answered.", ["route", "method", "status"]
)
HTTP_LATENCY = Histogram(
    "noreboot_http_request_duration_seconds", "Time to answer an HTTP request.", ["route", "method"],
    buckets=LATENCY_BUCKETS,
)
CONFIG_WRITES = Counter("noreboot_config_writes_total", "Committed config changes.", ["tenant", "op"])
RELAY_PUBLISH_LATENCY = Histogram(
    "noreboot_relay_publish_latency_seconds", "From an event's commit to Kafka's delivery report.",
    buckets=LATENCY_BUCKETS,
)
RELAY_PUBLISHED = Counter("noreboot_relay_events_published_total", "Outbox events Kafka acknowledged.")
RELAY_FAILED = Counter("noreboot_relay_events_failed_total", "Outbox event deliveries that failed (retried).")
ACK_REPORTS_STORED = Counter("noreboot_ack_reports_stored_total", "SDK apply reports the collector stored.")
ACK_REPORTS_DROPPED = Counter(
    "noreboot_ack_reports_dropped_total",
    "SDK apply reports the collector dropped: malformed, of an unknown namespace, or of another tenant's.",
    ["reason"],
)

# Any other method is one label value, so callers cannot make series at will.
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def method_label(method: str) -> str:
    return method if method in HTTP_METHODS else "other"


class OutboxBacklogCollector:
    """Backlog gauges read from the database at scrape time, so every process
    that serves /metrics reports the same truth, whether the relay runs or not."""

    def collect(self):
        from apps.configs.outbox import outbox_backlog

        backlog = outbox_backlog()
        yield GaugeMetricFamily("noreboot_outbox_backlog_events", "Outbox events not yet published.", backlog.count)
        yield GaugeMetricFamily(
            "noreboot_outbox_oldest_unpublished_age_seconds", "Age of the oldest unpublished event.",
            backlog.oldest_age_seconds,
        )


class _ThisProcess:
    def collect(self):
        yield from REGISTRY.collect()


def scrape_registry() -> CollectorRegistry:
    """What /metrics (and the relay's own port) serve: every process's samples
    when they share PROMETHEUS_MULTIPROC_DIR, this process's otherwise, and the
    backlog read from the database."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    registry.register(OutboxBacklogCollector())
    return registry


def metrics_exposition() -> bytes:
    return generate_latest(scrape_registry())


def metrics_access_allowed(authorization: str, peer: str) -> bool:
    """Metrics name tenants: the bearer of NOREBOOT_METRICS_TOKEN may read them
    or, when no token is set, a caller on loopback, unless a proxy is configured
    (behind a proxy on the same host every caller would look like loopback)."""
    if settings.METRICS_TOKEN:
        expected = f"Bearer {settings.METRICS_TOKEN}".encode()
        return hmac.compare_digest(authorization.encode("utf-8", "surrogateescape"), expected)
    if settings.TRUSTED_PROXIES:
        return False
    try:
        return ipaddress.ip_address(peer).is_loopback
    except ValueError:
        return False


METRICS_REFUSED = error_body("permission_denied", "Metrics need the metrics token.")


class _MetricsServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _MetricsServerIPv6(_MetricsServer):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        pass


def serve_metrics(port: int, addr: str) -> WSGIServer:
    """/metrics of a process that is not the API (the relay), on its own port,
    with the API's access rule; served from a daemon thread."""
    exposition = make_wsgi_app(scrape_registry())

    def app(environ, start_response):
        if not metrics_access_allowed(environ.get("HTTP_AUTHORIZATION", ""), environ.get("REMOTE_ADDR", "")):
            start_response("403 Forbidden", [("Content-Type", "application/json")])
            return [json.dumps(METRICS_REFUSED).encode()]
        return exposition(environ, start_response)

    server_class = _MetricsServerIPv6 if ":" in addr else _MetricsServer
    server = make_server(addr, port, app, server_class, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    return server
