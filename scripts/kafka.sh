#!/usr/bin/env bash
# Local Apache Kafka for No-Reboot HQ, without Docker.
#
#   scripts/kafka.sh start         ensure a broker answers at $KAFKA_BOOTSTRAP_SERVERS
#                                  (starting a local KRaft node if none does) and
#                                  that the topic exists
#   scripts/kafka.sh stop          stop the broker this script started
#   scripts/kafka.sh status        exit 0 if a broker is running/answering, else 1
#   scripts/kafka.sh create-topic  create $KAFKA_TOPIC if it does not exist
#
# The broker is the real Apache Kafka (kafka_2.13, see deploy/kafka/pom.xml),
# its jars resolved from Maven Central by Maven, and run on the machine's Java.
# Everything it writes lives under .local/ in this repo.
#
# Environment:
#   KAFKA_BOOTSTRAP_SERVERS   default 127.0.0.1:9092
#   KAFKA_TOPIC               default config_updates
#   KAFKA_PARTITIONS          default 6
#   KAFKA_REPLICATION_FACTOR  default 1
#   KAFKA_CONTROLLER_PORT     default 9093 (local broker's KRaft controller)
#   KAFKA_START_TIMEOUT       default 90 (seconds to wait for the broker)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SELF="$ROOT/scripts/kafka.sh"
DEPLOY_DIR="$ROOT/deploy/kafka"
KAFKA_HOME="$ROOT/.local/kafka"
LIBS_DIR="$KAFKA_HOME/libs"
DATA_DIR="$KAFKA_HOME/data"
LOG_DIR="$KAFKA_HOME/logs"
CONFIG="$KAFKA_HOME/server.properties"
PID_FILE="$KAFKA_HOME/kafka.pid"
CLUSTER_ID_FILE="$KAFKA_HOME/cluster-id"
LOCK_FILE="$KAFKA_HOME/.lock"
CDS_ARCHIVE="$KAFKA_HOME/cds/kafka.jsa"
M2_REPO="$ROOT/.local/m2"

BOOTSTRAP="${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:9092}"
TOPIC="${KAFKA_TOPIC:-config_updates}"
PARTITIONS="${KAFKA_PARTITIONS:-6}"
REPLICATION_FACTOR="${KAFKA_REPLICATION_FACTOR:-1}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
STOP_TIMEOUT=20

# Lean on purpose: 2-core dev machines and CI runners. G1 with Kafka's own
# pause target keeps produce latency flat; thread counts are capped so the
# JVM doesn't size its GC/compiler pools for a server.
BROKER_JVM_OPTS=(
  -Xms256m -Xmx512m
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

# ---------------------------------------------------------------------------
# Bootstrap address handling

# First entry of the comma-separated bootstrap list, without a PLAINTEXT:// prefix.
first_bootstrap() {
  local first="${BOOTSTRAP%%,*}"
  first="${first#*://}"
  printf '%s' "$first"
}

is_local_host() {
  case "$1" in
    127.0.0.1 | localhost | 0.0.0.0) return 0 ;;
    *) return 1 ;;
  esac
}

# ---------------------------------------------------------------------------
# Wire-protocol probes.
#
# Readiness must mean "answers Metadata requests", not "port is open": the
# socket accepts connections well before the broker has registered with the
# controller. A JVM tool would prove that too, but costs 1-2 s per call on a
# small machine, and tests call `start` a lot. So we speak the Kafka protocol
# directly from bash (~20 ms a call), using old, non-flexible request versions
# that Kafka 4.x still serves, and parse the responses far enough to judge.
# The probes always run in their own process under `timeout` (see
# probe_bootstrap), because /dev/tcp has no timeout of its own.

_hex16() { printf '\\x%02x\\x%02x' $((($1 >> 8) & 255)) $(($1 & 255)); }
_hex32() {
  printf '\\x%02x\\x%02x\\x%02x\\x%02x' \
    $((($1 >> 24) & 255)) $((($1 >> 16) & 255)) $((($1 >> 8) & 255)) $(($1 & 255))
}

