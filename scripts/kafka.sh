#!/usr/bin/env bash
# Local Apache Kafka for No-Reboot HQ, without Docker, secured as DESIGN.md's
# "Kafka security" asks (deploy/kafka/server.properties.template): listeners
# INTERNAL (SCRAM; platform principals), CLIENT (TLS + SCRAM; SDK clients) and
# CONTROLLER (PLAIN), none of them open to an unauthenticated client.
#
#   scripts/kafka.sh start [NODE...]  ensure a broker answers the platform
#                            principal at $KAFKA_BOOTSTRAP_SERVERS, starting a
#                            local KRaft node if none does (with KAFKA_BROKERS > 1:
#                            the given nodes, default all, of a local cluster)
#   scripts/kafka.sh stop [NODE...]   stop the broker(s) this script started
#   scripts/kafka.sh status  exit 0 if a broker is running/answering, else 1
#   scripts/kafka.sh env     print `export` lines of the platform's Kafka
#                            variables for this broker or cluster (all nodes)
#   scripts/kafka.sh run     run the broker in the foreground, listening on all
#                            interfaces (containers: see docker-compose.yml)
#
# The broker is the real Apache Kafka (kafka_2.13, see deploy/kafka/pom.xml),
# its jars resolved from Maven Central by Maven, and run on the machine's Java.
# Its TLS material and passwords come from scripts/kafka_secrets.sh.
#
# Environment:
#   KAFKA_HOME               default <repo>/.local/kafka: everything the local
#                            broker writes (jars, data, logs, TLS, passwords)
#   KAFKA_BOOTSTRAP_SERVERS  default 127.0.0.1:9092, the INTERNAL listener; a
#                            host that is not this machine is only probed
#   KAFKA_CLIENT_PORT        default 9094, the CLIENT listener
#   KAFKA_CONTROLLER_PORT    default 9093, the CONTROLLER listener
#   KAFKA_LIBS_DIR           default $KAFKA_HOME/libs (fetched by Maven); an
#                            existing Kafka's libs/ is used as it is
#   KAFKA_START_TIMEOUT      default 90 (seconds to wait for the broker)
#   KAFKA_BROKERS            default 1; N > 1 starts a local cluster of N
#                            combined broker+controller nodes (an N-voter KRaft
#                            quorum), node n under $KAFKA_HOME/node-n, listening
#                            on each of the three ports + 10*(n-1), each secured
#                            alike; topics get RF min(3, N), min.insync.replicas
#                            min(2, RF)
# The readiness probe (scripts/kafka_probe.py) logs in with the platform
# settings' variables (KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD[_FILE], ...),
# the password file defaulting to $KAFKA_HOME/platform.password.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SELF="$ROOT/scripts/kafka.sh"
DEPLOY_DIR="$ROOT/deploy/kafka"
PROBE_PYTHON="$ROOT/.venv/bin/python"
M2_REPO="$ROOT/.local/m2"
KAFKA_HOME="${KAFKA_HOME:-$ROOT/.local/kafka}"
LIBS_DIR="${KAFKA_LIBS_DIR:-$KAFKA_HOME/libs}"
TLS_DIR="$KAFKA_HOME/tls"
CLUSTER_ID_FILE="$KAFKA_HOME/cluster-id"
LOCK_FILE="$KAFKA_HOME/.lock"
CDS_ARCHIVE="$KAFKA_HOME/cds/kafka.jsa"
PLATFORM_USER="noreboot-platform"
PLATFORM_PASSWORD_FILE="$KAFKA_HOME/platform.password"
CONTROLLER_USER="noreboot-controller"
CONTROLLER_PASSWORD_FILE="$KAFKA_HOME/controller.password"
# Bump when a broker formatted by an older version of this script cannot serve
# the current configuration; `start` then re-formats its data dir.
SECURITY_GENERATION="sasl-scram-tls-1"

