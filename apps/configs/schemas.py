"""JSON Schemas of configs (Draft 2020-12): which schemas are accepted, and the
check of a value against one that every write path runs (through the write
funnel in services.py).

A schema comes from users and runs on the server, so it is held to limits
that keep one validation cheap: no reference leaves the schema (nothing is
ever fetched), its size and nesting are bounded, and its regular expressions
may not backtrack without bound (Python's `re` has no time limit, so the
patterns that make it exponential are refused up front). Values themselves
are bounded by the value limits (apps/configs/values.py)."""

from __future__ import annotations

import contextvars
import json
import math
import re
import time

# The parser `re` itself uses (Python 3.11+): patterns are judged as they will run.
from re import _parser as regex_parser
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import SchemaError, ValidationError
from referencing import Registry
from referencing.exceptions import NoSuchResource, Unresolvable

from apps.configs.values import json_storage_problem
from apps.errors import InvalidInput, SchemaViolation

SCHEMA_MAX_BYTES = 64 * 1024
SCHEMA_MAX_DEPTH = 32
PATTERN_MAX_LENGTH = 1000
VIOLATIONS_MAX = 20
# One value's check stops here (and the value is refused): no schema that passed
# schema_check, with no value under the value limits, holds a worker longer.
VALIDATION_SECONDS_MAX = 1.0
MESSAGE_MAX_LENGTH = 200
# The one violation a secret's value is ever told: which rule failed, or where,
# would let someone who may not reveal it learn it part by part.
SECRET_VIOLATION = ": the secret value does not match the schema (details withheld)"



def _refuse_retrieval(uri: str):
    # A $ref to anything outside the schema would be a fetch from the server.
    raise NoSuchResource(ref=uri)


_LOCAL_ONLY = Registry(retrieve=_refuse_retrieval)


def _bad_schema(message: str) -> InvalidInput:
    return InvalidInput(f"The schema is refused: {message}", fields={"schema": [message]})


