"""The one settings module. Production differs only by environment variables."""

import ipaddress
import os
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote, urlparse

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).lower() in {"1", "true", "yes", "on"}


def database_from_url(url: str) -> dict:
    parsed = urlparse(url)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parsed.path.lstrip("/"),
        "USER": unquote(parsed.username or ""),
        "PASSWORD": unquote(parsed.password or ""),
        "HOST": parsed.hostname or "127.0.0.1",
        "PORT": str(parsed.port or 5432),
        # Persistent connections: a write is a handful of short statements, and
        # reconnecting per request would cost more than the statements.
        "CONN_MAX_AGE": env_int("DATABASE_CONN_MAX_AGE", 60),
        # Not Django's `SELECT 1` per request: config_service/dropped_connections.py
        # notices an ended session without a round trip.
        "CONN_HEALTH_CHECKS": False,
        # One test database per test run, so that runs sharing a server never
        # drop each other's database.
        "TEST": {"NAME": env_str("DATABASE_TEST_NAME", f"test_{parsed.path.lstrip('/')}_{os.getpid()}")},
    }


def secret_from_env_or_file(name: str, default_file: Path) -> str:
    """A secret from the environment, else from the file the project's scripts wrote."""
    if os.environ.get(name):
        return os.environ[name]
    path = Path(os.environ.get(f"{name}_FILE", default_file))
    return path.read_text().strip() if path.is_file() else ""


DEBUG = env_bool("NOREBOOT_DEBUG", False)
# Random keys and passwords that scripts/keys.sh writes once (`make keys`, run by
# `make run` and `make test`); production passes its own through the environment.
KEYS_DIR = BASE_DIR / ".local" / "keys"
# Keys that were once published as defaults, and so sign tokens for anyone.
PUBLISHED_KEYS = frozenset({
    "dev-only-secret-key-change-me-in-production", "dev-only-jwt-signing-key-change-me-in-production",
    "change-me", "change-me-too",
})
MIN_KEY_LENGTH = 50


def signing_key(name: str, default_file: Path) -> str:
    """A key from the environment or its file. Outside debug mode a weak one
    stops the process with one line naming the variable, before it serves anything."""
    key = secret_from_env_or_file(name, default_file)
    if not key:
        problem = "is not set"
    elif DEBUG:
        return key
    elif key in PUBLISHED_KEYS or key.startswith("django-insecure-"):
        problem = "is a published default"
    elif len(key) < MIN_KEY_LENGTH or len(set(key)) < 5:
        problem = f"is shorter than {MIN_KEY_LENGTH} characters or repetitive"
    else:
        return key
    raise SystemExit(
        f"error: {name} {problem}; set {name} (or {name}_FILE) to a random key of at least "
        f"{MIN_KEY_LENGTH} characters (`make keys` writes one under .local/keys/)"
    )


SECRET_KEY = signing_key("NOREBOOT_SECRET_KEY", KEYS_DIR / "secret-key")
# Secret configs (apps/configs/secrets.py): AES-256 keys as hex, comma-separated,
# newest first (the newest encrypts, all decrypt); the fingerprint key is separate
# so that fingerprints stay the same when the encryption keys rotate.
SECRET_VALUE_KEYS = signing_key("NOREBOOT_SECRET_KEYS", KEYS_DIR / "secret-value-keys")
if not re.fullmatch(r"[0-9a-fA-F]{64}( *, *[0-9a-fA-F]{64})*", SECRET_VALUE_KEYS):
    raise SystemExit(
        "error: NOREBOOT_SECRET_KEYS holds AES-256 keys of 64 hex characters, comma-separated, newest first"
    )
SECRET_FINGERPRINT_KEY = signing_key("NOREBOOT_SECRET_FINGERPRINT_KEY", KEYS_DIR / "secret-fingerprint-key")
# The passwords demo_setup gives the staff and demo users it creates.
DEMO_ADMIN_PASSWORD = secret_from_env_or_file("NOREBOOT_ADMIN_PASSWORD", KEYS_DIR / "admin-password")
DEMO_USER_PASSWORD = secret_from_env_or_file("NOREBOOT_DEMO_PASSWORD", KEYS_DIR / "demo-password")
ALLOWED_HOSTS = env_str("NOREBOOT_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")

