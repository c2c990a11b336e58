"""``hq``: the No-Reboot HQ command line (``python -m noreboot.cli`` works too).

Standard library only, no Django: HTTP goes through ``urllib``, the session
from ``hq login`` lives in ``$XDG_CONFIG_HOME/noreboot/credentials.json``
(see ``noreboot.credentials``), and ``hq watch`` runs a ``ConfigClient``.

Exit codes: 0 ok, 1 error (one ``hq: ...`` line on stderr), 2 usage.
"""

import argparse
import base64
import getpass
import json
import logging
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from noreboot.credentials import CredentialsError, load_credentials, save_credentials

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_KAFKA = "127.0.0.1:9092"
HTTP_TIMEOUT = 30.0
PAGE_SIZE = 100
TABLE_VALUE_WIDTH = 60
# A stored JWT is renewed this long before it expires while `hq watch` runs.
RENEW_BEFORE_EXPIRY = 60.0


class HqError(Exception):
    """Anything that ends the command with exit 1 and its text as one line on stderr."""


class ApiFailure(HqError):
    """The API answered with an error: ``STATUS CODE: MESSAGE [field: messages; ...]``."""

    def __init__(self, status: int, code: str, message: str, fields: dict | None = None) -> None:
        text = f"{status} {code}: {message}"
        if fields:
            text += " " + "; ".join(
                f"{key}: {' '.join(str(m) for m in messages) if isinstance(messages, list) else messages}".rstrip(".")
                for key, messages in fields.items()
            )
        super().__init__(" ".join(text.split()))  # one line, whatever the server put in it
        self.status = status
        self.code = code


# -- HTTP ----------------------------------------------------------------------


class Session:
    """The API at ``url`` with a bearer token; renews a stored JWT once on a 401."""

    def __init__(self, url: str, token: str | None, stored: dict | None = None) -> None:
        self.url = url
        self.token = token
        # Only a session from `hq login` can be renewed; NOREBOOT_TOKEN cannot.
        self._stored = stored

    @property
    def renewable(self) -> bool:
        return self._stored is not None and bool(self._stored.get("refresh"))

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: dict | None = None,
        if_version: int | None = None,
        auth: bool = True,
    ) -> Any:
        """The decoded JSON body (``None`` if empty); raises ``ApiFailure`` / ``HqError``."""
        if auth and not self.token:
            raise HqError(f"not logged in to {self.url}: run `hq login` or set NOREBOOT_TOKEN")
        headers = {"If-Match": f'"{if_version}"'} if if_version is not None else {}
        status, payload, reason = self._send(method, path, body, query, headers, auth)
        if status == 401 and auth and self.renewable:
            self.renew()
            status, payload, reason = self._send(method, path, body, query, headers, auth)
        if status >= 400:
            raise _failure(status, payload, reason)
        return payload

    def renew(self) -> None:
        """Rotate the stored refresh token for a new access token, and save both."""
        assert self._stored is not None
        status, payload, reason = self._send(
            "POST", "/api/v1/auth/token/refresh/", {"refresh": self._stored["refresh"]}, None, {}, False
        )
        if status >= 400:
            failure = _failure(status, payload, reason)
            if status in (400, 401):
                raise HqError(f"{failure} (the stored session has expired: run `hq login`)") from failure
            raise failure
        if not isinstance(payload, dict) or not isinstance(payload.get("access"), str):
            raise HqError(f"unexpected answer from {self.url} to a token refresh")
        self._stored = {**self._stored, "access": payload["access"], "refresh": payload.get("refresh", self._stored["refresh"])}
        self.token = self._stored["access"]
        save_credentials(self._stored)

    def _send(self, method, path, body, query, headers, auth) -> tuple[int, Any, str]:
        url = self.url + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        headers = {"Accept": "application/json", "User-Agent": "hq (noreboot)", **headers}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if auth:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
                status, raw, reason = response.status, response.read(), response.reason
        except urllib.error.HTTPError as exc:
            with exc:
                status, raw, reason = exc.code, exc.read(), exc.reason
        except urllib.error.URLError as exc:
            raise HqError(f"cannot reach {self.url}: {exc.reason}") from exc
        except (OSError, ValueError) as exc:  # timeouts, resets, a malformed URL
            raise HqError(f"request to {self.url} failed: {exc}") from exc
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            if status < 400:
                raise HqError(f"{method} {url} answered {status} with a body that is not JSON") from None
            payload = None
        return status, payload, str(reason)


