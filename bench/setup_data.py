"""The benchmark's fixtures and its in-process database work. Imported by
bench/run.py after django.setup(); everything goes through the project's
services (apps.tenants.services, apps.configs.services) except the bulk
seeding of the 1,000- and 10,000-config read namespaces (see seed_bulk).

Fixtures (created once, reused by later runs, in the main database):
  user bench                tenant-wide admin of tenant `bench`, viewer of
                            default/default/default (for GET /api/configs/)
  bench/prop/live           propagation and polling (a small namespace)
  bench/write/main          the API write benchmark
  bench/write/ns0..ns7      the same with one namespace per writer
  bench/floor/pg            the write transaction in-process and raw (the floors)
  bench/reads/k1, k10       1,000 and 10,000 configs for the list and SDK figures
Service tokens are revoked and re-issued at every call, by name: `bench-run`
for bench/run.py, `bench` for other callers (bench/profile_api.py, profiling
scripts), so profiling while a bench runs does not revoke the running
clients' tokens.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta

from config_service.auth_tokens import SessionRefreshToken
from django.contrib.auth import get_user_model
from django.db import connection, transaction

from apps.change_context import ChangeContext
from apps.configs import services as config_services
from apps.configs.models import Configuration, OutboxEvent
from apps.tenants import services as tenant_services
from apps.tenants.models import Namespace, ServiceToken, Tenant
from apps.tenants.roles import Role, role_held

TENANT = "bench"
USER = "bench"
TOKEN_NAME = "bench"
RUN_TOKEN_NAME = "bench-run"
NAMESPACES = {
    "prop": ("prop", "live"),
    "write": ("write", "main"),
    "floor": ("floor", "pg"),
    "k1": ("reads", "k1"),
    "k10": ("reads", "k10"),
    **{f"write{i}": ("write", f"ns{i}") for i in range(8)},
}
READ_SIZES = {"k1": 1_000, "k10": 10_000}
PROP_NAME = "prop"
# The same changes to a secret: each is revealed over the API before it is applied.
PROP_SECRET_NAME = "prop_secret"


def _value_for(i: int):
    """A realistic mix of config values: numbers, flags, strings, small objects."""
    kind = i % 5
    if kind == 0:
        return i
    if kind == 1:
        return i / 7.0
    if kind == 2:
        return i % 2 == 0
    if kind == 3:
        return f"value-{i}-" + "x" * (i % 40)
    return {"enabled": True, "limit": i, "regions": ["eu-west-1", "us-east-1"], "ratio": 0.25}


def ensure_fixtures(token_name: str = TOKEN_NAME) -> dict:
    users = get_user_model().objects
    user = users.filter(username=USER).first()
    if user is None:
        user = users.create_user(USER)  # no usable password: the bench mints its JWT
    context = ChangeContext(actor=user, request_id="bench-setup")
    tenant = Tenant.objects.filter(slug=TENANT).first() or tenant_services.tenant_create(
        slug=TENANT, name="Benchmarks", context=context
    )
    if role_held(user, tenant) != Role.ADMIN:
        tenant_services.role_grant(target=tenant, user=user, role=Role.ADMIN, context=context)
    default = Namespace.objects.get(path="default/default/default")
    if role_held(user, default) is None:
        tenant_services.role_grant(target=default, user=user, role=Role.VIEWER, context=context)

    namespaces = {}
    for key, (environment, service) in NAMESPACES.items():
        path = Namespace.path_of(TENANT, environment, service)
        namespaces[key] = Namespace.objects.filter(path=path).first() or tenant_services.namespace_create(
            tenant=tenant, environment=environment, service=service, context=context
        )

    # The propagation namespace: a handful of values, as a real service has.
    prop = namespaces["prop"]
    present = set(Configuration.objects.filter(namespace=prop, is_active=True).values_list("name", flat=True))
    for i in range(10):
        if f"c{i}" not in present:
            config_services.config_set(namespace=prop, name=f"c{i}", value=_value_for(i), context=context)
    if PROP_NAME not in present:
        config_services.config_set(namespace=prop, name=PROP_NAME, value=0, context=context)
    if PROP_SECRET_NAME not in present:
        config_services.config_set(namespace=prop, name=PROP_SECRET_NAME, value=0, context=context, secret=True)

    seeded = {key: seed_bulk(namespaces[key], size, user) for key, size in READ_SIZES.items()}

    tokens = {}
    for key in ("prop", "k1", "k10"):
        namespace = namespaces[key]
        for old in ServiceToken.objects.filter(namespace=namespace, name=token_name, revoked_at__isnull=True):
            tenant_services.service_token_revoke(token=old, context=context)
        _, secret = tenant_services.service_token_create(namespace=namespace, name=token_name, context=context)
        tokens[key] = secret

    # A session's token, as people sign in: it names its user, so requests skip the user query.
    access = SessionRefreshToken.for_user(user).access_token
    access.set_exp(lifetime=timedelta(hours=2))
    return {
        "user": user,
        "namespaces": namespaces,
        "paths": {key: ns.path for key, ns in namespaces.items()},
        "tokens": tokens,
        "jwt": str(access),
        "seeded": seeded,
    }


@transaction.atomic
def seed_bulk(namespace: Namespace, size: int, user) -> dict:
    """Top the namespace up to `size` active configs named k00000... in one
    transaction: one revision, no outbox events, no audit rows.

    Deliberately not config_set: 10,000 audited, published writes would take
    minutes and flood the topic, and the write path is measured on its own.
    The rows are exactly what config_set writes (version 1, active, the
    revision of the change), so the read path sees ordinary data."""
    started = time.monotonic()
    Namespace.objects.select_for_update().filter(pk=namespace.pk).values_list("pk").get()
    present = set(Configuration.objects.filter(namespace=namespace, is_active=True).values_list("name", flat=True))
    missing = [f"k{i:05d}" for i in range(size) if f"k{i:05d}" not in present]
    if missing:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE tenants_namespace SET revision = revision + 1 WHERE id = %s RETURNING revision", [namespace.pk]
            )
            (revision,) = cursor.fetchone()
        Configuration.objects.bulk_create(
            [
                Configuration(namespace=namespace, name=name, value=_value_for(int(name[1:])), version=1,
                              is_active=True, revision=revision, created_by=user, comment="bench seed")
                for name in missing
            ],
            batch_size=2000,
        )
    return {"added": len(missing), "seconds": round(time.monotonic() - started, 2)}


def namespace_revision(namespace: Namespace) -> int:
    return Namespace.objects.filter(pk=namespace.pk).values_list("revision", flat=True).get()


def pg_floor(namespace: Namespace, user, count: int, warmup: int = 5) -> list[float]:
    """The versioned write transaction alone: config_set in this process,
    timed from the call to its return (after COMMIT)."""
    context = ChangeContext(actor=user, request_id="bench-floor")
    namespace = Namespace.objects.select_related("tenant").get(pk=namespace.pk)
    base = time.time_ns()
    samples = []
    for i in range(warmup + count):
        t0 = time.monotonic_ns()
        config_services.config_set(namespace=namespace, name="floor", value=base + i, context=context)
        t1 = time.monotonic_ns()
        if i >= warmup:
            samples.append((t1 - t0) / 1e6)
    return samples


class RawWrite:
    """What the database itself needs for a versioned write: the write's shape
    (lock the namespace row by raising its revision, deactivate the active row,
    insert the new version, an audit row and an outbox row, notify the relay) as
    one raw psycopg2 query in autocommit, so one round trip including COMMIT.
    Its audit and outbox rows copy the last ones config_set wrote in the
    namespace, and every name written needs an active row: the constructor
    writes the missing ones through config_set. Its outbox rows are stored as
    already published: the relay, woken, finds nothing to send."""

    def __init__(self, namespace: Namespace, user, names: list[str]) -> None:
        from apps.audit.models import AuditEvent

        context = ChangeContext(actor=user, request_id="bench-floor")
        for name in names:
            if not Configuration.objects.filter(namespace=namespace, name=name, is_active=True).exists():
                config_services.config_set(namespace=namespace, name=name, value=0, context=context)

        def columns(model, source: str, overrides: dict[str, str]) -> tuple[str, str]:
            names = [field.column for field in model._meta.concrete_fields if not field.primary_key]
            return ", ".join(names), ", ".join(overrides.get(name, f"{source}.{name}") for name in names)

        config_columns, config_values = columns(Configuration, "previous", {
            "value": "%(value)s::jsonb", "version": "previous.version + 1", "is_active": "true",
            "revision": "namespace.revision", "created_at": "now()", "updated_at": "now()",
        })
        audit_columns, audit_values = columns(AuditEvent, "template", {"occurred_at": "now()"})
        outbox_columns, outbox_values = columns(OutboxEvent, "template", {
            "revision": "namespace.revision", "created_at": "now()", "published_at": "now()",
        })
        # The lock is a statement of its own, so that the write's statement,
        # which starts once the lock is granted, sees the version the writer
        # before it committed; both go in one query, one transaction.
        self.statement = f"""
            UPDATE {Namespace._meta.db_table} SET revision = revision + 1 WHERE id = %(namespace)s;
            WITH namespace AS (
                SELECT revision FROM {Namespace._meta.db_table} WHERE id = %(namespace)s
            ), previous AS (
                UPDATE {Configuration._meta.db_table} SET is_active = false, updated_at = now()
                WHERE namespace_id = %(namespace)s AND name = %(name)s AND is_active RETURNING *
            ), version AS (
                INSERT INTO {Configuration._meta.db_table} ({config_columns})
                SELECT {config_values} FROM previous, namespace RETURNING version
            ), audit AS (
                INSERT INTO {AuditEvent._meta.db_table} ({audit_columns})
                SELECT {audit_values} FROM {AuditEvent._meta.db_table} template WHERE template.id = %(audit)s
            ), outbox AS (
                INSERT INTO {OutboxEvent._meta.db_table} ({outbox_columns})
                SELECT {outbox_values} FROM {OutboxEvent._meta.db_table} template, namespace
                WHERE template.id = %(outbox)s
            )
            SELECT version.version, pg_notify('outbox_events', '') FROM version
        """
        self.params = {
            "namespace": namespace.pk,
            "audit": AuditEvent.objects.filter(namespace=namespace).latest("id").pk,
            "outbox": OutboxEvent.objects.filter(namespace=namespace).latest("id").pk,
        }

    @staticmethod
    def connect():
        import psycopg2
        from django.conf import settings

        database = settings.DATABASES["default"]
        raw = psycopg2.connect(dbname=database["NAME"], user=database["USER"], password=database["PASSWORD"],
                               host=database["HOST"], port=database["PORT"])
        raw.autocommit = True
        return raw

    def write(self, cursor, name: str, value: int) -> float:
        """One write, in milliseconds from sending it to its answer (after COMMIT)."""
        t0 = time.monotonic_ns()
        cursor.execute(self.statement, {**self.params, "name": name, "value": json.dumps(value)})
        written = cursor.fetchone()
        t1 = time.monotonic_ns()
        assert written is not None, f"no active {name!r} config in the namespace"
        return (t1 - t0) / 1e6


def pg_raw_floor(namespace: Namespace, user, count: int, warmup: int = 5) -> list[float]:
    """The raw write, one at a time: milliseconds per write."""
    raw_write = RawWrite(namespace, user, ["floor"])
    base = time.time_ns()
    raw = raw_write.connect()
    try:
        with raw.cursor() as cursor:
            samples = [raw_write.write(cursor, "floor", base + i) for i in range(warmup + count)]
    finally:
        raw.close()
    return samples[warmup:]


def pg_raw_load(namespace: Namespace, user, names: list[str], duration: float) -> dict:
    """The raw write under the write benchmark's load: one closed-loop writer
    thread per entry of names, each on a connection of its own (psycopg2 lets
    go of the GIL while it waits for the database), for duration seconds."""
    import threading

    raw_write = RawWrite(namespace, user, sorted(set(names)))
    connections = [raw_write.connect() for _name in names]
    latencies: list[list[float]] = [[] for _name in names]
    start = threading.Barrier(len(names) + 1)
    deadline = 0.0

    def writer(i: int) -> None:
        base = time.time_ns() + i
        with connections[i].cursor() as cursor:
            start.wait()
            while time.monotonic() < deadline:
                latencies[i].append(raw_write.write(cursor, names[i], base + len(latencies[i]) * len(names)))

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(len(names))]
    try:
        for thread in threads:
            thread.start()
        started = time.monotonic()
        deadline = started + duration
        start.wait()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
    finally:
        for raw in connections:
            raw.close()
    written = sum(len(done) for done in latencies)
    return {"latencies": [x for done in latencies for x in done], "rate_per_s": round(written / elapsed, 1),
            "writers": len(names), "configs": len(set(names)), "seconds": round(elapsed, 2)}


def outbox_times(namespace: Namespace, since_revision: int, timeout: float = 60.0) -> dict:
    """Wait until every event of the namespace after since_revision is
    published; returns {revision: (created_at, published_at)} and how many
    were still unpublished at the timeout."""
    deadline = time.monotonic() + timeout
    events = OutboxEvent.objects.filter(namespace=namespace, revision__gt=since_revision)
    while events.filter(published_at__isnull=True).exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    rows = events.values_list("revision", "created_at", "published_at")
    return {
        "times": {rev: (created, published) for rev, created, published in rows},
        "unpublished": sum(1 for _r, _c, p in rows if p is None),
    }


def version_check(namespace: Namespace, name: str, after_version: int) -> dict:
    """Versions written after after_version: contiguous, revisions rising, one active row."""
    rows = list(
        Configuration.objects.filter(namespace=namespace, name=name, version__gt=after_version)
        .order_by("version")
        .values_list("version", "revision", "is_active")
    )
    versions = [v for v, _r, _a in rows]
    revisions = [r for _v, r, _a in rows]
    contiguous = versions == list(range(after_version + 1, after_version + 1 + len(versions)))
    rising = all(a < b for a, b in zip(revisions, revisions[1:], strict=False))
    active = Configuration.objects.filter(namespace=namespace, name=name, is_active=True).count()
    return {"written": len(versions), "contiguous": contiguous, "revisions_rising": rising,
            "active_rows": active, "first": versions[0] if versions else None,
            "last": versions[-1] if versions else None}


def latest_version(namespace: Namespace, name: str) -> int:
    row = Configuration.objects.filter(namespace=namespace, name=name).order_by("-version").values_list(
        "version", flat=True).first()
    return row or 0