# Behind HTTPS (NOREBOOT_HTTPS, on in production): cookies only over TLS, plain
# HTTP redirected (but the probes, which load balancers send over plain HTTP),
# HSTS for NOREBOOT_HSTS_SECONDS. A TLS-terminating proxy names the scheme the
# client used in NOREBOOT_PROXY_SSL_HEADER (e.g. X-Forwarded-Proto: https).
HTTPS = env_bool("NOREBOOT_HTTPS", False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SECURE_SSL_REDIRECT = HTTPS
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("NOREBOOT_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("NOREBOOT_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("NOREBOOT_HSTS_PRELOAD", False)
PROXY_SSL_HEADER = env_str("NOREBOOT_PROXY_SSL_HEADER", "")
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_" + PROXY_SSL_HEADER.upper().replace("-", "_"), "https") if PROXY_SSL_HEADER else None
)
# Addresses (or networks) of the proxies in front, whose X-Forwarded-For is
# believed (config_service/client_address.py); none by default.
TRUSTED_PROXIES = [entry.strip() for entry in env_str("NOREBOOT_TRUSTED_PROXIES", "").split(",") if entry.strip()]
for _entry in TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_entry, strict=False)
    except ValueError:
        raise SystemExit(f"error: NOREBOOT_TRUSTED_PROXIES: {_entry!r} is not an address or network") from None

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "guardian",
    "drf_spectacular",
    # Swagger UI's files, served from the project rather than a CDN.
    "drf_spectacular_sidecar",
    "apps.tenants",
    "apps.configs",
    "apps.audit",
    "apps.dashboard",
    "apps.webhooks",
    "apps.changes",
    "apps.fleet",
]

MIDDLEWARE = [
    "config_service.dropped_connections.DroppedConnectionMiddleware",
    "config_service.request_id.RequestIdMiddleware",
    "config_service.request_log.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before sessions, auth and DRF: most snapshot polls are "unchanged", and most writes plain PUTs.
    "apps.api.fast_paths.FastPathMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config_service.urls"
WSGI_APPLICATION = "config_service.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASE_URL = env_str("DATABASE_URL", "postgres://noreboot:noreboot@127.0.0.1:55432/noreboot")
DATABASES = {"default": database_from_url(DATABASE_URL)}

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
# Guardian's anonymous user row is of no use here: anonymous callers get 401.
ANONYMOUS_USER_NAME = None

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
# WhiteNoise serves the apps' static folders (dashboard, admin) from the API's own
# processes, found at start-up: no collectstatic step, no STATIC_ROOT, nothing
# else to deploy. Unversioned names, so browsers cache them for a minute only.
WHITENOISE_USE_FINDERS = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The web dashboard (apps/dashboard) signs people in with a session; the API keeps to JWT.
LOGIN_URL = "dashboard:login"
LOGIN_REDIRECT_URL = "dashboard:namespaces"
LOGOUT_REDIRECT_URL = "dashboard:login"

# Request bodies above this answer 413 before they are parsed.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("NOREBOOT_MAX_BODY_BYTES", 1024 * 1024)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.tenants.authentication.ServiceTokenAuthentication",
        "config_service.jwt_authentication.SessionJWTAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["config_service.parsers.BoundedJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config_service.errors.api_exception_handler",
    "DEFAULT_PAGINATION_CLASS": "config_service.pagination.CappedPageNumberPagination",
    "PAGE_SIZE": env_int("NOREBOOT_PAGE_SIZE", 50),
    "DEFAULT_THROTTLE_CLASSES": ["config_service.throttling.WritePerUserThrottle"],
}
MAX_PAGE_SIZE = env_int("NOREBOOT_MAX_PAGE_SIZE", 500)

# Rates as "count/period" (period: s, m, h or d).
NOREBOOT_THROTTLE_RATES = {
    "login_ip": env_str("NOREBOOT_THROTTLE_LOGIN_IP", "10/m"),
    # Higher than the per-address rate, so one noisy address does not lock the
    # account for its owner elsewhere.
    "login_username": env_str("NOREBOOT_THROTTLE_LOGIN_USERNAME", "30/m"),
    "token_refresh": env_str("NOREBOOT_THROTTLE_TOKEN_REFRESH", "60/m"),
    # Automation writes hundreds of values a second from one account.
    "writes": env_str("NOREBOOT_THROTTLE_WRITES", "3000/s"),
}

CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "throttle": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "noreboot_throttle_cache"},
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=env_int("NOREBOOT_ACCESS_TOKEN_SECONDS", 300)),
    "REFRESH_TOKEN_LIFETIME": timedelta(seconds=env_int("NOREBOOT_REFRESH_TOKEN_SECONDS", 86400)),
    # Sessions bounded and revocable (config_service/auth_tokens.py).
    "TOKEN_OBTAIN_SERIALIZER": "config_service.auth_tokens.TokenObtainPairSerializer",
    "TOKEN_REFRESH_SERIALIZER": "config_service.auth_tokens.TokenRefreshSerializer",
    "TOKEN_BLACKLIST_SERIALIZER": "config_service.auth_tokens.TokenBlacklistSerializer",
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "ALGORITHM": "HS256",
    # A key of its own, so that rotating it logs everyone out without touching
    # sessions, CSRF or password reset tokens.
    "SIGNING_KEY": signing_key("NOREBOOT_JWT_SIGNING_KEY", KEYS_DIR / "jwt-signing-key"),
    "AUDIENCE": env_str("NOREBOOT_JWT_AUDIENCE", "noreboot-api"),
    "ISSUER": env_str("NOREBOOT_JWT_ISSUER", "noreboot-hq"),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "LEEWAY": 0,
}