def _failure(status: int, payload: Any, reason: str) -> ApiFailure:
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        return ApiFailure(status, str(error.get("code", "error")), str(error.get("message", reason)), error.get("fields"))
    return ApiFailure(status, "error", reason or "no error detail in the response")


def _open_session(args: argparse.Namespace) -> Session:
    """URL: --url, else the stored one, else NOREBOOT_URL, else the default.
    Token: NOREBOOT_TOKEN, else the stored session if it is for that URL."""
    stored = load_credentials()
    url = _api_url(args, stored)
    env_token = os.environ.get("NOREBOOT_TOKEN") or None
    if env_token:
        return Session(url, env_token)
    # A token is never sent to another server than the one that issued it.
    if stored is not None and _normal_url(stored.get("url") or "") == url:
        return Session(url, stored["access"], stored)
    return Session(url, None)


def _api_url(args: argparse.Namespace, stored: dict | None) -> str:
    url = args.url or (stored or {}).get("url") or os.environ.get("NOREBOOT_URL") or DEFAULT_URL
    return _normal_url(url)


def _normal_url(url: str) -> str:
    return url.strip().rstrip("/")


def _quote(part: str) -> str:
    return urllib.parse.quote(part, safe="")


def _namespace_path(namespace: str) -> str:
    return "/api/v1/namespaces/" + "/".join(_quote(part) for part in namespace.split("/"))


def _config_path(namespace: str, name: str) -> str:
    return f"{_namespace_path(namespace)}/configs/{_quote(name)}/"


def _all_pages(session: Session, path: str) -> dict:
    """Every page of a paginated list, merged into one body of the same shape."""
    results: list = []
    page = 1
    while True:
        body = session.request("GET", path, query={"page": page, "page_size": PAGE_SIZE})
        results.extend(body["results"])
        if not body.get("next"):
            return {"count": body.get("count", len(results)), "next": None, "previous": None, "results": results}
        page += 1


# -- output --------------------------------------------------------------------


def _print_json(payload: Any) -> None:
    print(json.dumps(payload, indent=2, ensure_ascii=False))


def _show(value: Any) -> str:
    """A value as JSON on one line (strings quoted, so 3 and "3" differ)."""
    return json.dumps(value, ensure_ascii=False)


def _cell(value: Any) -> str:
    text = _show(value)
    return text if len(text) <= TABLE_VALUE_WIDTH else text[: TABLE_VALUE_WIDTH - 3] + "..."


def _when(stamp: Any) -> str:
    try:
        moment = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return str(stamp)
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _table(headers: list[str], rows: list[list[Any]]) -> None:
    cells = [headers] + [[str(cell) for cell in row] for row in rows]
    widths = [max(len(row[column]) for row in cells) for column in range(len(headers))]
    for row in cells:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _describe_version(config: dict, extra: str = "") -> str:
    return f"{config['name']} = {_show(config['value'])} (version {config['version']}, revision {config['revision']}{extra})"


# -- commands ------------------------------------------------------------------


def cmd_login(args: argparse.Namespace) -> int:
    url = _api_url(args, load_credentials())
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
    session = Session(url, None)
    tokens = session.request("POST", "/api/v1/auth/token/", body={"username": username, "password": password}, auth=False)
    if not isinstance(tokens, dict) or "access" not in tokens or "refresh" not in tokens:
        raise HqError(f"unexpected answer from {url} to a login")
    path = save_credentials({"url": url, "username": username, "access": tokens["access"], "refresh": tokens["refresh"]})
    if args.json:
        _print_json({"url": url, "username": username, "credentials": str(path)})
    else:
        print(f"logged in to {url} as {username}; credentials saved to {path}")
    return 0


