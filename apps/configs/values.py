"""What a config value may be, in one place for every way in (API, dashboard,
admin, import): the check, the parse of typed JSON text, the form PostgreSQL
stores it in, and type-exact comparison."""

from __future__ import annotations

import json
import math
from typing import Any

from django.conf import settings

from apps.errors import InvalidInput


class InvalidValue(InvalidInput):
    """A value no config may hold, whatever its namespace (config_value_check)."""


def config_value_check(value: Any) -> None:
    """Refuse values the platform will not store or carry: null, not JSON
    (NaN, infinities), too large, too deep, text PostgreSQL cannot hold."""
    if value is None:
        raise InvalidValue("A value is required.", fields={"value": ["This field may not be null."]})
    # Depth first: measuring the size of a very deep value would itself recurse too deep.
    for node, depth in _json_nodes(value):
        if depth > settings.CONFIG_VALUE_MAX_DEPTH:
            raise _too_deep()
        if problem := _unstorable(node):
            summary = "The value is not JSON." if problem == NOT_FINITE else "The value holds text that cannot be stored."
            raise InvalidValue(summary, fields={"value": [problem]})
    size = config_value_size(value)
    if size > settings.CONFIG_VALUE_MAX_BYTES:
        raise InvalidValue(
            "The value is too large.",
            fields={"value": [f"At most {settings.CONFIG_VALUE_MAX_BYTES} bytes of JSON, got {size}."]},
        )


NOT_FINITE = "Numbers must be finite."
NOT_STORABLE_TEXT = "Strings may not contain NUL characters or unpaired surrogates."


def json_storage_problem(document: Any) -> str | None:
    """Why PostgreSQL's jsonb would refuse this JSON (a number that is not
    finite, text it cannot hold, object keys included), or None. For JSON
    stored beside values (a schema), whose size the caller bounds."""
    return next((problem for node, _depth in _json_nodes(document) if (problem := _unstorable(node))), None)


def _json_nodes(document: Any):
    """Every node of a JSON document with its depth, parents first, without
    recursion: a node's children are only reached if the caller asks for more."""
    stack = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        yield node, depth
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)


def _unstorable(node: Any) -> str | None:
    if isinstance(node, float) and not math.isfinite(node):
        return NOT_FINITE
    texts = list(node) if isinstance(node, dict) else [node] if isinstance(node, str) else []
    if not all(map(_storable_text, texts)):
        return NOT_STORABLE_TEXT
    return None


def _too_deep() -> InvalidValue:
    return InvalidValue(
        "The value is nested too deeply.",
        fields={"value": [f"At most {settings.CONFIG_VALUE_MAX_DEPTH} levels of nesting."]},
    )


def config_value_size(value: Any) -> int:
    """Bytes of compact JSON: the measure of the per-value limit and of the byte budgets."""
    return len(json.dumps(value, separators=(",", ":"), allow_nan=False))


def _storable_text(text: str) -> bool:
    # PostgreSQL's jsonb refuses \u0000 and unpaired surrogates; so does UTF-8.
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError("numbers must be finite")
    return number


def config_value_from_text(text: str) -> Any:
    """A value typed as JSON text (dashboard, admin), parsed and checked as the
    API parses and checks a body. Messages name the place, never quote the text."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except json.JSONDecodeError as error:
        raise InvalidInput(
            "The value is not valid JSON.",
            fields={"value": [f"Not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})."]},
        ) from None
    except ValueError as error:
        raise InvalidInput("The value is not valid JSON.", fields={"value": [f"Not valid JSON: {error}."]}) from None
    except RecursionError:
        raise _too_deep() from None
    config_value_check(value)
    return value


def _stored_number(number: float) -> float | int:
    # PostgreSQL keeps a jsonb number as an exact decimal and prints it without
    # an exponent: the text Python writes for 1e20 ("1e+20") comes back as the
    # integer 100000000000000000000, and numeric has no negative zero.
    if number == 0:
        return 0.0
    if "e+" in repr(number):
        return int(number)
    return number


def value_as_stored(value: Any) -> Any:
    """The value exactly as PostgreSQL will give it back, so that what a write
    answers is what every later read, event and export carries."""
    if isinstance(value, float):
        return _stored_number(value)
    if isinstance(value, dict):
        return {key: value_as_stored(child) for key, child in value.items()}
    if isinstance(value, list):
        return [value_as_stored(child) for child in value]
    return value


def value_checked(value: Any) -> Any:
    """The value as it will be stored, once it passed the checks every value
    passes (InvalidValue otherwise)."""
    config_value_check(value)
    return value_as_stored(value)


def values_identical(left: Any, right: Any) -> bool:
    """Equal as JSON, type for type: Python's == has True == 1 == 1.0."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(values_identical(left[key], right[key]) for key in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(map(values_identical, left, right))
    return left == right
