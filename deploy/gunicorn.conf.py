"""gunicorn settings for the API (`make run`, docker-compose, the tests that need
several workers). Environment variables override the defaults."""

import os

from prometheus_client import multiprocess

bind = os.environ.get("NOREBOOT_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("NOREBOOT_THREADS", "4"))
pythonpath = "platform"
wsgi_app = "config_service.wsgi:application"
# The request middleware logs each request with its context; no second access log.
accesslog = None


def child_exit(server, worker):
    # A dead worker's live gauges must not linger in the shared metrics files.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)


def on_starting(server):
    # The settings once in the master: a refused key (settings.signing_key) then
    # stops gunicorn with its one line, instead of failing every worker in turn.
    import config_service.settings  # noqa: F401
