"""Every Prometheus metric of the platform, defined once.

Under several processes (gunicorn workers, the relay) each process writes its
samples to PROMETHEUS_MULTIPROC_DIR and /metrics aggregates them; without that
variable, as in the test process, the default per-process registry is used."""

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
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
