#!/usr/bin/env bash
# The whole stack in the foreground: the API (deploy/serve.py), the outbox relay
# and the demo client service, each line of output tagged with its source.
# Ctrl-C stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
# People read these logs at a terminal; production keeps the default, JSON.
export NOREBOOT_LOG_FORMAT="${NOREBOOT_LOG_FORMAT:-text}"
# The API's workers and the relay share one metrics folder, fresh each run.
export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-$PWD/.local/metrics}"
rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
export NOREBOOT_RELAY_METRICS_PORT="${NOREBOOT_RELAY_METRICS_PORT:-9108}"

# A local cluster (KAFKA_BROKERS=3 make run): every process is told all of
# its nodes, so that none depends on the first one being up.
if [[ "${KAFKA_BROKERS:-1}" != 1 ]]; then
    eval "$(bash scripts/kafka.sh env)"
fi

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
    # Process substitution, not a pipe, so that $! is the program itself and
    # stopping it stops the program rather than its log prefixer.
    "$@" > >(sed -u "s/^/[$tag] /") 2>&1 &
    pids+=($!)
}

tagged api $PY deploy/serve.py
# The relay survives database outages by itself; should it die anyway, it is
# started again (the API's workers are restarted by its server).
tagged relay scripts/supervise.sh $PY manage.py relay_outbox
# Signed webhook deliveries (a Kafka consumer group), restarted the same way.
tagged webhooks scripts/supervise.sh $PY manage.py deliver_webhooks
# SDK apply reports into PostgreSQL, and the rollouts they drive, restarted the same way.
tagged acks scripts/supervise.sh $PY manage.py collect_acks
# The demo client waits for the API to answer before it starts.
until curl -fsS http://127.0.0.1:8000/healthz >/dev/null 2>&1; do sleep 0.2; done
# Like any client service it knows the API, its namespace and its token; its
# Kafka credentials (TLS + SCRAM, its own principal) come from the API.
tagged demo env NOREBOOT_NAMESPACE="$DEMO_NAMESPACE" NOREBOOT_URL=http://127.0.0.1:8000 \
    NOREBOOT_TOKEN="$DEMO_SERVICE_TOKEN" $PY -u -m noreboot.demo
wait
