#!/usr/bin/env bash
# The local Kafka broker's secrets, each created once under $KAFKA_HOME and
# kept across restarts. scripts/kafka.sh runs this before it starts a broker;
# docker-compose.yml runs it on its own, in a container that has openssl.
#
#   tls/ca.pem                  a local CA's certificate, handed to SDK clients
#   tls/broker.p12              the broker's key and certificate (PKCS12), its
#                               password in tls/keystore.password
#   platform.password           SCRAM-SHA-512 password of noreboot-platform
#   controller.password         PLAIN password of the KRaft controller principal
#   platform-client.properties  the platform's login, for Kafka's CLI tools
#
# Environment: KAFKA_HOME (default <repo>/.local/kafka); KAFKA_BOOTSTRAP_SERVERS,
# whose host the certificate names besides 127.0.0.1 and localhost when it is
# not this machine (a container's service name).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KAFKA_HOME="${KAFKA_HOME:-$ROOT/.local/kafka}"
TLS_DIR="$KAFKA_HOME/tls"
LOG_DIR="$KAFKA_HOME/logs"
PLATFORM_PASSWORD_FILE="$KAFKA_HOME/platform.password"
BROKER_HOST="${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:9092}"
BROKER_HOST="${BROKER_HOST%%,*}"
BROKER_HOST="${BROKER_HOST#*://}"
BROKER_HOST="${BROKER_HOST%:*}"

# A random password in FILE (mode 0600, no newline), unless FILE has one.
ensure_password() {
  [[ -s "$1" ]] && return 0
  (umask 077 && od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$1.tmp") && mv "$1.tmp" "$1"
}

# A local CA signs the broker's certificate; its key is thrown away once it
# has, so nothing on disk can sign another certificate that clients trust.
ensure_tls() {
  [[ -s "$TLS_DIR/ca.pem" && -s "$TLS_DIR/broker.p12" && -s "$TLS_DIR/keystore.password" ]] && return 0
  command -v openssl >/dev/null || { echo "kafka: error: openssl not found (apt-get install openssl)" >&2; exit 1; }
  local names="IP:127.0.0.1,DNS:localhost" staging="$TLS_DIR.partial"
  case "$BROKER_HOST" in
    127.0.0.1 | localhost | 0.0.0.0) ;;
    *) names+=",DNS:$BROKER_HOST" ;;
  esac
  echo "kafka: creating a local CA and the broker's TLS certificate ($names) in $TLS_DIR" >&2
  rm -rf "$staging"
  mkdir -p "$staging" "$LOG_DIR"
  ensure_password "$staging/keystore.password"
  if ! (
    cd "$staging" && umask 077 &&
      openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
        -subj "/CN=No-Reboot HQ local Kafka CA" -keyout ca.key -out ca.pem \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign &&
      openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -subj "/CN=${BROKER_HOST/0.0.0.0/127.0.0.1}" -keyout broker.key -out broker.csr &&
      openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -days 3650 \
        -set_serial "0x$(openssl rand -hex 16)" -out broker.pem -extfile <(
          printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n' "$names"
        ) &&
      openssl pkcs12 -export -name broker -in broker.pem -inkey broker.key -certfile ca.pem \
        -passout file:keystore.password -out broker.p12 &&
      rm ca.key broker.key broker.csr && chmod 644 ca.pem broker.pem
  ) >"$LOG_DIR/openssl.out" 2>&1; then
    cat "$LOG_DIR/openssl.out" >&2
    echo "kafka: error: could not create the TLS material" >&2
    exit 1
  fi
  rm -rf "$TLS_DIR"
  mv "$staging" "$TLS_DIR"
}

mkdir -p "$KAFKA_HOME"
ensure_password "$PLATFORM_PASSWORD_FILE"
ensure_password "$KAFKA_HOME/controller.password"
ensure_tls
(
  umask 077
  printf '%s\n' "security.protocol=SASL_PLAINTEXT" "sasl.mechanism=SCRAM-SHA-512" \
    "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"noreboot-platform\" password=\"$(<"$PLATFORM_PASSWORD_FILE")\";" \
    >"$KAFKA_HOME/platform-client.properties"
)
