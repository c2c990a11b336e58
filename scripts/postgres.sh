#!/usr/bin/env bash
# A project-local PostgreSQL cluster on 127.0.0.1, run by the `postgres` system
# user (the server refuses to run as root). Idempotent: `start` installs Debian's
# server if missing, creates the cluster, the role and the database once, and
# does nothing more when they are already there. When DATABASE_URL points at a
# reachable server, that server is used instead and nothing local is started.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PG_PORT="${NOREBOOT_PG_PORT:-55432}"
DB_NAME="noreboot"
DB_USER="noreboot"
DB_PASSWORD="noreboot"
LOCAL_URL="postgres://${DB_USER}:${DB_PASSWORD}@127.0.0.1:${PG_PORT}/${DB_NAME}"

# The data directory must be reachable by the postgres user. A clone inside a
# root-only directory (mode 700) is not, so the cluster then lives in the
# postgres user's home, keyed by the clone's path, and .local/pg links to it.
data_dir() {
    # NOREBOOT_PG_DIR: a second, throw-away cluster (with NOREBOOT_PG_PORT),
    # e.g. for tests that restart PostgreSQL without touching the project's.
    if [ -n "${NOREBOOT_PG_DIR:-}" ]; then echo "$NOREBOOT_PG_DIR"; return; fi
    local wanted="$ROOT/.local/pg"
    if [ -L "$wanted" ]; then readlink "$wanted"; return; fi
    mkdir -p "$ROOT/.local"
    if runuser -u postgres -- test -x "$ROOT/.local"; then
        echo "$wanted"
    else
        local key
        key="$(printf '%s' "$ROOT" | sha1sum | cut -c1-12)"
        local elsewhere="/var/lib/postgresql/noreboot-$key"
        ln -sfn "$elsewhere" "$wanted"
        echo "$elsewhere"
    fi
}

pg_bin() {
    local bin
    bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    [ -n "$bin" ] && echo "$bin"
}

install_server() {
    if [ -z "$(pg_bin)" ]; then
        echo "installing Debian's postgresql package (first run only)..."
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    fi
}

external_reachable() {
    [ -n "${DATABASE_URL:-}" ] && [ "${DATABASE_URL}" != "$LOCAL_URL" ] \
        && psql "$DATABASE_URL" -Atqc 'select 1' >/dev/null 2>&1
}

as_postgres() { runuser -u postgres -- "$@"; }

cmd_start() {
    if external_reachable; then
        echo "postgres: using DATABASE_URL (external server)"
        return
    fi
    install_server
    local bin dir
    bin="$(pg_bin)"
    dir="$(data_dir)"
    if [ ! -f "$dir/PG_VERSION" ]; then
        echo "postgres: creating a cluster in $dir"
        mkdir -p "$dir"
        chown postgres:postgres "$dir"
        chmod 700 "$dir"
        as_postgres "$bin/initdb" -D "$dir" -U postgres --auth-local=peer \
            --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
        cat >>"$dir/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$dir'
max_connections = 200
shared_buffers = 256MB
log_min_messages = warning
CONF
    fi
    if ! as_postgres "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
        as_postgres "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 start >/dev/null
        echo "postgres: started on 127.0.0.1:$PG_PORT"
    fi
    local psql=("$bin/psql" -h "$dir" -p "$PG_PORT" -U postgres -Atq)
    if [ "$(as_postgres "${psql[@]}" -c "select 1 from pg_roles where rolname='$DB_USER'")" != 1 ]; then
        # CREATEDB because the test runner creates and drops its own database.
        as_postgres "${psql[@]}" -c "create role $DB_USER login createdb password '$DB_PASSWORD'"
    fi
    if [ "$(as_postgres "${psql[@]}" -c "select 1 from pg_database where datname='$DB_NAME'")" != 1 ]; then
        as_postgres "${psql[@]}" -c "create database $DB_NAME owner $DB_USER"
    fi
}

cmd_stop() {
    local bin dir
    bin="$(pg_bin)" || return 0
    dir="$(data_dir)"
    if [ -f "$dir/PG_VERSION" ] && as_postgres "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
        as_postgres "$bin/pg_ctl" -D "$dir" -m fast -w stop >/dev/null
        echo "postgres: stopped"
    fi
}

cmd_url() { echo "${DATABASE_URL:-$LOCAL_URL}"; }

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    url) cmd_url ;;
    *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
