"""The versioned write's round trips to PostgreSQL while it holds the
namespace row lock: every other writer of the namespace waits that long, so
each path makes two, whatever it checks and writes: BEGIN with the lock and
everything it checks, then every row it writes with COMMIT. A rollback also
reads the version it goes back to. Inside a caller's transaction, the write is
a savepoint of it, and the caller commits."""

from __future__ import annotations

import dataclasses
import threading

import psycopg2
import pytest
from django.contrib.auth.models import Group
from django.db import DataError, OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext
from guardian.shortcuts import assign_perm
from psycopg2.extensions import TRANSACTION_STATUS_IDLE

from apps.audit.models import AuditEvent
from apps.configs import services
from apps.configs.definitions import config_schema_set
from apps.configs.models import Configuration, OutboxEvent
from apps.configs.services import AsEditor, NotAnEditor, config_delete, config_rollback, config_set
from apps.errors import PreconditionFailed
from apps.fleet.models import Rollout
from apps.fleet.services import rollout_start
from apps.tenants.models import Namespace
from apps.tenants.roles import ROLE_CODENAMES, Role, namespace_role

pytestmark = pytest.mark.django_db(transaction=True)


def statements(write) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        write()
    return [query["sql"] for query in captured.captured_queries]


def assert_round_trips(sql: list[str], kind: str) -> None:
    if kind == "rollback":
        target = sql.pop(1)
        assert target.startswith('SELECT "configs_configuration"'), target
    lock_and_read, rows = sql
    # The statements are prepared (apps/raw_sql.py); their names say what they are.
    assert lock_and_read.startswith("BEGIN;\nEXECUTE write_lock("), lock_and_read
    assert lock_and_read.endswith(")") and "EXECUTE write_state(" in lock_and_read, lock_and_read
    assert "EXECUTE outbox_insert(" in rows and "EXECUTE audit_insert(" in rows, rows
    assert rows.endswith(";\nCOMMIT"), rows


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


def test_write__inside_a_callers_transaction__a_savepoint_the_caller_commits_or_rolls_back(
    make_namespace, change_context
):
    namespace = make_namespace()
    config_set(namespace=namespace, name="limit", value=1, context=change_context)

    class Abandoned(Exception):
        pass

    with CaptureQueriesContext(connection) as captured, pytest.raises(Abandoned), transaction.atomic():
        config_set(namespace=namespace, name="limit", value=2, context=change_context)
        raise Abandoned
    sql = [query["sql"] for query in captured.captured_queries]
    assert sql[0] == "BEGIN" and sql[1].startswith("SAVEPOINT") and sql[-1] == "ROLLBACK", sql
    assert not any("COMMIT" in statement for statement in sql), sql
    assert list(Configuration.objects.filter(namespace=namespace).values_list("version", flat=True)) == [1]


def versions(namespace) -> list[int]:
    return sorted(Configuration.objects.filter(namespace=namespace).values_list("version", flat=True))


def assert_connection_as_before_the_write(backend: int | None = None) -> None:
    """Autocommit on and no transaction open: what the next request on this
    connection (CONN_MAX_AGE) expects; the same session, when it survived."""
    assert connection.get_autocommit() and not connection.in_atomic_block
    assert connection.connection.info.transaction_status == TRANSACTION_STATUS_IDLE
    if backend is not None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            assert cursor.fetchone() == (backend,)


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def test_write__refused_under_its_lock__rolled_back_and_the_connection_as_before(make_namespace, change_context):
    namespace = make_namespace()
    config_set(namespace=namespace, name="limit", value=1, context=change_context)
    revision, backend = Namespace.objects.get(pk=namespace.pk).revision, backend_pid()

    with pytest.raises(PreconditionFailed):
        config_set(namespace=namespace, name="limit", value=2, expected_version=7, context=change_context)

    assert_connection_as_before_the_write(backend)
    assert versions(namespace) == [1] and Namespace.objects.get(pk=namespace.pk).revision == revision
    config_set(namespace=namespace, name="limit", value=2, expected_version=1, context=change_context)
    assert versions(namespace) == [1, 2]