BOOTSTRAP="${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:9092}"
FIRST_SERVER="${BOOTSTRAP%%,*}"
FIRST_SERVER="${FIRST_SERVER#*://}"
BROKER_HOST="${FIRST_SERVER%:*}"
INTERNAL_PORT="${FIRST_SERVER##*:}"
CLIENT_PORT="${KAFKA_CLIENT_PORT:-9094}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
STOP_TIMEOUT=20
BROKERS="${KAFKA_BROKERS:-1}"
[[ "$BROKERS" =~ ^[1-9]$ ]] || { echo "kafka: KAFKA_BROKERS must be 1 to 9, not '$BROKERS'" >&2; exit 2; }
# Node n of a cluster listens on each base port + PORT_STEP * (n - 1).
PORT_STEP=10
REPLICATION_FACTOR=$((BROKERS < 3 ? BROKERS : 3))
MIN_INSYNC=$((REPLICATION_FACTOR < 2 ? REPLICATION_FACTOR : 2))

# Point the per-node variables at node n. A single broker keeps the layout
# of before clusters (everything directly in $KAFKA_HOME, node id 1).
node_select() {
  NODE_ID="$1"
  local offset=$((PORT_STEP * (NODE_ID - 1))) node_dir="$KAFKA_HOME"
  ((BROKERS == 1)) || node_dir="$KAFKA_HOME/node-$NODE_ID"
  DATA_DIR="$node_dir/data"
  LOG_DIR="$node_dir/logs"
  CONFIG="$node_dir/server.properties"
  PID_FILE="$node_dir/kafka.pid"
  # What the data dir was formatted for; see ensure_formatted.
  FORMAT_STAMP="$node_dir/formatted-for"
  NODE_INTERNAL_PORT=$((INTERNAL_PORT + offset))
  NODE_CLIENT_PORT=$((CLIENT_PORT + offset))
  NODE_CONTROLLER_PORT=$((CONTROLLER_PORT + offset))
  NODE_BOOTSTRAP="${BROKER_HOST/0.0.0.0/127.0.0.1}:$NODE_INTERNAL_PORT"
}

node_select 1

all_nodes() { seq 1 "$BROKERS"; }

# "host:port,..." of one listener (base port $1) on every node.
node_addresses() {
  local host="$1" base="$2" n list=()
  for n in $(all_nodes); do list+=("$host:$((base + PORT_STEP * (n - 1)))"); done
  (IFS=,; printf '%s' "${list[*]}")
}

# Lean on purpose: 2-core dev machines and CI runners. G1 with Kafka's own
# pause target keeps produce latency flat; thread counts are capped so the
# JVM doesn't size its GC/compiler pools for a server. The heap ceiling is for
# the thousands of partitions a developer's machine gathers (every tenant has a
# config and an ack topic): at 512 MiB a restart ran out of heap loading them.
BROKER_JVM_OPTS=(
  -Xms256m -Xmx1g
  -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:ParallelGCThreads=2 -XX:ConcGCThreads=1
  -XX:CICompilerCount=2
  -XX:+ExitOnOutOfMemoryError
  -Djava.awt.headless=true
)
# Short-lived CLI tools: C1 only and a tiny serial heap start noticeably faster.
TOOL_JVM_OPTS=(
  -Xms32m -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto
  -Djava.awt.headless=true
)

log() { printf '%s\n' "kafka: $*" >&2; }
die() { log "error: $*"; exit 1; }

is_local_host() {
  case "$1" in
    127.0.0.1 | localhost | 0.0.0.0) return 0 ;;
    *) return 1 ;;
  esac
}

# ---------------------------------------------------------------------------
# Readiness: "answers Metadata for the platform principal", not "port is
# open", asked with the project's own client (confluent-kafka).
# Arguments go to the probe: [TIMEOUT] [--warm-producer-ids].
broker_answers() {
  [[ -x "$PROBE_PYTHON" ]] || die "no $PROBE_PYTHON for the readiness probe (run: make services)"
  if [[ -z "${KAFKA_SASL_PASSWORD:-}" ]]; then
    export KAFKA_SASL_PASSWORD_FILE="${KAFKA_SASL_PASSWORD_FILE:-$PLATFORM_PASSWORD_FILE}"
  fi
  KAFKA_BOOTSTRAP_SERVERS="${PROBE_BOOTSTRAP:-$BOOTSTRAP}" "$PROBE_PYTHON" "$ROOT/scripts/kafka_probe.py" "$@"
}

# ---------------------------------------------------------------------------
# Jars

