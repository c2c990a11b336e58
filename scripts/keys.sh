#!/usr/bin/env bash
# The platform's own secrets, each created once (random) and kept: `make run`,
# `make test` and every other target that starts the platform run this first.
# Settings read them unless the environment passes its own (platform/config_service/settings.py).
#
#   secret-key        NOREBOOT_SECRET_KEY: Django's key; Kafka passwords of service tokens derive from it
#   jwt-signing-key   NOREBOOT_JWT_SIGNING_KEY: signs the API's access and refresh tokens
#   admin-password    NOREBOOT_ADMIN_PASSWORD: the staff user demo_setup creates
#   demo-password     NOREBOOT_DEMO_PASSWORD: the demo user demo_setup creates
#   secret-value-keys NOREBOOT_SECRET_KEYS: AES-256 keys (hex, comma-separated, newest first) of secret configs
#   secret-fingerprint-key NOREBOOT_SECRET_FINGERPRINT_KEY: the HMAC key of secret configs' fingerprints
#
# Environment: NOREBOOT_KEYS_DIR (default <repo>/.local/keys).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KEYS_DIR="${NOREBOOT_KEYS_DIR:-$ROOT/.local/keys}"

# BYTES random bytes as hex in FILE (mode 0600, no newline), unless FILE has a value.
ensure_random() {
  [[ -s "$1" ]] && return 0
  (umask 077 && od -An -N"$2" -tx1 /dev/urandom | tr -d ' \n' >"$1.tmp") && mv "$1.tmp" "$1"
}

mkdir -p "$KEYS_DIR"
chmod 700 "$KEYS_DIR"
ensure_random "$KEYS_DIR/secret-key" 32
ensure_random "$KEYS_DIR/jwt-signing-key" 32
ensure_random "$KEYS_DIR/admin-password" 12
ensure_random "$KEYS_DIR/demo-password" 12
ensure_random "$KEYS_DIR/secret-value-keys" 32
ensure_random "$KEYS_DIR/secret-fingerprint-key" 32