def test_write__the_database_refuses_its_rows__nothing_written_and_the_session_used_again(
    make_namespace, change_context, monkeypatch
):
    namespace = make_namespace()
    config_set(namespace=namespace, name="limit", value=1, context=change_context)
    backend, version_insert = backend_pid(), services.version_insert

    def insert_then_fail(rows, created):
        version_insert(rows, created)
        rows.add("SELECT 1 / 0", [])  # the COMMIT after it never runs

    monkeypatch.setattr(services, "version_insert", insert_then_fail)
    with pytest.raises(DataError):
        config_set(namespace=namespace, name="limit", value=2, context=change_context)

    assert_connection_as_before_the_write(backend)
    assert versions(namespace) == [1] and OutboxEvent.objects.filter(namespace=namespace).count() == 1


def test_write__its_session_killed_under_the_lock__nothing_written_and_the_next_write_reconnects(
    make_namespace, change_context, monkeypatch
):
    namespace = make_namespace()
    config_set(namespace=namespace, name="limit", value=1, context=change_context)
    revision, backend, stored_value = Namespace.objects.get(pk=namespace.pk).revision, backend_pid(), services.stored_value

    def killed_meanwhile(*args, **kwargs):
        # From a session of its own, as an operator or a failover would.
        with psycopg2.connect(**connection.get_connection_params()) as other, other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [backend])
        return stored_value(*args, **kwargs)

    monkeypatch.setattr(services, "stored_value", killed_meanwhile)
    with pytest.raises(OperationalError):
        config_set(namespace=namespace, name="limit", value=2, context=change_context)
    monkeypatch.undo()

    connection.close_if_unusable_or_obsolete()  # as Django does at the end of every request
    assert versions(namespace) == [1] and Namespace.objects.get(pk=namespace.pk).revision == revision
    config_set(namespace=namespace, name="limit", value=2, context=change_context)
    assert versions(namespace) == [1, 2]
    assert_connection_as_before_the_write()


def test_write__a_running_rollout_aborted_by_it__the_rollouts_rows_commit_with_the_write(
    make_namespace, change_context
):
    namespace = make_namespace()
    config_set(namespace=namespace, name="limit", value=1, context=change_context)
    rollout_start(namespace=namespace, name="limit", value=2, stages=[{"percent": 50}], max_rejected=0,
                  context=change_context)

    config_set(namespace=namespace, name="limit", value=3, context=dataclasses.replace(change_context,
                                                                                       abort_rollout=True))

    assert Rollout.objects.get(namespace=namespace).state == Rollout.State.ABORTED
    assert Configuration.objects.get(namespace=namespace, name="limit", is_active=True).value == 3
    assert_connection_as_before_the_write()


GRANTS = {
    "none": [], "viewer": [("namespace", "viewer")], "editor": [("namespace", "editor")],
    "admin": [("namespace", "admin")], "tenant viewer": [("tenant", "viewer")], "tenant editor": [("tenant", "editor")],
    "tenant admin": [("tenant", "admin")], "viewer here, tenant editor": [("namespace", "viewer"), ("tenant", "editor")],
    "editor elsewhere": [("other", "editor")], "group editor": [("group namespace", "editor")],
    "group tenant editor": [("group tenant", "editor")], "group viewer": [("group namespace", "viewer")],
    "edit_configs alone": [("codename", "edit_configs")], "superuser": [],
}
NO_EDIT_ROLE = {"none", "viewer", "tenant viewer", "editor elsewhere", "group viewer", "edit_configs alone"}