# However often it is rotated, a refresh token ends this long after its sign-in.
REFRESH_TOKEN_ABSOLUTE_SECONDS = env_int("NOREBOOT_REFRESH_TOKEN_ABSOLUTE_SECONDS", 7 * 86400)

SPECTACULAR_SETTINGS = {
    "TITLE": "No-Reboot HQ API",
    "DESCRIPTION": "Multi-tenant, namespaced configuration with live updates.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and Swagger UI describe the API, not data: public, so the UI
    # loads before the Authorize button is used.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    # 3.1 (JSON Schema 2020-12) can say what names a config map may hold.
    "OAS_VERSION": "3.1.0",
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": True},
    # Enums of the same field name in several apps, named apart.
    "ENUM_NAME_OVERRIDES": {
        "ChangeOpEnum": ["set", "delete"],
        "ChangeSetOpEnum": ["set"],
        "ChangeDeleteOpEnum": ["delete"],
        "ChangeRequestStateEnum": "apps.changes.models.ChangeRequest.State",
    },
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config_service.openapi.add_error_responses",
        "config_service.openapi.forbid_unknown_fields",
        "config_service.openapi.simplify_nullable_any",
        "config_service.openapi.constrain_auth_inputs",
    ],
}

# Kafka, as platform processes (relay, admin tasks, workers) reach it: the
# internal listener, authenticated as the platform principal (scripts/kafka.sh
# creates it and its password locally).
KAFKA_HOME = BASE_DIR / ".local" / "kafka"
KAFKA_BOOTSTRAP_SERVERS = env_str("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
KAFKA_SECURITY_PROTOCOL = env_str("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
KAFKA_SASL_MECHANISM = env_str("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
KAFKA_SASL_USERNAME = env_str("KAFKA_SASL_USERNAME", "noreboot-platform")
KAFKA_SASL_PASSWORD = secret_from_env_or_file("KAFKA_SASL_PASSWORD", KAFKA_HOME / "platform.password")
# What client services are told (POST .../kafka-credentials/): the TLS listener and its CA.
KAFKA_CLIENT_BOOTSTRAP_SERVERS = env_str("KAFKA_CLIENT_BOOTSTRAP_SERVERS", "127.0.0.1:9094")
KAFKA_CA_FILE = env_str("KAFKA_CA_FILE", str(KAFKA_HOME / "tls" / "ca.pem"))
# How long POST .../kafka-credentials/ waits for the relay to create a new principal at the broker.
KAFKA_CREDENTIALS_WAIT_SECONDS = float(env_str("NOREBOOT_KAFKA_CREDENTIALS_WAIT_SECONDS", "5"))
# Which topic carries a namespace's updates (apps/configs/events.py decides):
# `per-tenant` gives each tenant its own topic KAFKA_TOPIC.<tenant>, which the
# broker's ACLs keep apart; `shared` is the single KAFKA_TOPIC, with no isolation
# at the broker. Every config topic has KAFKA_PARTITIONS partitions; the snapshot
# tells clients both, so a layout change needs no SDK change.
KAFKA_TOPIC_LAYOUT = env_str("KAFKA_TOPIC_LAYOUT", "per-tenant")
if KAFKA_TOPIC_LAYOUT not in ("per-tenant", "shared"):
    raise ValueError(f"KAFKA_TOPIC_LAYOUT must be per-tenant or shared, not {KAFKA_TOPIC_LAYOUT!r}")
KAFKA_TOPIC = env_str("KAFKA_TOPIC", "config_updates")
KAFKA_PARTITIONS = env_int("KAFKA_PARTITIONS", 6)

# Outbox relay: how many events one publish round takes, and how often it
# looks for events when no NOTIFY woke it (the safety net).
OUTBOX_BATCH_SIZE = env_int("NOREBOOT_OUTBOX_BATCH_SIZE", 500)
OUTBOX_POLL_SECONDS = float(env_str("NOREBOOT_OUTBOX_POLL_SECONDS", "5"))
# /readyz reports not ready when the oldest unpublished event is older than this.
OUTBOX_READY_LAG_SECONDS = float(env_str("NOREBOOT_OUTBOX_READY_LAG_SECONDS", "60"))
# /readyz answers from one check per process per READY_CACHE_SECONDS; Kafka's part waits at most this long.
READY_CACHE_SECONDS = float(env_str("NOREBOOT_READY_CACHE_SECONDS", "1"))
READY_KAFKA_TIMEOUT_SECONDS = float(env_str("NOREBOOT_READY_KAFKA_TIMEOUT_SECONDS", "1"))

# Rendered snapshots kept per worker (apps/configs/snapshot_cache.py).
SNAPSHOT_CACHE_MAX_BYTES = env_int("NOREBOOT_SNAPSHOT_CACHE_MAX_BYTES", 64 * 1024 * 1024)

# Webhooks (apps/webhooks). Targets resolving to loopback, private, link-local
# or reserved addresses are refused unless this is set (tests receive on 127.0.0.1).
WEBHOOK_ALLOW_PRIVATE = env_bool("NOREBOOT_WEBHOOK_ALLOW_PRIVATE", False)
# One attempt's connect and each read; a failed attempt is retried after
# BASE * 2^(attempts-1) seconds, at most MAX, until GIVE_UP seconds after the
# event, when the delivery fails and the webhook is disabled.
WEBHOOK_TIMEOUT_SECONDS = float(env_str("NOREBOOT_WEBHOOK_TIMEOUT_SECONDS", "10"))
WEBHOOK_RETRY_BASE_SECONDS = float(env_str("NOREBOOT_WEBHOOK_RETRY_BASE_SECONDS", "1"))
WEBHOOK_RETRY_MAX_SECONDS = float(env_str("NOREBOOT_WEBHOOK_RETRY_MAX_SECONDS", "3600"))
WEBHOOK_GIVE_UP_SECONDS = float(env_str("NOREBOOT_WEBHOOK_GIVE_UP_SECONDS", str(24 * 3600)))
WEBHOOK_CONSUMER_GROUP = env_str("NOREBOOT_WEBHOOK_CONSUMER_GROUP", "noreboot-webhooks")

# Instances and acks (apps/fleet): SDK reports arrive on KAFKA_ACK_TOPIC.<tenant>
# (KAFKA_ACK_TOPIC in the shared layout); `manage.py collect_acks` stores them.
KAFKA_ACK_TOPIC = env_str("KAFKA_ACK_TOPIC", "config_acks")
ACK_CONSUMER_GROUP = env_str("NOREBOOT_ACK_CONSUMER_GROUP", "noreboot-acks")
# An instance unseen this long is `stale` (SDKs report every 30 s); one unseen
# for FORGET seconds is removed.
FLEET_STALE_SECONDS = float(env_str("NOREBOOT_FLEET_STALE_SECONDS", "90"))
FLEET_FORGET_SECONDS = float(env_str("NOREBOOT_FLEET_FORGET_SECONDS", str(24 * 3600)))

# Limits on what one request may store.
CONFIG_VALUE_MAX_BYTES = env_int("NOREBOOT_CONFIG_VALUE_MAX_BYTES", 64 * 1024)
CONFIG_VALUE_MAX_DEPTH = env_int("NOREBOOT_CONFIG_VALUE_MAX_DEPTH", 32)
CONFIGS_PER_NAMESPACE_MAX = env_int("NOREBOOT_CONFIGS_PER_NAMESPACE_MAX", 20000)
# Byte budgets of live values (compact JSON). A snapshot, an export and a
# dashboard page load a namespace whole: 8 MiB of values plus 20,000 names and
# versions keep its snapshot under 16 MiB.
NAMESPACE_VALUE_BYTES_MAX = env_int("NOREBOOT_NAMESPACE_MAX_BYTES", 8 * 1024 * 1024)
TENANT_VALUE_BYTES_MAX = env_int("NOREBOOT_TENANT_MAX_BYTES", 128 * 1024 * 1024)
# Versions kept per config; older ones are deleted as new ones are written. 0 keeps all.
CONFIG_HISTORY_MAX = env_int("NOREBOOT_CONFIG_HISTORY_MAX", 0)

# /metrics answers callers with this bearer token; without one set, loopback callers only.
METRICS_TOKEN = env_str("NOREBOOT_METRICS_TOKEN", "")
# The relay serves its own /metrics on this port (0: none), so backlog and lag
# stay visible while the API is down.
RELAY_METRICS_PORT = env_int("NOREBOOT_RELAY_METRICS_PORT", 0)
RELAY_METRICS_ADDR = env_str("NOREBOOT_RELAY_METRICS_ADDR", "127.0.0.1")

# One JSON object per line by default; `text` for people at a terminal.
LOG_FORMAT = env_str("NOREBOOT_LOG_FORMAT", "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "config_service.log_format.JsonFormatter"},
        "text": {"()": "config_service.log_format.TextFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env_str("NOREBOOT_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # The request middleware logs every request with more context.
        "django.server": {"level": "WARNING"},
        # Connection trouble is reported once per outage by the publisher (error_cb).
        "librdkafka": {"level": env_str("NOREBOOT_LIBRDKAFKA_LOG_LEVEL", "CRITICAL")},
    },
}
