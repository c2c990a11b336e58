#!/usr/bin/env bash
# Runs a long-lived command and starts it again whenever it exits, until this
# script is asked to stop (SIGTERM or SIGINT, passed on to the command).
# `make run` keeps the outbox relay up with it, as docker-compose's
# `restart: unless-stopped` does in containers.
#
#   scripts/supervise.sh COMMAND [ARGS...]
#   SUPERVISE_RESTART_DELAY  seconds between an exit and the next start (default 1)
set -uo pipefail

[[ $# -gt 0 ]] || { sed -n '2,/^set -uo/{/^set -uo/d;s/^# \{0,1\}//;p}' "$0" >&2; exit 2; }
delay="${SUPERVISE_RESTART_DELAY:-1}"
child=""
stopping=0
stop() {
    stopping=1
    [[ -n "$child" ]] && kill -TERM "$child" 2>/dev/null
}
trap stop TERM INT

while ((!stopping)); do
    "$@" &
    child=$!
    # `wait` returns early when a trapped signal arrives; wait again for the exit itself.
    wait "$child"
    status=$?
    while kill -0 "$child" 2>/dev/null; do wait "$child"; status=$?; done
    ((stopping)) && break
    echo "supervise: $1 exited with status $status; starting it again in ${delay}s" >&2
    sleep "$delay" & wait $!
done
exit 0
