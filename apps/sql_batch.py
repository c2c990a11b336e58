"""Statements sent to PostgreSQL together: one round trip for several writes.

The versioned write holds its namespace's row lock until commit, so every
round trip it makes while holding it is time every other writer of that
namespace waits; its rows (the version, the audit and outbox events, the
counters) go out as one batch. PostgreSQL runs a batch's statements one after
the other, in order, each seeing what the ones before it wrote, inside the
caller's transaction."""

from __future__ import annotations

import json
from typing import Any

from django.db import connection


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
