"""The versioned write's round trips to PostgreSQL while it holds the
namespace row lock: every other writer of the namespace waits that long, so
each path makes two (the lock with everything it checks, then every row it
writes) before its commit, whatever it checks and writes; a rollback also
reads the version it goes back to."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.audit.models import AuditEvent
from apps.configs.definitions import config_schema_set
from apps.configs.models import Configuration, OutboxEvent
from apps.configs.services import config_delete, config_rollback, config_set

pytestmark = pytest.mark.django_db(transaction=True)


def statements(write) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        write()
    return [query["sql"] for query in captured.captured_queries]


def assert_round_trips(sql: list[str], kind: str) -> None:
    assert sql[0] == "BEGIN" and sql[-1] == "COMMIT", sql
    under_lock = sql[1:-1]
    if kind == "rollback":
        target = under_lock.pop(1)
        assert target.startswith('SELECT "configs_configuration"'), target
    lock_and_read, rows = under_lock
    # The statements are prepared (apps/raw_sql.py); their names say what they are.
    assert lock_and_read.startswith("EXECUTE write_lock(") and "EXECUTE write_state(" in lock_and_read, lock_and_read
    assert "EXECUTE outbox_insert(" in rows and "EXECUTE audit_insert(" in rows, rows


@pytest.mark.parametrize("kind", ["new", "update", "delete", "rollback", "secret with a schema"])
def test_write__each_path__two_round_trips_under_the_lock_and_every_row_written(kind, make_namespace, change_context):
    namespace = make_namespace()
    write = {
        "new": lambda: config_set(namespace=namespace, name="fresh", value=1, context=change_context),
        "update": lambda: config_set(namespace=namespace, name="limit", value=2, context=change_context),
        "delete": lambda: config_delete(namespace=namespace, name="limit", context=change_context),
        "rollback": lambda: config_rollback(namespace=namespace, name="limit", to_version=1, context=change_context),
        "secret with a schema": lambda: config_set(
            namespace=namespace, name="token", value="s3cr3t-value", context=change_context),
    }[kind]
    config_set(namespace=namespace, name="limit", value=1, context=change_context)
    config_set(namespace=namespace, name="limit", value=5, context=change_context)
    config_set(namespace=namespace, name="token", value="first-value", secret=True, context=change_context)
    config_schema_set(namespace=namespace, name="token", schema={"type": "string", "minLength": 8},
                      context=change_context, may_reveal=True)
    before = {model: model.objects.count() for model in (Configuration, OutboxEvent, AuditEvent)}

    assert_round_trips(statements(write), kind)

    assert {model: model.objects.count() - count for model, count in before.items()} == {
        Configuration: 1, OutboxEvent: 1, AuditEvent: 1
    }