def cmd_namespaces(args: argparse.Namespace) -> int:
    body = _all_pages(_open_session(args), "/api/v1/namespaces/")
    if args.json:
        _print_json(body)
        return 0
    _table(
        ["NAMESPACE", "REVISION", "PRODUCTION", "CREATED"],
        [
            [item["namespace"], item["revision"], "yes" if item.get("is_production") else "no", _when(item["created_at"])]
            for item in body["results"]
        ],
    )
    return 0


def cmd_get(args: argparse.Namespace) -> int:
    session = _open_session(args)
    if args.name is not None:
        config = session.request("GET", _config_path(args.namespace, args.name))
        if args.json:
            _print_json(config)
        else:
            print(_describe_version(config))
        return 0
    snapshot = session.request("GET", f"{_namespace_path(args.namespace)}/configs/")
    if args.json:
        _print_json(snapshot)
        return 0
    print(f"{snapshot['namespace']} at revision {snapshot['revision']}")
    _table(
        ["NAME", "VERSION", "UPDATED", "VALUE"],
        [
            [config["name"], config["version"], _when(config.get("updated_at")), _cell(config["value"])]
            for config in sorted(snapshot["configs"], key=lambda config: config["name"])
        ],
    )
    return 0


def parse_value(text: str) -> Any:
    """``true``, ``3``, ``{"a": 1}`` as JSON; anything that is not JSON as the plain string."""

    def refuse(constant: str) -> Any:
        raise ValueError(constant)  # NaN and Infinity are not JSON

    try:
        return json.loads(text, parse_constant=refuse)
    except ValueError:
        return text


def cmd_set(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"value": parse_value(args.value)}
    if args.comment is not None:
        body["comment"] = args.comment
    config = _open_session(args).request(
        "PUT", _config_path(args.namespace, args.name), body=body, if_version=args.if_version
    )
    if args.json:
        _print_json(config)
    else:
        print(_describe_version(config))
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    body = {"comment": args.comment} if args.comment is not None else None
    _open_session(args).request("DELETE", _config_path(args.namespace, args.name), body=body, if_version=args.if_version)
    if args.json:
        _print_json({"namespace": args.namespace, "name": args.name, "deleted": True})
    else:
        print(f"deleted {args.name} from {args.namespace}")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    body = _all_pages(_open_session(args), _config_path(args.namespace, args.name) + "versions/")
    if args.json:
        _print_json(body)
        return 0
    _table(
        ["VERSION", "CREATED", "BY", "VALUE", "COMMENT"],
        [
            [
                item["version"],
                _when(item["created_at"]),
                item.get("created_by") or "-",
                "(deleted)" if item.get("deleted") else _cell(item["value"]),
                item.get("comment") or "",
            ]
            for item in body["results"]
        ],
    )
    return 0


_PATCH_SIGNS = {"add": "+", "remove": "-", "replace": "~"}


def _patch_line(operation: dict) -> str:
    op = operation.get("op", "?")
    path = operation.get("path") or "(root)"
    if op in ("add", "replace", "test"):
        return f"{_PATCH_SIGNS.get(op, op)} {path} = {_show(operation.get('value'))}"
    if op == "remove":
        return f"- {path}"
    if op in ("move", "copy"):
        return f"{op} {operation.get('from') or '(root)'} -> {path}"
    return _show(operation)


def cmd_diff(args: argparse.Namespace) -> int:
    body = _open_session(args).request(
        "GET", _config_path(args.namespace, args.name) + "diff/", query={"from": args.from_version, "to": args.to_version}
    )
    if args.json:
        _print_json(body)
        return 0
    print(f"{args.name}: version {body['from']} -> version {body['to']}")
    for operation in body["patch"]:
        print(_patch_line(operation))
    if not body["patch"]:
        print("(no difference)")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"to_version": args.to}
    if args.comment is not None:
        body["comment"] = args.comment
    config = _open_session(args).request(
        "POST", _config_path(args.namespace, args.name) + "rollback/", body=body, if_version=args.if_version
    )
    if args.json:
        _print_json(config)
    else:
        print(_describe_version(config, f", rolled back to version {args.to}"))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    # The export body is already what a script wants: same output with or without --json.
    _print_json(_open_session(args).request("GET", f"{_namespace_path(args.namespace)}/export/"))
    return 0