# Marker written after a complete copy: the pom's hash, so a version bump
# re-fetches instead of mixing old and new jars on one classpath, and the jar
# count, so a half-deleted libs dir is noticed.
libs_stamp() { sha256sum "$DEPLOY_DIR/pom.xml" | cut -d' ' -f1; }

jar_count() {
  local jars=("$1"/*.jar)
  [[ -e "${jars[0]}" ]] && echo "${#jars[@]}" || echo 0
}

ensure_libs() {
  if [[ -n "${KAFKA_LIBS_DIR:-}" ]]; then
    [[ "$(jar_count "$LIBS_DIR")" -gt 0 ]] || die "no jars in KAFKA_LIBS_DIR=$LIBS_DIR"
    return 0
  fi
  local stamp
  stamp="$(libs_stamp)"
  if [[ -f "$LIBS_DIR/.complete" &&
    "$(cat "$LIBS_DIR/.complete")" == "$stamp $(jar_count "$LIBS_DIR")" ]]; then
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found (apt-get install maven)"
  command -v java >/dev/null || die "java not found (apt-get install openjdk-17-jre-headless)"
  log "fetching Apache Kafka jars with Maven (first run only)…"
  # Stage and rename, so an interrupted download never looks complete.
  local staging="$KAFKA_HOME/libs.partial"
  rm -rf "$staging"
  mkdir -p "$staging" "$M2_REPO" "$LOG_DIR"
  # Output goes to a file: Maven 3.8 writes stray ANSI resets even in batch
  # mode, and the full log is only interesting when resolution fails.
  if ! mvn -B -q \
    -f "$DEPLOY_DIR/pom.xml" \
    -Dmaven.repo.local="$M2_REPO" \
    -Dkafka.libs.dir="$staging" \
    dependency:copy-dependencies >"$LOG_DIR/maven.out" 2>&1; then
    sed 's/\x1b\[[0-9;]*m//g' "$LOG_DIR/maven.out" | tail -n 30 >&2
    die "Maven could not resolve the Kafka jars (full output: $LOG_DIR/maven.out)"
  fi
  printf '%s %s\n' "$stamp" "$(jar_count "$staging")" >"$staging/.complete"
  rm -rf "$LIBS_DIR"
  mv "$staging" "$LIBS_DIR"
  log "jars ready in $LIBS_DIR ($(jar_count "$LIBS_DIR") jars)"
}

# ---------------------------------------------------------------------------
# Local broker process

# kill -0 alone would count a zombie as alive; where PID 1 does not reap
# orphans (some containers) that would make `stop` wait forever.
alive() {
  local state
  state="$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" || return 1
  [[ -n "$state" && "$state" != Z ]]
}

# The pid in kafka.pid, if that process is alive and really is our broker
# (pids get reused after a reboot or a long time).
local_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE" 2>/dev/null)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "kafka.Kafka $CONFIG" || return 1
  printf '%s' "$pid"
}

# Replace each @NAME@ in the template. Done in bash, not sed, so paths and
# passwords with any character are safe. 0600: the file holds passwords.
render_config() {
  local listen_host="$1" advertised_host="$2" line name
  local -A values=(
    [LISTEN_HOST]="$listen_host" [ADVERTISED_HOST]="$advertised_host" [NODE_ID]="$NODE_ID"
    [INTERNAL_PORT]="$NODE_INTERNAL_PORT" [CLIENT_PORT]="$NODE_CLIENT_PORT" [CONTROLLER_PORT]="$NODE_CONTROLLER_PORT"
    [QUORUM_BOOTSTRAP]="$(node_addresses 127.0.0.1 "$CONTROLLER_PORT")"
    [REPLICATION_FACTOR]="$REPLICATION_FACTOR" [MIN_INSYNC]="$MIN_INSYNC"
    [DATA_DIR]="$DATA_DIR" [TLS_DIR]="$TLS_DIR" [KEYSTORE_PASSWORD]="$(<"$TLS_DIR/keystore.password")"
    [PLATFORM_USER]="$PLATFORM_USER" [PLATFORM_PASSWORD]="$(<"$PLATFORM_PASSWORD_FILE")"
    [CONTROLLER_USER]="$CONTROLLER_USER" [CONTROLLER_PASSWORD]="$(<"$CONTROLLER_PASSWORD_FILE")"
  )
  (
    umask 077
    printf '# Generated by scripts/kafka.sh from deploy/kafka/server.properties.template; edits are overwritten.\n'
    while IFS= read -r line || [[ -n "$line" ]]; do
      for name in "${!values[@]}"; do line="${line//@$name@/"${values[$name]}"}"; done
      printf '%s\n' "$line"
    done <"$DEPLOY_DIR/server.properties.template"
  ) >"$CONFIG.tmp"
  chmod 600 "$CONFIG.tmp"
  mv "$CONFIG.tmp" "$CONFIG"
}

# What the data dir must have been formatted for: the security generation and
# the platform password, whose SCRAM credential formatting stored in it.
format_stamp() {
  local quorum=""
  # A node formatted alone cannot join a quorum of N, nor the reverse.
  ((BROKERS == 1)) || quorum=" voters=$BROKERS"
  printf '%s %s%s\n' "$SECURITY_GENERATION" "$(sha256sum <"$PLATFORM_PASSWORD_FILE" | cut -d' ' -f1)" "$quorum"
}

# Same shape as kafka-storage random-uuid (base64url of 16 random bytes),
# without paying for a JVM. A leading '-' would parse as a CLI flag.
random_kafka_uuid() {
  local id="-"
  while [[ "$id" == -* ]]; do id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"; done
  printf '%s' "$id"
}

# The node's metadata directory id, made once: the initial voter set names
# every controller by node id, address and this id.
directory_id() {
  local file="$KAFKA_HOME/node-$1/directory-id"
  mkdir -p "${file%/*}"
  [[ -s "$file" ]] || random_kafka_uuid >"$file"
  cat "$file"
}

# How `format` sets up the quorum: one node stands alone; a cluster starts
# with every node as a voter.
quorum_format_args() {
  if ((BROKERS == 1)); then
    QUORUM_ARGS=(--standalone)
    return
  fi
  local n voters=()
  for n in $(all_nodes); do
    voters+=("$n@127.0.0.1:$((CONTROLLER_PORT + PORT_STEP * (n - 1))):$(directory_id "$n")")
  done
  QUORUM_ARGS=(--initial-controllers "$(IFS=,; printf '%s' "${voters[*]}")")
}

formatted_for_current_security() {
  [[ -f "$DATA_DIR/meta.properties" && -s "$PLATFORM_PASSWORD_FILE" &&
    "$(cat "$FORMAT_STAMP" 2>/dev/null)" == "$(format_stamp)" ]]
}

# A KRaft log dir is formatted once with a cluster id and the first SCRAM
# user; later starts reuse it (topics and data survive stop/start). A dir
# formatted for an older setup (a plaintext broker, or another password) is
# formatted afresh, so a machine upgrades without a manual step.
ensure_formatted() {
  formatted_for_current_security && return 0
  if [[ -f "$DATA_DIR/meta.properties" ]]; then
    log "$DATA_DIR was formatted for another security setup; formatting it afresh (its topics are dropped)"
  fi
  rm -rf "$DATA_DIR" "$FORMAT_STAMP"
  local cluster_id
  if [[ -s "$CLUSTER_ID_FILE" ]]; then
    cluster_id="$(cat "$CLUSTER_ID_FILE")"
  else
    cluster_id="$(random_kafka_uuid)"
    printf '%s\n' "$cluster_id" >"$CLUSTER_ID_FILE"
  fi
  log "formatting KRaft storage (cluster id $cluster_id) with the SCRAM user $PLATFORM_USER"
  mkdir -p "$DATA_DIR"
  quorum_format_args
  java "${TOOL_JVM_OPTS[@]}" -cp "$LIBS_DIR/*" \
    -Dlog4j2.configurationFile="$DEPLOY_DIR/log4j2.yaml" -Dkafka.logs.dir="$LOG_DIR" \
    kafka.tools.StorageTool format "${QUORUM_ARGS[@]}" -t "$cluster_id" -c "$CONFIG" \
    --add-scram "SCRAM-SHA-512=[name=$PLATFORM_USER,password=$(<"$PLATFORM_PASSWORD_FILE")]" \
    >"$LOG_DIR/format.out" 2>&1 ||
    { cat "$LOG_DIR/format.out" >&2; die "formatting $DATA_DIR failed"; }
  format_stamp >"$FORMAT_STAMP"
}

# Everything a broker needs before its JVM starts.
prepare_broker() {
  mkdir -p "$KAFKA_HOME" "$LOG_DIR" "$KAFKA_HOME/logs"
  ensure_libs
  KAFKA_HOME="$KAFKA_HOME" KAFKA_BOOTSTRAP_SERVERS="$BOOTSTRAP" bash "$ROOT/scripts/kafka_secrets.sh"
  render_config "$@"
  ensure_formatted
  cds_opts
}

# Class data sharing: the broker spends most of a ~4 s start loading and
# verifying classes. The first run records its classes on exit
# (-XX:ArchiveClassesAtExit); later runs map that archive and are ready in
# ~2.5 s, which matters for tests that stop and restart the broker. The archive
# is only valid for the exact jar files (the JVM checks paths and mtimes) and
# JVM it was made with; a mismatch silently disables even the JDK's own
# archive, so it must be thrown away, hence the key.
cds_key() {
  local java_bin
  java_bin="$(readlink -f "$(command -v java)")"
  printf '%s %s %s %s\n' "$LIBS_DIR" "$(stat -c %Y "$LIBS_DIR")" "$java_bin" "$(stat -c %Y "$java_bin")"
}

cds_opts() {
  local key
  key="$(cds_key)"
  mkdir -p "${CDS_ARCHIVE%/*}"
  if [[ -s "$CDS_ARCHIVE" && "$(cat "$CDS_ARCHIVE.key" 2>/dev/null)" == "$key" ]]; then
    CDS_OPTS=(-XX:SharedArchiveFile="$CDS_ARCHIVE")
  elif ((NODE_ID != 1)); then
    # The nodes of a cluster share one archive, which node 1 records: three
    # JVMs dumping at once would cost a core each for several seconds.
    CDS_OPTS=()
  else
    rm -f "$CDS_ARCHIVE"
    printf '%s' "$key" >"$CDS_ARCHIVE.key"
    CDS_OPTS=(-XX:ArchiveClassesAtExit="$CDS_ARCHIVE")
  fi
  # Dumping lists every class it can't archive (old bytecode, JFR events...)
  # as a warning; none of it matters, and an unusable archive just means a
  # slower start.
  CDS_OPTS+=('-Xlog:cds*=off')
}

broker_command() {
  BROKER_COMMAND=(
    java "${BROKER_JVM_OPTS[@]}" "${CDS_OPTS[@]}"
    -Dkafka.logs.dir="$LOG_DIR" -Dlog4j2.configurationFile="$DEPLOY_DIR/log4j2.yaml"
    -cp "$LIBS_DIR/*" kafka.Kafka "$CONFIG"
  )
}

launch_broker() {
  local host="$1"
  prepare_broker "$host" "$host"
  broker_command
  log "starting Apache Kafka node $NODE_ID on $host:$NODE_INTERNAL_PORT (clients: $NODE_CLIENT_PORT, controller: $NODE_CONTROLLER_PORT; logs in $LOG_DIR)"
  # setsid: the broker must outlive the shell (and test run) that started it,
  # and not receive that terminal's Ctrl-C. The child writes its own pid
  # before exec'ing java, so kafka.pid is the JVM's pid whatever setsid does.
  # shellcheck disable=SC2016 # expanded by the child shell, on purpose
  setsid "$BASH" -c 'echo $$ >"$0"; exec "$@"' "$PID_FILE" "${BROKER_COMMAND[@]}" \
    >>"$LOG_DIR/kafka.out" 2>&1 </dev/null 9>&- &
  # fd 9 (the start/stop lock) is closed above: a broker inheriting it would
  # hold the lock for its whole life and block every later start/stop.
  # Wait until the pid file names the JVM itself, not the shell before exec.
  local deadline=$((SECONDS + 5))
  until local_pid >/dev/null; do
    ((SECONDS < deadline)) || break # wait_until_ready reports the failure
    sleep 0.05
  done
}

wait_until_ready() {
  local deadline=$((SECONDS + START_TIMEOUT)) dots=$SECONDS
  printf 'kafka: waiting for the broker at %s ' "$NODE_BOOTSTRAP" >&2
  # A refused connection ends a probe at once; one dot a second at most.
  until PROBE_BOOTSTRAP="$NODE_BOOTSTRAP" broker_answers 1 2>"$LOG_DIR/probe.out"; do
    if ! local_pid >/dev/null; then
      printf '\n' >&2
      log "the broker process exited during startup; last log lines:"
      tail -n 20 "$LOG_DIR/kafka.out" >&2 2>/dev/null || true
      grep -E ' (ERROR|FATAL) ' "$LOG_DIR/server.log" 2>/dev/null | tail -n 5 >&2 || true
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      printf '\n' >&2
      cat "$LOG_DIR/probe.out" >&2
      # Waiting does not mend this one: see the template's snapshot interval.
      grep -q 'authentication failed' "$LOG_DIR/probe.out" 2>/dev/null &&
        log "the broker refuses the platform's password file; if that file is unchanged, this data dir has lost its SCRAM credentials (README: Brokers of your own): stop, delete $DATA_DIR and start again to format it afresh (its topics are dropped)"
      die "no metadata answer from $NODE_BOOTSTRAP after ${START_TIMEOUT}s (see $LOG_DIR/server.log)"
    fi
    ((SECONDS == dots)) || { dots=$SECONDS; printf '.' >&2; }
    sleep 0.2
  done
  printf ' ready\n' >&2
}

stop_broker() {
  local pid="$1"
  log "stopping broker (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  wait_for_exit "$pid"
}

# After SIGTERM: wait for the broker's exit, killing it if it takes too long.
wait_for_exit() {
  local pid="$1" deadline=$((SECONDS + STOP_TIMEOUT))
  while alive "$pid"; do
    if ((SECONDS >= deadline)); then
      log "broker did not exit within ${STOP_TIMEOUT}s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      # It may have been killed mid-way through writing the class archive.
      rm -f "$CDS_ARCHIVE" "$CDS_ARCHIVE.key"
      break
    fi
    sleep 0.1
  done
  # After SIGKILL the pid lingers until the kernel reaps it; the log dir
  # lock and the listening ports are only free once it is really gone.
  deadline=$((SECONDS + 10))
  while alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
  alive "$pid" && die "broker (pid $pid) survived SIGKILL"
  rm -f "$PID_FILE"
}

# Serialise start/stop: parallel test workers may all call `start`.
take_lock() {
  mkdir -p "$KAFKA_HOME"
  exec 9>"$LOCK_FILE"
  flock -w $((START_TIMEOUT + 120)) 9 || die "timed out waiting for another kafka.sh to finish"
}

# ---------------------------------------------------------------------------
# Subcommands

cmd_start() {
  take_lock
  local pid=""
  pid="$(local_pid)" || pid=""
  # Ours, but started before the current security setup (e.g. the plaintext
  # broker of an older checkout): replace it rather than wait for an answer
  # it cannot give.
  if [[ -n "$pid" ]] && ! formatted_for_current_security; then
    log "the running broker predates the current security setup; restarting it"
    stop_broker "$pid"
    pid=""
  fi
  if broker_answers 2>/dev/null; then
    [[ -n "$pid" ]] && log "broker running (pid $pid) at $BOOTSTRAP" ||
      log "a broker already answers at $BOOTSTRAP; not starting another"
    return 0
  fi
  if [[ -z "$pid" ]]; then
    rm -f "$PID_FILE"
    is_local_host "$BROKER_HOST" ||
      die "nothing answers at $BOOTSTRAP, and $BROKER_HOST is not this machine; start that broker, or unset KAFKA_BOOTSTRAP_SERVERS for a local one"
    launch_broker "${BROKER_HOST/0.0.0.0/127.0.0.1}"
  fi
  # Ours, just launched or still starting: wait for it.
  wait_until_ready
  broker_answers 5 --warm-producer-ids 2>/dev/null || true
  log "broker running (pid $(local_pid)) at $BOOTSTRAP"
}

# The nodes named on the command line (default: all), checked.
requested_nodes() {
  local n
  [[ $# -gt 0 ]] || set -- $(all_nodes)
  for n in "$@"; do
    [[ "$n" =~ ^[1-9]$ ]] && ((n <= BROKERS)) || die "no node $n in a cluster of $BROKERS (KAFKA_BROKERS)"
  done
  printf '%s\n' "$@"
}

# A local cluster: every requested node that is not running is launched at
# once (they elect a controller together), then each is waited for.
cmd_start_cluster() {
  take_lock
  is_local_host "$BROKER_HOST" || die "KAFKA_BROKERS > 1 starts a local cluster; $BROKER_HOST is not this machine"
  local nodes n pid
  nodes=$(requested_nodes "$@")
  for n in $nodes; do
    node_select "$n"
    pid="$(local_pid)" || pid=""
    if [[ -n "$pid" ]] && ! formatted_for_current_security; then
      log "node $n predates the current setup; restarting it"
      stop_broker "$pid"
      pid=""
    fi
    [[ -n "$pid" ]] || { rm -f "$PID_FILE"; launch_broker "${BROKER_HOST/0.0.0.0/127.0.0.1}"; }
  done
  for n in $nodes; do
    node_select "$n"
    wait_until_ready
  done
  PROBE_BOOTSTRAP="$(node_addresses "${BROKER_HOST/0.0.0.0/127.0.0.1}" "$INTERNAL_PORT")" \
    broker_answers 5 --warm-producer-ids 2>/dev/null || true
  log "cluster of $BROKERS running at $(node_addresses "${BROKER_HOST/0.0.0.0/127.0.0.1}" "$INTERNAL_PORT") (started: $(echo $nodes))"
}

# SIGTERM to every requested node first, then wait: a node stopped last
# must not wait for a controller quorum the others already left.
cmd_stop_cluster() {
  take_lock
  local nodes n pid pids=()
  nodes=$(requested_nodes "$@")
  for n in $nodes; do
    node_select "$n"
    if pid="$(local_pid)"; then
      log "stopping node $n (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$n:$pid")
    else
      rm -f "$PID_FILE"
    fi
  done
  for pid in "${pids[@]}"; do
    node_select "${pid%%:*}"
    wait_for_exit "${pid#*:}"
  done
  log "stopped node(s) $(echo $nodes)"
}

# What the platform's settings need to reach this broker or cluster.
cmd_env() {
  local host="${BROKER_HOST/0.0.0.0/127.0.0.1}"
  printf 'export KAFKA_BOOTSTRAP_SERVERS=%q\n' "$(node_addresses "$host" "$INTERNAL_PORT")"
  printf 'export KAFKA_CLIENT_BOOTSTRAP_SERVERS=%q\n' "$(node_addresses "$host" "$CLIENT_PORT")"
  printf 'export KAFKA_SASL_PASSWORD_FILE=%q\n' "$PLATFORM_PASSWORD_FILE"
  printf 'export KAFKA_CA_FILE=%q\n' "$TLS_DIR/ca.pem"
}

cmd_stop() {
  take_lock
  local pid
  if ! pid="$(local_pid)"; then
    rm -f "$PID_FILE"
    log "not running (nothing started by this script)"
    return 0
  fi
  stop_broker "$pid"
  log "stopped"
}

cmd_status() {
  local pid answer="not answering at $BOOTSTRAP yet"
  broker_answers 2>/dev/null && answer="answering at $BOOTSTRAP"
  if pid="$(local_pid)"; then
    echo "running (pid $pid, $answer)"
  elif [[ "$answer" == answering* ]]; then
    echo "running (a broker not started by this script, $answer)"
  else
    echo "not running"
    return 1
  fi
}

# For containers: the broker is the container's main process, advertised at
# the bootstrap host (its service name) and listening on every interface.
cmd_run() {
  prepare_broker 0.0.0.0 "$BROKER_HOST"
  broker_command
  exec "${BROKER_COMMAND[@]}"
}

usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$SELF" >&2
  exit 2
}

command="${1:-}"
shift || true
case "$command" in
  start) if ((BROKERS == 1)); then cmd_start; else cmd_start_cluster "$@"; fi ;;
  stop) if ((BROKERS == 1)); then cmd_stop; else cmd_stop_cluster "$@"; fi ;;
  status) cmd_status ;;
  env) cmd_env ;;
  run) cmd_run ;;
  *) usage ;;
esac
