"""Plain SQL on the hot paths, where building the ORM query cost more than
running it: model rows read by hand, statements sent together, and statements
prepared once per connection.

Statements sent together make one round trip for several writes. The
versioned write holds its namespace's row lock until commit, so every
round trip it makes while holding it is time every other writer of that
namespace waits; its rows (the version, the audit and outbox events, the
counters) go out as one batch. PostgreSQL runs a batch's statements one after
the other, in order, each seeing what the ones before it wrote, inside the
caller's transaction.

A transaction sent with its batches (transaction_in_batches): its BEGIN goes
out with its first statements and its COMMIT with its last, where Django's
atomic() sends each as a round trip of its own (psycopg2's BEGIN before the
first statement, then COMMIT). The versioned write takes its lock in its first
batch, so that lock is held over two round trips instead of three.

Prepared statements: PostgreSQL spent more CPU planning the hot statements
than running them (a conditional GET's lookup: 210 us of server CPU as plain
SQL, 90 us prepared). Each is prepared on a connection the first time that
connection runs it, and run by name from then on."""

from __future__ import annotations

import contextlib
import functools
import json
import re
import weakref
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections
from psycopg2.extensions import TRANSACTION_STATUS_INERROR, TRANSACTION_STATUS_INTRANS


def select_columns(model, alias: str) -> str:
    """Every column of the model under the table alias, in the model's order (model_from_row's)."""
    return ", ".join(f"{alias}.{connection.ops.quote_name(field.column)}" for field in model._meta.concrete_fields)


def models_from_row(values, *models) -> list:
    """Instances of `models` from a row of their select_columns, one after
    the other, as the ORM would load them (their fields' conversions, JSON
    decoded); None for one whose primary key is NULL (a left join that found
    nothing)."""
    instances, start = [], 0
    for model in models:
        attnames, pk_index, conversions = _row_shape(model)
        own = list(values[start:start + len(attnames)])
        start += len(attnames)
        if own[pk_index] is None:
            instances.append(None)
            continue
        for i, convert, expression in conversions:
            own[i] = convert(own[i], expression, connection)
        instances.append(model.from_db(DEFAULT_DB_ALIAS, attnames, own))
    assert start == len(values), "more values than the models' columns"
    return instances


@functools.cache
def _row_shape(model) -> tuple[list[str], int, list[tuple]]:
    """(column attribute names, the primary key's index, the conversions of the
    fields that have any) of the model's select_columns: the same for every
    row, and asking each field for them cost more than loading the row."""
    fields = model._meta.concrete_fields
    conversions = [(i, convert, field.cached_col) for i, field in enumerate(fields)
                   for convert in field.get_db_converters(connection)]
    return [field.attname for field in fields], fields.index(model._meta.pk), conversions


def jsonb(value: Any) -> str | None:
    """A JSON column's parameter, as Django's JSONField stores it (None is SQL NULL)."""
    return None if value is None else json.dumps(value)


_PARAMETER = re.compile(r"%\((\w+)\)s|%s")


class Prepared:
    """A statement prepared once per connection (PREPARE) and run by name
    (EXECUTE). Its parameters are written as psycopg2's: all %(name)s, passed
    as a dict, or all %s, passed as a sequence; PostgreSQL infers their types
    from the statement, as it does for plain SQL."""

    _names: set[str] = set()
    # The names prepared on each open connection (psycopg2's, which Django
    # replaces after CONN_MAX_AGE or a lost server): a new one starts with none.
    _prepared_on: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def __init__(self, name: str, sql: str) -> None:
        assert name not in Prepared._names, f"two prepared statements named {name}"
        Prepared._names.add(name)
        self.name = name
        self._keys: list[str | None] = []

        def number(match: re.Match) -> str:
            key = match.group(1)
            if key is None or key not in self._keys:
                self._keys.append(key)
            return f"${len(self._keys) if key is None else self._keys.index(key) + 1}"

        self._prepare = f"PREPARE {name} AS {_PARAMETER.sub(number, sql)}"
        assert "%" not in self._prepare, "a % that is no parameter"
        assert len({key is None for key in self._keys}) <= 1, "named and positional parameters mixed"
        self._execute = f"EXECUTE {name}({', '.join(['%s'] * len(self._keys))})" if self._keys else f"EXECUTE {name}"

    def statement(self, params: dict[str, Any] | list[Any]) -> tuple[str, list[Any]]:
        """The EXECUTE and its parameters, for this thread's connection, on
        which the statement is prepared first if it is not yet (a round trip
        of its own, once per connection: not part of what the caller sends)."""
        database = connections[DEFAULT_DB_ALIAS]  # one look-up of this thread's connection, not one per use
        if database.connection is None:
            database.ensure_connection()
        prepared = Prepared._prepared_on.setdefault(database.connection, set())
        if self.name not in prepared:
            # Django's error mapping (and its note that the connection failed), without its query log.
            with database.wrap_database_errors, database.connection.cursor() as cursor:
                cursor.execute(self._prepare)
            prepared.add(self.name)
        values = list(params) if self._keys[:1] == [None] else [params[key] for key in self._keys]
        return self._execute, values

    def execute(self, cursor, params: dict[str, Any] | list[Any]) -> None:
        cursor.execute(*self.statement(params))


class SqlBatch:
    def __init__(self) -> None:
        self._statements: list[str] = []
        self._params: list[Any] = []

    def add(self, sql: str | Prepared, params: list[Any]) -> None:
        if isinstance(sql, Prepared):
            sql, params = sql.statement(params)
        assert ";" not in sql, "one statement per add"
        self._statements.append(sql)
        self._params.extend(params)

    def execute(self) -> tuple | None:
        """Run the batch; the first row of its last statement's result, if any."""
        if not self._statements:
            return None
        with connection.cursor() as cursor:
            cursor.execute(";\n".join(self._statements), self._params)
            return cursor.fetchone() if cursor.description else None


BEGIN = "BEGIN"
COMMIT = "COMMIT"


@contextlib.contextmanager
def transaction_in_batches():
    """A transaction the caller opens and closes itself: its first batch
    starts with BEGIN and its last ends with COMMIT. Django takes the
    connection as in a transaction managed by hand (its autocommit flag off;
    psycopg2's stays on, so that psycopg2 sends no BEGIN of its own): an
    atomic() inside is a savepoint, select_for_update is allowed and
    on_commit() is refused, as Django refuses it there. Whatever leaves the
    transaction open (an exception, or a caller that never committed) rolls
    it back; the latter also raises."""
    assert not connection.in_atomic_block, "inside a transaction already: a savepoint of it is the caller's"
    connection.ensure_connection()  # a new connection would reset the flag below
    assert connection.get_autocommit(), "the connection is managed by hand already"
    connection.autocommit = False
    try:
        yield
    finally:
        connection.autocommit = True
        # Read from the connection's last answer, no round trip; a lost
        # connection (status unknown) has no transaction left to end.
        left_open = connection.connection is not None and connection.connection.info.transaction_status in (
            TRANSACTION_STATUS_INTRANS, TRANSACTION_STATUS_INERROR,
        )
        if left_open:
            with connection.wrap_database_errors, connection.connection.cursor() as cursor:
                cursor.execute("ROLLBACK")
    assert not left_open, "the transaction was never committed"
