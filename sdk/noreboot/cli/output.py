"""What ``hq`` prints: JSON for ``--json`` (and scripts), tables and one-liners for people."""

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

TABLE_VALUE_WIDTH = 60


@dataclass(frozen=True, slots=True)
class Output:
    """A command's result: ``payload`` is printed as JSON with ``--json``, else ``render()`` prints
    it for people (a command without a ``render`` prints JSON either way)."""

    payload: Any
    render: Callable[[], None] | None = None

    def emit(self, *, as_json: bool) -> None:
        if as_json or self.render is None:
            print_json(self.payload)
        else:
            self.render()


def print_json(payload: Any) -> None:
    print(json.dumps(payload, indent=2, ensure_ascii=False))


def show(value: Any) -> str:
    """A value as JSON on one line (strings quoted, so 3 and "3" differ)."""
    return json.dumps(value, ensure_ascii=False)


def cell(value: Any) -> str:
    text = show(value)
    return text if len(text) <= TABLE_VALUE_WIDTH else text[: TABLE_VALUE_WIDTH - 3] + "..."


def when(stamp: Any) -> str:
    try:
        moment = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return str(stamp)
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def table(headers: list[str], rows: list[list[Any]]) -> None:
    cells = [headers] + [[str(item) for item in row] for row in rows]
    widths = [max(len(row[column]) for row in cells) for column in range(len(headers))]
    for row in cells:
        print("  ".join(item.ljust(width) for item, width in zip(row, widths, strict=True)).rstrip())


def describe_version(config: dict, extra: str = "") -> str:
    return f"{config['name']} = {show(config['value'])} (version {config['version']}, revision {config['revision']}{extra})"


_PATCH_SIGNS = {"add": "+", "remove": "-", "replace": "~"}


def patch_line(operation: dict) -> str:
    op = operation.get("op", "?")
    path = operation.get("path") or "(root)"
    if op in ("add", "replace", "test"):
        return f"{_PATCH_SIGNS.get(op, op)} {path} = {show(operation.get('value'))}"
    if op == "remove":
        return f"- {path}"
    if op in ("move", "copy"):
        return f"{op} {operation.get('from') or '(root)'} -> {path}"
    return show(operation)
