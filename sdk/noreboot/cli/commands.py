"""The ``hq`` commands that ask the API once and print its answer (``watch`` is in ``watch``).

Each returns an ``Output``: the JSON that ``--json`` prints, and how to print
it for people.
"""

import argparse
import getpass
import json
import sys
import urllib.parse
from typing import Any

from noreboot.api import namespace_path
from noreboot.cli.errors import HqError
from noreboot.cli.files import load_credentials, read_json_file, save_credentials
from noreboot.cli.output import Output, cell, describe_version, patch_line, show, table, when
from noreboot.cli.session import Session, api_url, open_session


def config_path(namespace: str, name: str) -> str:
    return f"{namespace_path(namespace)}/configs/{urllib.parse.quote(name, safe='')}/"


def parse_value(text: str) -> Any:
    """``true``, ``3``, ``{"a": 1}`` as JSON; anything that is not JSON as the plain string."""

    def refuse(constant: str) -> Any:
        raise ValueError(constant)  # NaN and Infinity are not JSON

    try:
        return json.loads(text, parse_constant=refuse)
    except ValueError:
        return text


def cmd_login(args: argparse.Namespace) -> Output:
    url = api_url(args, load_credentials())
    username = args.username
    if not username:
        sys.stderr.write("Username: ")
        sys.stderr.flush()
        username = sys.stdin.readline().strip()
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
    if not username or not password:
        raise HqError("a username and a password are required")
    tokens = Session(url, None).request(
        "POST", "/api/v1/auth/token/", body={"username": username, "password": password}, auth=False
    )
    if not isinstance(tokens, dict) or "access" not in tokens or "refresh" not in tokens:
        raise HqError(f"unexpected answer from {url} to a login")
    path = save_credentials({"url": url, "username": username, "access": tokens["access"], "refresh": tokens["refresh"]})
    return Output(
        {"url": url, "username": username, "credentials": str(path)},
        lambda: print(f"logged in to {url} as {username}; credentials saved to {path}"),
    )


def cmd_namespaces(args: argparse.Namespace) -> Output:
    body = open_session(args).all_pages("/api/v1/namespaces/")
    return Output(
        body,
        lambda: table(
            ["NAMESPACE", "REVISION", "PRODUCTION", "CREATED"],
            [
                [item["namespace"], item["revision"], "yes" if item.get("is_production") else "no", when(item["created_at"])]
                for item in body["results"]
            ],
        ),
    )


def cmd_get(args: argparse.Namespace) -> Output:
    session = open_session(args)
    if args.name is not None:
        config = session.request("GET", config_path(args.namespace, args.name))
        return Output(config, lambda: print(describe_version(config)))
    snapshot = session.request("GET", f"{namespace_path(args.namespace)}/configs/")

    def render() -> None:
        print(f"{snapshot['namespace']} at revision {snapshot['revision']}")
        table(
            ["NAME", "VERSION", "UPDATED", "VALUE"],
            [
                [config["name"], config["version"], when(config.get("updated_at")), cell(config["value"])]
                for config in sorted(snapshot["configs"], key=lambda config: config["name"])
            ],
        )

    return Output(snapshot, render)


def cmd_set(args: argparse.Namespace) -> Output:
    body: dict[str, Any] = {"value": parse_value(args.value)}
    if args.comment is not None:
        body["comment"] = args.comment
    config = open_session(args).request(
        "PUT", config_path(args.namespace, args.name), body=body, if_version=args.if_version
    )
    return Output(config, lambda: print(describe_version(config)))


def cmd_delete(args: argparse.Namespace) -> Output:
    body = {"comment": args.comment} if args.comment is not None else None
    open_session(args).request("DELETE", config_path(args.namespace, args.name), body=body, if_version=args.if_version)
    return Output(
        {"namespace": args.namespace, "name": args.name, "deleted": True},
        lambda: print(f"deleted {args.name} from {args.namespace}"),
    )


def cmd_history(args: argparse.Namespace) -> Output:
    body = open_session(args).all_pages(config_path(args.namespace, args.name) + "versions/")
    return Output(
        body,
        lambda: table(
            ["VERSION", "CREATED", "BY", "VALUE", "COMMENT"],
            [
                [
                    item["version"],
                    when(item["created_at"]),
                    item.get("created_by") or "-",
                    "(deleted)" if item.get("deleted") else cell(item["value"]),
                    item.get("comment") or "",
                ]
                for item in body["results"]
            ],
        ),
    )


def cmd_diff(args: argparse.Namespace) -> Output:
    body = open_session(args).request(
        "GET", config_path(args.namespace, args.name) + "diff/", query={"from": args.from_version, "to": args.to_version}
    )

    def render() -> None:
        print(f"{args.name}: version {body['from']} -> version {body['to']}")
        for operation in body["patch"]:
            print(patch_line(operation))
        if not body["patch"]:
            print("(no difference)")

    return Output(body, render)


def cmd_rollback(args: argparse.Namespace) -> Output:
    body: dict[str, Any] = {"to_version": args.to}
    if args.comment is not None:
        body["comment"] = args.comment
    config = open_session(args).request(
        "POST", config_path(args.namespace, args.name) + "rollback/", body=body, if_version=args.if_version
    )
    return Output(config, lambda: print(describe_version(config, f", rolled back to version {args.to}")))


def cmd_export(args: argparse.Namespace) -> Output:
    # The export body is already what a script wants: same output with or without --json.
    return Output(open_session(args).request("GET", f"{namespace_path(args.namespace)}/export/"))


def cmd_import(args: argparse.Namespace) -> Output:
    data = read_json_file(args.file)
    if not isinstance(data, dict) or not isinstance(data.get("configs"), dict):
        raise HqError(f'{args.file} is not an export: expected a JSON object with a "configs" object of name: value')
    body: dict[str, Any] = {"configs": data["configs"], "dry_run": args.dry_run}
    if args.comment is not None:
        body["comment"] = args.comment
    result = open_session(args).request("POST", f"{namespace_path(args.namespace)}/import/", body=body)
    return Output(result, lambda: _print_import(result))


def _print_import(result: dict) -> None:
    counts = {"create": 0, "update": 0, "unchanged": 0}
    for change in result["changes"]:
        counts[change["op"]] = counts.get(change["op"], 0) + 1
        if change["op"] == "create":
            print(f"+ {change['name']} = {show(change['after'])}")
        elif change["op"] == "update":
            print(f"~ {change['name']}: {show(change['before'])} -> {show(change['after'])}")
    if result["dry_run"]:
        print(
            f"dry run on {result['namespace']}: {counts['create']} to create, {counts['update']} to update, "
            f"{counts['unchanged']} unchanged; nothing written"
        )
    else:
        print(
            f"imported into {result['namespace']}: {counts['create']} created, {counts['update']} updated, "
            f"{counts['unchanged']} unchanged (revision {result['revision']})"
        )