def _walk(schema: Any):
    """Every (key, value) pair of every object in the schema, depth first, with its depth."""
    stack = [(schema, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > SCHEMA_MAX_DEPTH:
            raise _bad_schema(f"nested deeper than {SCHEMA_MAX_DEPTH} levels")
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        if isinstance(node, dict):
            for key, value in node.items():
                yield key, value
        stack.extend((child, depth + 1) for child in children)


_REPEATS = {regex_parser.MAX_REPEAT, regex_parser.MIN_REPEAT, regex_parser.POSSESSIVE_REPEAT}


def _pattern_problem(pattern: str) -> str | None:
    """Why a pattern could make `re` backtrack exponentially (None if it cannot):
    a repeated part that holds another repeat or a backreference, or a choice
    between branches that may start with the same character."""
    if len(pattern) > PATTERN_MAX_LENGTH:
        return f"patterns are at most {PATTERN_MAX_LENGTH} characters"
    try:
        parsed = regex_parser.parse(pattern)
    except (re.error, OverflowError, RecursionError) as error:
        return f"{pattern!r} is not a valid regular expression ({error})"
    return _backtracking_problem(parsed, inside_repeat=False)


def _backtracking_problem(items, *, inside_repeat: bool) -> str | None:
    for op, argument in items:
        if op in _REPEATS:
            _low, high, body = argument
            repeats = high > 1
            if repeats and inside_repeat:
                return "a repeated group holds another repeat (exponential backtracking)"
            problem = _backtracking_problem(body, inside_repeat=inside_repeat or repeats)
        elif op is regex_parser.SUBPATTERN:
            problem = _backtracking_problem(argument[-1], inside_repeat=inside_repeat)
        elif op is regex_parser.BRANCH:
            branches = argument[1]
            firsts = [branch[0] if len(branch) else None for branch in branches]
            if inside_repeat and (
                any(first is None or first[0] is not regex_parser.LITERAL for first in firsts)
                or len({first[1] for first in firsts}) != len(firsts)
            ):
                return "a repeated choice whose branches may start alike (exponential backtracking)"
            problem = next(
                (found for branch in branches if (found := _backtracking_problem(branch, inside_repeat=inside_repeat))),
                None,
            )
        elif op in (regex_parser.GROUPREF, regex_parser.GROUPREF_EXISTS):
            problem = "backreferences are not allowed"
        elif op in (regex_parser.ASSERT, regex_parser.ASSERT_NOT):
            problem = _backtracking_problem(argument[1], inside_repeat=inside_repeat)
        else:
            problem = None
        if problem:
            return problem
    return None


def schema_check(schema: Any) -> None:
    """Refuse (InvalidInput, 400) a schema the platform will not run."""
    if not isinstance(schema, dict):
        raise _bad_schema("a schema is a JSON object")
    size = len(json.dumps(schema, separators=(",", ":")))
    if size > SCHEMA_MAX_BYTES:
        raise _bad_schema(f"at most {SCHEMA_MAX_BYTES} bytes of JSON, got {size}")
    if problem := json_storage_problem(schema):
        raise _bad_schema(f"it cannot be stored: {problem}")
    for key, value in _walk(schema):
        if key in ("$ref", "$dynamicRef") and isinstance(value, str) and not value.startswith("#"):
            raise _bad_schema(f"{key} {value!r} points outside the schema; only local references ('#...') are allowed")
        if key == "$schema" and value != Draft202012Validator.META_SCHEMA["$id"]:
            raise _bad_schema(f"only Draft 2020-12 ({Draft202012Validator.META_SCHEMA['$id']}) is supported")
        patterns = [value] if key == "pattern" else list(value) if key == "patternProperties" and isinstance(value, dict) else []
        for pattern in patterns:
            if isinstance(pattern, str) and (problem := _pattern_problem(pattern)):
                raise _bad_schema(f"pattern refused: {problem}")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        raise _bad_schema(f"not a valid JSON Schema: {_pointer(error.path)}: {_short(error.message)}") from None
    # References are resolved lazily: a few values of each type walk the
    # schema's branches, so a dangling or endlessly self-referencing $ref is
    # refused now, not met by a later write.
    for probe in ({}, [], "", 0, True):
        try:
            _violations(schema, probe)
        except UNUSABLE_SCHEMA:
            raise _bad_schema("a reference cannot be followed (it points nowhere, or only to itself)") from None


def _pointer(path) -> str:
    return "/" + "/".join(str(part).replace("~", "~0").replace("/", "~1") for part in path) if path else ""


def _short(message: str) -> str:
    return message if len(message) <= MESSAGE_MAX_LENGTH else message[: MESSAGE_MAX_LENGTH - 1] + "…"


class ValidationTooSlow(Exception):
    pass


# The end of the validation running in this context (inf: none running).
_deadline: contextvars.ContextVar[float] = contextvars.ContextVar("schema_validation_deadline", default=math.inf)


def _bounded(keyword_function):
    """A keyword's check that first looks at the clock. Every keyword that
    descends into parts of the value runs its subschemas' keywords through
    here, so a costly combination (an enum of thousands checked for each of
    thousands of items) stops at the deadline instead of holding a worker."""

    def check(validator, keyword_value, instance, schema):
        if time.monotonic() > _deadline.get():
            raise ValidationTooSlow
        return keyword_function(validator, keyword_value, instance, schema) or ()

    return check


def _equality_key(value: Any) -> Any:
    # Equal keys for values JSON Schema calls equal: 1 and 1.0 are (hash and ==
    # agree in Python), true and 1 are not.
    if isinstance(value, bool) or value is None:
        return ("literal", value)
    if isinstance(value, int | float):
        return ("number", value)
    if isinstance(value, str):
        return ("string", value)
    if isinstance(value, list):
        return ("array", tuple(_equality_key(item) for item in value))
    return ("object", frozenset((key, _equality_key(item)) for key, item in value.items()))


def _unique_items(validator, unique: bool, instance: Any, schema: dict):
    # jsonschema compares unhashable items pairwise: a 64 KiB array of small
    # objects takes minutes. Hashing a canonical key takes milliseconds.
    if unique and validator.is_type(instance, "array"):
        if len({_equality_key(item) for item in instance}) != len(instance):
            yield ValidationError(f"{instance!r} has non-unique elements")


BoundedValidator = validators.extend(
    Draft202012Validator,
    {keyword: _bounded(function) for keyword, function in
     {**Draft202012Validator.VALIDATORS, "uniqueItems": _unique_items}.items()},
)

# What a schema that passed the meta-schema can still raise while validating.
UNUSABLE_SCHEMA = (Unresolvable, RecursionError)


def schema_violations(schema: dict, value: Any, *, secret: bool) -> list[str]:
    """The value's violations of the schema as "<JSON pointer>: <message>", at
    most VIOLATIONS_MAX. A secret's are only ever SECRET_VIOLATION: jsonschema's
    messages quote the value, and pointers name its keys."""
    try:
        # The first failure is all a secret's answer says.
        violations = _violations(schema, value, limit=1 if secret else VIOLATIONS_MAX)
    except UNUSABLE_SCHEMA:
        violations = [": the schema cannot be evaluated for this value (a reference cannot be followed)"]
    except ValidationTooSlow:
        violations = [f": checking the value against the schema took over {VALIDATION_SECONDS_MAX:g} s; simplify either"]
    return [SECRET_VIOLATION] if secret and violations else violations


def _violations(schema: dict, value: Any, *, limit: int = VIOLATIONS_MAX) -> list[str]:
    validator = BoundedValidator(schema, registry=_LOCAL_ONLY)
    violations = []
    token = _deadline.set(time.monotonic() + VALIDATION_SECONDS_MAX)
    try:
        for error in validator.iter_errors(value):
            violations.append(f"{_pointer(error.absolute_path)}: {_short(error.message)}")
            if len(violations) >= limit:
                break
    finally:
        _deadline.reset(token)
    return violations


def schema_enforce(schema: dict | None, value: Any, *, secret: bool) -> None:
    """Raise SchemaViolation (400 schema_violation) if the value fails the schema."""
    if schema is None:
        return
    violations = schema_violations(schema, value, secret=secret)
    if violations:
        raise SchemaViolation(
            f"The value does not match the config's schema ({len(violations)} violations shown).",
            fields={"value": violations},
        )
