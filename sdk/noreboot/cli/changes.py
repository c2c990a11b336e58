"""``hq apply``: several changes over several namespaces as one changeset (or
one change request with ``--request``), from a JSON file:

    {"comment": "raise the limit with its flag",
     "changes": [{"namespace": "acme/prod/checkout", "name": "limit", "op": "set", "value": 100},
                 {"namespace": "acme/prod/payments", "name": "old_flag", "op": "delete"}]}

A bare list of changes works too.
"""

import argparse
from typing import Any

from noreboot.cli.errors import HqError
from noreboot.cli.files import read_json_file
from noreboot.cli.output import Output, show, table
from noreboot.cli.session import open_session


def _changes_body(data: Any, source: str, comment: str | None) -> dict[str, Any]:
    if isinstance(data, list):
        data = {"changes": data}
    if not isinstance(data, dict) or not isinstance(data.get("changes"), list):
        raise HqError(f'{source}: expected a JSON object with a "changes" list (or the list itself)')
    body: dict[str, Any] = {"changes": data["changes"]}
    if comment is not None or "comment" in data:
        body["comment"] = comment if comment is not None else data["comment"]
    return body


def cmd_apply(args: argparse.Namespace) -> Output:
    body = _changes_body(read_json_file(args.file), args.file, args.comment)
    session = open_session(args)
    if args.request:
        opened = session.request("POST", "/api/v1/change-requests/", body=body)
        return Output(opened, lambda: _print_request(opened))
    applied = session.request("POST", "/api/v1/changesets/", body=body)
    return Output(applied, lambda: _print_changeset(applied))


def _print_changeset(changeset: dict) -> None:
    table(["NAMESPACE", "NAME", "OP", "VERSION", "REVISION"],
          [[c["namespace"], c["name"], c["op"], c["version"], c["revision"]] for c in changeset["changes"]])
    print(f"changeset {changeset['id']}: {len(changeset['changes'])} changes in "
          f"{len(changeset['revisions'])} namespaces, applied together")


def _print_request(change_request: dict) -> None:
    table(["NAMESPACE", "NAME", "OP", "VALUE"],
          [[c["namespace"], c["name"], c["op"], show(c["value"]) if c["op"] == "set" else ""]
           for c in change_request["changes"]])
    print(f"change request {change_request['id']} opened: it needs {change_request['approvals_needed']} "
          "approval(s) before it can be applied")
