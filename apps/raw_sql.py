"""Plain SQL on the hot paths, where building the ORM query cost more than
running it: model rows read by hand, and statements sent together.

Statements sent together make one round trip for several writes. The
versioned write holds its namespace's row lock until commit, so every
round trip it makes while holding it is time every other writer of that
namespace waits; its rows (the version, the audit and outbox events, the
counters) go out as one batch. PostgreSQL runs a batch's statements one after
the other, in order, each seeing what the ones before it wrote, inside the
caller's transaction."""

from __future__ import annotations

import json
from typing import Any

from django.db import connection


def select_columns(model, alias: str) -> str:
    """Every column of the model under the table alias, in the model's order (model_from_row's)."""
    return ", ".join(f"{alias}.{connection.ops.quote_name(field.column)}" for field in model._meta.concrete_fields)


def models_from_row(values, *models) -> list:
    """Instances of `models` from a row of their select_columns, one after
    the other, as the ORM would load them (their fields' conversions, JSON
    decoded); None for one whose primary key is NULL (a left join that found
    nothing)."""
    instances, values = [], list(values)
    for model in models:
        fields = model._meta.concrete_fields
        own, values = values[:len(fields)], values[len(fields):]
        if own[fields.index(model._meta.pk)] is None:
            instances.append(None)
            continue
        for i, field in enumerate(fields):
            for converter in field.get_db_converters(connection):
                own[i] = converter(own[i], field.cached_col, connection)
        instances.append(model.from_db(connection.alias, [field.attname for field in fields], own))
    assert not values, "more values than the models' columns"
    return instances


def jsonb(value: Any) -> str | None:
    """A JSON column's parameter, as Django's JSONField stores it (None is SQL NULL)."""
    return None if value is None else json.dumps(value)


class SqlBatch:
    def __init__(self) -> None:
        self._statements: list[str] = []
        self._params: list[Any] = []

    def add(self, sql: str, params: list[Any]) -> None:
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