@pytest.mark.parametrize("holds", list(GRANTS))
def test_write_as_editor__the_role_decided_with_the_lock__as_namespace_role_decides_it(
    holds, make_user, make_namespace, grant, change_context
):
    namespace = make_namespace()
    other = make_namespace(tenant=namespace.tenant, service="other")
    user = make_user(is_superuser=holds == "superuser")
    group = Group.objects.create(name=f"g-{namespace.pk}")
    group.user_set.add(user)
    for target, role in GRANTS[holds]:
        if target == "codename":
            assign_perm(role, user, namespace)
        elif target.startswith("group"):
            on = namespace.tenant if target.endswith("tenant") else namespace
            for codename in ROLE_CODENAMES[Role.from_label(role)]:
                assign_perm(codename, group, on)
        else:
            grant(user, {"namespace": namespace, "tenant": namespace.tenant, "other": other}[target], role)
    may_edit = (namespace_role(user, namespace) or 0) >= Role.EDITOR
    assert may_edit == (holds not in NO_EDIT_ROLE)
    revision = Namespace.objects.get(pk=namespace.pk).revision

    def write(name: str = "limit"):
        return config_set(namespace=AsEditor(namespace.path, user), name=name, value=1,
                          context=dataclasses.replace(change_context, actor=user))

    if may_edit:
        write("prepared")  # its statements prepared on this connection, as after a first write
        sql = statements(write)
        # The role, the lock and the read in the first round trip; the rows and COMMIT in the second.
        assert len(sql) == 2 and sql[0].startswith("BEGIN;\nEXECUTE write_lock_as_editor("), sql
        assert "EXECUTE write_state_as_editor(" in sql[0] and sql[1].endswith(";\nCOMMIT"), sql
        assert versions(namespace) == [1, 1]
        assert Namespace.objects.get(pk=namespace.pk).revision == revision + 2
    else:
        with pytest.raises(NotAnEditor):
            write()
        assert versions(namespace) == [] and Namespace.objects.get(pk=namespace.pk).revision == revision
        assert_connection_as_before_the_write()


def test_write_as_editor__no_such_namespace__not_an_editor_and_nothing_locked(make_user, change_context):
    user = make_user(is_superuser=True)

    with pytest.raises(NotAnEditor):
        config_set(namespace=AsEditor("nobody/prod/nothing", user), name="limit", value=1, context=change_context)
    assert_connection_as_before_the_write()


def test_write_as_editor__waits_for_the_lock__and_reads_the_write_committed_before(make_user, make_namespace, grant,
                                                                                  change_context):
    namespace, user = make_namespace(), make_user()
    grant(user, namespace, "editor")
    config_set(namespace=namespace, name="limit", value=1, context=change_context)
    holder = psycopg2.connect(**connection.get_connection_params())
    try:
        with holder.cursor() as cursor:
            # Another writer holds the lock and commits version 2 while this one waits.
            cursor.execute("UPDATE tenants_namespace SET revision = revision + 1 WHERE id = %s", [namespace.pk])
            done: list = []

            def wait_and_write():
                try:
                    done.append(config_set(namespace=AsEditor(namespace.path, user), name="limit", value=3,
                                           context=change_context))
                finally:
                    connection.close()  # this thread's own

            waiting = threading.Thread(target=wait_and_write)
            waiting.start()
            waiting.join(0.5)
            assert not done, "wrote without the lock"
            cursor.execute(
                "UPDATE configs_configuration SET is_active = false WHERE namespace_id = %s", [namespace.pk])
            cursor.execute(
                "INSERT INTO configs_configuration (namespace_id, name, value, is_secret, version, is_active,"
                " is_tombstone, revision, created_at, updated_at, comment)"
                " SELECT namespace_id, name, '2', is_secret, 2, true, false, revision + 1, now(), now(), ''"
                " FROM configs_configuration WHERE namespace_id = %s AND version = 1", [namespace.pk])
        holder.commit()
        waiting.join(10)
    finally:
        holder.close()
    assert [config.version for config in done] == [3]
    assert versions(namespace) == [1, 2, 3]
