"""Prepared statements (apps/raw_sql.py): the hot statements are prepared once
per database connection and run by name; a new connection (CONN_MAX_AGE, a
session PostgreSQL ended) prepares them again on first use."""

from __future__ import annotations

import time

import pytest
from config_service.dropped_connections import close_dropped_connections
from django.db import connection, connections

from apps.configs.models import Configuration
from apps.configs.services import config_set
from apps.raw_sql import Prepared

pytestmark = pytest.mark.django_db(transaction=True)


def prepared_here() -> dict[str, object]:
    """Name -> prepare time of the statements prepared on this connection."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, prepare_time FROM pg_prepared_statements")
        return dict(cursor.fetchall())


def test_write__run_again__prepared_once_on_the_connection(make_namespace, change_context):
    namespace = make_namespace()
    config_set(namespace=namespace, name="limit", value=1, context=change_context)
    config_set(namespace=namespace, name="limit", value=2, context=change_context)
    first = prepared_here()
    assert {"write_lock", "write_state", "version_deactivate", "version_insert", "outbox_insert",
            "audit_insert"} <= set(first)

    config_set(namespace=namespace, name="limit", value=3, context=change_context)

    assert prepared_here() == first
    assert Configuration.objects.get(namespace=namespace, name="limit", is_active=True).value == 3


@pytest.mark.parametrize("how", ["closed by Django", "ended by PostgreSQL"])
def test_write__on_a_new_connection__statements_prepared_again(how, make_namespace, change_context):
    namespace = make_namespace()
    config_set(namespace=namespace, name="limit", value=1, context=change_context)
    if how == "closed by Django":
        connection.close()
    else:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            (pid,) = cursor.fetchone()
        other = connections.create_connection("default")
        try:
            with other.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
                while cursor.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]) or cursor.fetchone():
                    time.sleep(0.01)
        finally:
            other.close()
        # What the request middleware does with a session the server ended: Django opens a new one.
        close_dropped_connections()
    assert prepared_here() == {}

    config_set(namespace=namespace, name="limit", value=2, context=change_context)

    assert "write_state" in prepared_here()
    assert Configuration.objects.get(namespace=namespace, name="limit", is_active=True).value == 2


def test_prepared__parameters_named_or_positional__executed_with_their_values(db):
    named = Prepared("test_named", "SELECT %(a)s::int + %(b)s::int, %(a)s::int")
    positional = Prepared("test_positional", "SELECT %s::text || %s::text")
    with connection.cursor() as cursor:
        named.execute(cursor, {"b": 2, "a": 40})
        assert cursor.fetchone() == (42, 40)
        positional.execute(cursor, ["no-", "reboot"])
        assert cursor.fetchone() == ("no-reboot",)


def test_prepared__two_statements_of_one_name__refused():
    Prepared("test_once", "SELECT 1")
    with pytest.raises(AssertionError, match="two prepared statements named test_once"):
        Prepared("test_once", "SELECT 2")