def _read_import_file(name: str) -> dict:
    try:
        text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
    except OSError as exc:
        raise HqError(f"cannot read {name}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise HqError(f"{name} is not UTF-8 text") from exc
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise HqError(f"{name} is not JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("configs"), dict):
        raise HqError(f'{name} is not an export: expected a JSON object with a "configs" object of name: value')
    return data["configs"]


def cmd_import(args: argparse.Namespace) -> int:
    configs = _read_import_file(args.file)
    body: dict[str, Any] = {"configs": configs, "dry_run": args.dry_run}
    if args.comment is not None:
        body["comment"] = args.comment
    result = _open_session(args).request("POST", f"{_namespace_path(args.namespace)}/import/", body=body)
    if args.json:
        _print_json(result)
        return 0
    counts = {"create": 0, "update": 0, "unchanged": 0}
    for change in result["changes"]:
        counts[change["op"]] = counts.get(change["op"], 0) + 1
        if change["op"] == "create":
            print(f"+ {change['name']} = {_show(change['after'])}")
        elif change["op"] == "update":
            print(f"~ {change['name']}: {_show(change['before'])} -> {_show(change['after'])}")
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
    return 0


def _token_expiry(token: str) -> float | None:
    """The ``exp`` of a JWT (unverified: only to know when to renew), else None."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    expiry = claims.get("exp") if isinstance(claims, dict) else None
    return float(expiry) if isinstance(expiry, int | float) and not isinstance(expiry, bool) else None


def cmd_watch(args: argparse.Namespace) -> int:
    from noreboot.client import ConfigClient
    from noreboot.errors import NoRebootError

    session = _open_session(args)
    # Through our own session first: a 401 renews a stored login, and a wrong
    # namespace or token fails with the same one line as every other command.
    session.request("GET", f"{_namespace_path(args.namespace)}/configs/")
    kafka = args.kafka or os.environ.get("NOREBOOT_KAFKA_BOOTSTRAP") or DEFAULT_KAFKA
    logging.basicConfig(level=logging.WARNING, format="hq watch: %(levelname)s %(name)s: %(message)s")
    printing = threading.Lock()

    def announce(name: str, old: Any, new: Any) -> None:
        if args.json:
            line = json.dumps({"name": name, "old": old, "new": new, "revision": client.revision}, ensure_ascii=False)
        else:
            before = "(none)" if old is None else _show(old)
            after = "(none)" if new is None else _show(new)
            line = f"{name}: {before} -> {after} (revision {client.revision})"
        with printing:
            print(line, flush=True)

    try:
        client = ConfigClient(namespace=args.namespace, api_url=session.url, token=session.token, kafka_bootstrap=kafka)
        client.on_change(announce)
        client.start()
    except (ValueError, NoRebootError) as exc:
        raise HqError(f"cannot watch {args.namespace}: {exc}") from exc
    # From here Ctrl-C and SIGTERM end the loop below, so the client is always closed.
    stopping = threading.Event()
    signal.signal(signal.SIGINT, lambda signum, frame: stopping.set())
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.set())
    try:
        print(f"watching {args.namespace} at revision {client.revision} (Ctrl-C to stop)", file=sys.stderr, flush=True)
        last_problem = ""
        while not stopping.wait(15.0):
            # The listener re-reads the snapshot now and then, and after any
            # gap: keep a stored login's access token valid for it.
            expiry = _token_expiry(session.token or "")
            if not session.renewable or expiry is None or expiry - time.time() > RENEW_BEFORE_EXPIRY:
                continue
            try:
                session.renew()
            except (HqError, CredentialsError) as exc:
                if str(exc) != last_problem:
                    print(f"hq: cannot renew the session: {exc}", file=sys.stderr, flush=True)
                    last_problem = str(exc)
            else:
                client._api._token = session.token  # the SDK's fetcher reads it at each request
                last_problem = ""
    finally:
        client.close()
    return 0


# -- arguments -----------------------------------------------------------------


def _namespace(text: str) -> str:
    parts = text.strip("/").split("/")
    if len(parts) != 3 or not all(parts):
        raise argparse.ArgumentTypeError(f"expected tenant/environment/service, got {text!r}")
    return "/".join(parts)


def _version(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a version number (1, 2, ...), got {text!r}")
    return int(text)


def _add_global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # On the top parser they have defaults; on each command they are SUPPRESSed
    # so that `hq --json get ...` and `hq get ... --json` both work.
    parser.add_argument(
        "--url", default=None if top else argparse.SUPPRESS,
        help=f"the API (default: the logged-in one, else $NOREBOOT_URL, else {DEFAULT_URL})",
    )
    parser.add_argument(
        "--json", action="store_true", default=False if top else argparse.SUPPRESS,
        help="print the API's JSON instead of tables",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hq",
        description="No-Reboot HQ from the command line. The token comes from $NOREBOOT_TOKEN, else `hq login`.",
        epilog="Exit codes: 0 ok, 1 error, 2 usage.",
    )
    _add_global_options(parser, top=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, handler, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        _add_global_options(sub, top=False)
        sub.set_defaults(handler=handler)
        return sub

    def namespace_and_name(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("namespace", type=_namespace, metavar="NS", help="tenant/environment/service")
        sub.add_argument("name", metavar="NAME")

    sub = command("login", cmd_login, "sign in and store the session (mode 0600)")
    sub.add_argument("--username", "-u")
    sub.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")

    command("namespaces", cmd_namespaces, "list the namespaces you may see")

    sub = command("get", cmd_get, "show a namespace's configs, or one config")
    sub.add_argument("namespace", type=_namespace, metavar="NS", help="tenant/environment/service")
    sub.add_argument("name", metavar="NAME", nargs="?")

    sub = command("set", cmd_set, "set a config (VALUE is JSON if it parses, else a string)")
    namespace_and_name(sub)
    sub.add_argument("value", metavar="VALUE")
    sub.add_argument("--comment")
    sub.add_argument("--if-version", type=_version, metavar="N", help="only if the config is still at version N")

    sub = command("delete", cmd_delete, "delete a config (its history stays)")
    namespace_and_name(sub)
    sub.add_argument("--comment")
    sub.add_argument("--if-version", type=_version, metavar="N", help="only if the config is still at version N")

    sub = command("history", cmd_history, "every version of a config, newest first")
    namespace_and_name(sub)

    sub = command("diff", cmd_diff, "the JSON Patch from one version of a config to another")
    namespace_and_name(sub)
    sub.add_argument("--from", dest="from_version", type=_version, required=True, metavar="A")
    sub.add_argument("--to", dest="to_version", type=_version, required=True, metavar="B")

    sub = command("rollback", cmd_rollback, "write an old version's value as a new version")
    namespace_and_name(sub)
    sub.add_argument("--to", type=_version, required=True, metavar="N")
    sub.add_argument("--comment")
    sub.add_argument("--if-version", type=_version, metavar="N", help="only if the config is still at version N")

    sub = command("watch", cmd_watch, "print each live change of a namespace until Ctrl-C")
    sub.add_argument("namespace", type=_namespace, metavar="NS", help="tenant/environment/service")
    sub.add_argument("--kafka", help=f"bootstrap servers (default: $NOREBOOT_KAFKA_BOOTSTRAP, else {DEFAULT_KAFKA})")

    sub = command("export", cmd_export, "print a namespace's active values as JSON")
    sub.add_argument("namespace", type=_namespace, metavar="NS", help="tenant/environment/service")

    sub = command("import", cmd_import, "set many configs from an export file, all or nothing")
    sub.add_argument("namespace", type=_namespace, metavar="NS", help="tenant/environment/service")
    sub.add_argument("file", metavar="FILE", help="a file written by `hq export` (- for stdin)")
    sub.add_argument("--dry-run", action="store_true", help="only show what would change")
    sub.add_argument("--comment")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 on bad usage
    if args.command == "login" and args.password_stdin and not args.username:
        parser.error("login: --password-stdin needs --username")
    try:
        return args.handler(args)
    except (HqError, CredentialsError) as exc:
        print(f"hq: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `hq export NS | head`: the reader left; say nothing more.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:  # a bug: still one line, not a traceback
        print(f"hq: unexpected error: {exc!r}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
