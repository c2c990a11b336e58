#!/usr/bin/env bash
# The whole stack in the foreground: the API under gunicorn, the outbox relay
# and the demo client service, each line of output tagged with its source.
# Ctrl-C stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

eval "$($PY manage.py demo_setup --shell)"

pids=()
stop_all() {
    trap - INT TERM EXIT
    echo "stopping..."
    kill "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
}
trap stop_all INT TERM EXIT

tagged() {
    local tag="$1"; shift
    "$@" 2>&1 | sed -u "s/^/[$tag] /" &
    pids+=($!)
}

tagged api .venv/bin/gunicorn --pythonpath platform config_service.wsgi:application \
    --bind 127.0.0.1:8000 --workers "${WEB_CONCURRENCY:-2}" --threads 4 --access-logfile -
tagged relay $PY manage.py relay_outbox
# The demo client waits for the API to answer before it starts.
until curl -fsS http://127.0.0.1:8000/healthz >/dev/null 2>&1; do sleep 0.2; done
tagged demo env NOREBOOT_NAMESPACE="$DEMO_NAMESPACE" NOREBOOT_URL=http://127.0.0.1:8000 \
    NOREBOOT_TOKEN="$DEMO_SERVICE_TOKEN" NOREBOOT_KAFKA_BOOTSTRAP="${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:9092}" \
    $PY -u -m noreboot.demo
wait