# kafka_call HOST PORT API_KEY API_VERSION BODY_BYTES BODY_ESCAPED
# Sends one request (header v1) and leaves the response body, after the
# correlation id, in the array b (one decimal number per byte, since bash
# strings can't hold NULs) with the read position i at its start.
kafka_call() {
  local host="$1" port="$2" api_key="$3" api_version="$4" body_len="$5" body="$6"
  local client="kafka.sh" correlation=7 len
  exec 3<>"/dev/tcp/$host/$port" || return 2
  # Our client id and topic names are ASCII, so ${#x} is their byte length.
  local size=$((2 + 2 + 4 + 2 + ${#client} + body_len))
  printf '%b' "$(_hex32 "$size")$(_hex16 "$api_key")$(_hex16 "$api_version")$(_hex32 "$correlation")$(_hex16 ${#client})${client}${body}" >&3
  # Word splitting is safe here: od prints only digits.
  # shellcheck disable=SC2207
  b=($(head -c 4 <&3 | od -An -v -tu1))
  ((${#b[@]} == 4)) || return 3
  len=$(((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]))
  ((len >= 4 && len < 10000000)) || return 3
  # shellcheck disable=SC2207
  b=($(head -c "$len" <&3 | od -An -v -tu1))
  exec 3<&-
  ((${#b[@]} == len)) || return 3
  i=0
  i32
  ((v == correlation)) || return 4
}

# Big-endian readers over b at position i; the value lands in v.
i16() { v=$(((b[i] << 8) | b[i + 1])); i=$((i + 2)); ((v < 32768)) || v=$((v - 65536)); }
i32() {
  v=$(((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3])); i=$((i + 4))
  ((v < 2147483648)) || v=$((v - 4294967296))
}
skip_str() { i16; ((v < 0)) || i=$((i + v)); } # string or nullable string

# Metadata v4 for one topic, allow_auto_topic_creation=false.
# Prints "BROKERS TOPIC_ERROR PARTITIONS LEADERLESS".
probe_metadata() {
  local host="$1" port="$2" topic="$3"
  local -a b
  local i v
  kafka_call "$host" "$port" 3 4 $((4 + 2 + ${#topic} + 1)) \
    "$(_hex32 1)$(_hex16 ${#topic})${topic}\\x00" || return

  i32 # throttle_time_ms
  local brokers n
  i32; brokers=$v
  for ((n = 0; n < brokers; n++)); do
    i32; skip_str; i32; skip_str # node_id, host, port, rack
  done
  skip_str # cluster_id
  i32      # controller_id

  local topics topic_error=-1 partitions=0 leaderless=0 p leader err
  i32; topics=$v
  if ((topics >= 1)); then
    i16; topic_error=$v
    skip_str     # name (we asked for exactly one)
    i=$((i + 1)) # is_internal
    i32; partitions=$v
    for ((p = 0; p < partitions; p++)); do
      i16; err=$v
      i32 # partition_index
      i32; leader=$v
      i32; i=$((i + 4 * v)) # replica_nodes
      i32; i=$((i + 4 * v)) # isr_nodes
      ((err == 0 && leader >= 0)) || leaderless=$((leaderless + 1))
    done
  fi
  ((i <= ${#b[@]})) || return 5
  printf '%s %s %s %s\n' "$brokers" "$topic_error" "$partitions" "$leaderless"
}

# InitProducerId v0 for a non-transactional (idempotent) producer; prints the
# error code. A freshly started broker answers the first one with
# COORDINATOR_LOAD_IN_PROGRESS while it fetches a block of producer ids from
# the controller, which costs an idempotent producer (the outbox relay) a ~1 s
# retry; `start` makes that first call itself so clients don't have to.
probe_producer_id() {
  local -a b
  local i v
  kafka_call "$1" "$2" 22 0 6 "$(_hex16 65535)$(_hex32 60000)" || return
  i32 # throttle_time_ms
  i16
  printf '%s\n' "$v"
}

# probe_bootstrap metadata|producer-id: ask each bootstrap server in turn;
# print the first answer.
probe_bootstrap() {
  local kind="$1" server host port out servers
  IFS=',' read -r -a servers <<<"$BOOTSTRAP"
  for server in "${servers[@]}"; do
    server="${server#*://}"
    host="${server%:*}"
    port="${server##*:}"
    if out="$(timeout 5 "$BASH" "$SELF" "__probe-$kind" "$host" "$port" "$TOPIC" 2>/dev/null)"; then
      printf '%s\n' "$out"
      return 0
    fi
  done
  return 1
}

# True when some broker answers Metadata and at least one broker is alive.
broker_answers() {
  local out
  out="$(probe_bootstrap metadata)" || return 1
  [[ "${out%% *}" -ge 1 ]]
}

# True when the topic exists and every partition has a leader.
topic_ready() {
  local brokers err parts leaderless
  read -r brokers err parts leaderless <<<"$(probe_bootstrap metadata)" || return 1
  [[ "${err:-x}" == 0 && "${parts:-0}" -ge 1 && "${leaderless:-1}" == 0 ]]
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
    die "Maven could not resolve the Kafka jars (full output: .local/kafka/logs/maven.out)"
  fi
  printf '%s %s\n' "$stamp" "$(jar_count "$staging")" >"$staging/.complete"
  rm -rf "$LIBS_DIR"
  mv "$staging" "$LIBS_DIR"
  log "jars ready in .local/kafka/libs ($(jar_count "$LIBS_DIR") jars)"
}

run_tool() {
  java "${TOOL_JVM_OPTS[@]}" -cp "$LIBS_DIR/*" "$@"
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

# Replace each @NAME@ in the template. Done in bash, not sed, so paths with
# any character are safe.
render_config() {
  local host="$1" port="$2" line
  {
    printf '# Generated by scripts/kafka.sh from deploy/kafka/server.properties.template; edits are overwritten.\n'
    while IFS= read -r line || [[ -n "$line" ]]; do
      line="${line//@BROKER_HOST@/$host}"
      line="${line//@BROKER_PORT@/$port}"
      line="${line//@CONTROLLER_PORT@/$CONTROLLER_PORT}"
      line="${line//@DATA_DIR@/$DATA_DIR}"
      printf '%s\n' "$line"
    done <"$DEPLOY_DIR/server.properties.template"
  } >"$CONFIG.tmp"
  mv "$CONFIG.tmp" "$CONFIG"
}

# A KRaft log dir must be formatted exactly once with a cluster id; later
# starts reuse it (topics and data survive stop/start).
ensure_formatted() {
  [[ -f "$DATA_DIR/meta.properties" ]] && return 0
  local cluster_id
  if [[ -s "$CLUSTER_ID_FILE" ]]; then
    cluster_id="$(cat "$CLUSTER_ID_FILE")"
  else
    # Same shape as kafka-storage random-uuid (base64url of 16 random bytes),
    # without paying for a JVM. A leading '-' would parse as a CLI flag.
    cluster_id="-"
    while [[ "$cluster_id" == -* ]]; do
      cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    done
    printf '%s\n' "$cluster_id" >"$CLUSTER_ID_FILE"
  fi
  log "formatting KRaft storage (cluster id $cluster_id)"
  mkdir -p "$DATA_DIR"
  run_tool -Dlog4j2.configurationFile="$DEPLOY_DIR/log4j2.yaml" -Dkafka.logs.dir="$LOG_DIR" \
    kafka.tools.StorageTool format --standalone --ignore-formatted \
    -t "$cluster_id" -c "$CONFIG" >"$LOG_DIR/format.out" 2>&1 ||
    { cat "$LOG_DIR/format.out" >&2; die "formatting $DATA_DIR failed"; }
}

launch_broker() {
  local host="$1" port="$2"
  mkdir -p "$KAFKA_HOME" "$LOG_DIR"
  render_config "$host" "$port"
  ensure_formatted
  cds_opts
  log "starting Apache Kafka $(kafka_version) on $host:$port (logs in .local/kafka/logs)"
  # setsid: the broker must outlive the shell (and test run) that started it,
  # and not receive that terminal's Ctrl-C. The child writes its own pid
  # before exec'ing java, so kafka.pid is the JVM's pid whatever setsid does.
  # shellcheck disable=SC2016 # expanded by the child shell, on purpose
  setsid "$BASH" -c 'echo $$ >"$0"; exec "$@"' "$PID_FILE" \
    java "${BROKER_JVM_OPTS[@]}" "${CDS_OPTS[@]}" \
    -Dkafka.logs.dir="$LOG_DIR" \
    -Dlog4j2.configurationFile="$DEPLOY_DIR/log4j2.yaml" \
    -cp "$LIBS_DIR/*" \
    kafka.Kafka "$CONFIG" \
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
  printf '%s %s %s %s\n' "$LIBS_DIR" "$(stat -c %Y "$LIBS_DIR/.complete")" \
    "$java_bin" "$(stat -c %Y "$java_bin")"
}

cds_opts() {
  local key
  key="$(cds_key)"
  mkdir -p "${CDS_ARCHIVE%/*}"
  if [[ -s "$CDS_ARCHIVE" && "$(cat "$CDS_ARCHIVE.key" 2>/dev/null)" == "$key" ]]; then
    CDS_OPTS=(-XX:SharedArchiveFile="$CDS_ARCHIVE")
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

kafka_version() {
  local jar
  jar="$(find "$LIBS_DIR" -maxdepth 1 -name 'kafka_2.13-*.jar' -print -quit)"
  jar="${jar##*/kafka_2.13-}"
  printf '%s' "${jar%.jar}"
}

wait_until_ready() {
  local deadline=$((SECONDS + START_TIMEOUT)) polls=0
  printf 'kafka: waiting for the broker at %s ' "$BOOTSTRAP" >&2
  # Poll 5x a second (a probe costs ~20 ms) but print one dot per second.
  until broker_answers; do
    if ! local_pid >/dev/null; then
      printf '\n' >&2
      log "the broker process exited during startup; last log lines:"
      tail -n 20 "$LOG_DIR/kafka.out" >&2 2>/dev/null || true
      grep -E ' (ERROR|FATAL) ' "$LOG_DIR/server.log" 2>/dev/null | tail -n 5 >&2 || true
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      printf '\n' >&2
      die "no metadata answer from $BOOTSTRAP after ${START_TIMEOUT}s (see .local/kafka/logs/server.log)"
    fi
    polls=$((polls + 1))
    ((polls % 5)) || printf '.' >&2
    sleep 0.2
  done
  printf ' ready\n' >&2
}

# Serialise start/stop: parallel test workers may all call `start`.
take_lock() {
  mkdir -p "$KAFKA_HOME"
  exec 9>"$LOCK_FILE"
  flock -w $((START_TIMEOUT + 120)) 9 || die "timed out waiting for another kafka.sh to finish"
}

# ---------------------------------------------------------------------------
# Subcommands

cmd_create_topic() {
  local out brokers err parts leaderless
  if out="$(probe_bootstrap metadata)"; then
    read -r brokers err parts leaderless <<<"$out"
    if [[ "$err" == 0 ]]; then
      if [[ "$parts" != "$PARTITIONS" ]]; then
        log "warning: topic $TOPIC exists with $parts partitions (KAFKA_PARTITIONS=$PARTITIONS); leaving it as is"
      fi
      wait_for_topic
      return 0
    fi
  else
    die "no broker answers at $BOOTSTRAP (run: scripts/kafka.sh start)"
  fi
  ensure_libs
  log "creating topic $TOPIC ($PARTITIONS partitions, replication factor $REPLICATION_FACTOR)"
  run_tool org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "$BOOTSTRAP" \
    --create --if-not-exists \
    --topic "$TOPIC" \
    --partitions "$PARTITIONS" \
    --replication-factor "$REPLICATION_FACTOR" >&2
  wait_for_topic
}

# Creation returns once the controller has recorded the topic; producers need
# every partition to have a leader, which takes a moment more.
wait_for_topic() {
  local deadline=$((SECONDS + 30))
  until topic_ready; do
    ((SECONDS < deadline)) || die "topic $TOPIC has partitions without a leader after 30s"
    sleep 0.2
  done
}

# See probe_producer_id. Only "load in progress" (14) is worth waiting for;
# anything else (e.g. an ACL-protected external broker) is the client's business.
warm_producer_ids() {
  local deadline=$((SECONDS + 15)) err
  while err="$(probe_bootstrap producer-id)" && [[ "$err" == 14 ]]; do
    ((SECONDS < deadline)) || { log "warning: broker still loading producer ids after 15s"; return 0; }
    sleep 0.1
  done
}

# What `start` promises callers beyond "answers metadata": the topic exists
# with leaders, and idempotent producers get a producer id without retrying.
ready_for_clients() {
  cmd_create_topic
  warm_producer_ids
}

cmd_start() {
  take_lock
  local pid
  if ! local_pid >/dev/null && broker_answers; then
    log "a broker already answers at $BOOTSTRAP; not starting another"
    ready_for_clients
    return 0
  fi
  if pid="$(local_pid)"; then
    # Ours, and either ready or still starting: just wait for it.
    broker_answers || wait_until_ready
    log "broker running (pid $pid) at $BOOTSTRAP"
    ready_for_clients
    return 0
  fi
  rm -f "$PID_FILE"

  local first host port
  first="$(first_bootstrap)"
  host="${first%:*}"
  port="${first##*:}"
  is_local_host "$host" ||
    die "nothing answers at $BOOTSTRAP, and $host is not this machine; start that broker, or unset KAFKA_BOOTSTRAP_SERVERS for a local one"
  [[ "$host" == 0.0.0.0 ]] && host=127.0.0.1

  ensure_libs
  launch_broker "$host" "$port"
  wait_until_ready
  log "broker running (pid $(cat "$PID_FILE")) at $BOOTSTRAP"
  ready_for_clients
}

cmd_stop() {
  take_lock
  local pid
  if ! pid="$(local_pid)"; then
    rm -f "$PID_FILE"
    log "not running (nothing started by this script)"
    return 0
  fi
  log "stopping broker (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_TIMEOUT))
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
  log "stopped"
}

cmd_status() {
  local pid
  if pid="$(local_pid)"; then
    if broker_answers; then
      echo "running (pid $pid, answering at $BOOTSTRAP)"
    else
      echo "running (pid $pid, not answering at $BOOTSTRAP yet)"
    fi
    return 0
  fi
  if broker_answers; then
    echo "running (a broker not started by this script answers at $BOOTSTRAP)"
    return 0
  fi
  echo "not running"
  return 1
}

usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$SELF" >&2
  exit 2
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  create-topic) cmd_create_topic ;;
  # Internal: run in a child process under `timeout` by probe_bootstrap.
  __probe-metadata) shift; probe_metadata "$@" ;;
  __probe-producer-id) shift; probe_producer_id "$@" ;;
  *) usage ;;
esac
