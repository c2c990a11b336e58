"""How a config value, and a change to it, reads wherever it is shown: the API's
diff endpoint, the dashboard and the admin all use these two functions."""

from __future__ import annotations

import json
from typing import Any

import jsonpatch

PREVIEW_LENGTH = 80


def value_patch(before: Any, after: Any) -> list[dict]:
    """RFC 6902 operations that turn `before` into `after`.

    A value that does not exist (a name not created yet, or deleted) is passed
    as None, which is also what a tombstone version holds; values themselves are
    never null, so a deletion reads as one `replace` of the whole document with
    null, and a creation as one `replace` of null with the value."""
    return jsonpatch.make_patch(before, after).patch


def value_preview(value: Any, length: int = PREVIEW_LENGTH) -> str:
    """The value as one line of JSON, cut to at most `length` characters."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= length else text[: length - 1] + "…"
