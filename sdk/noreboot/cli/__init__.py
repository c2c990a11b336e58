"""``hq``: the No-Reboot HQ command line (``python -m noreboot.cli`` works too).

Standard library only, no Django: HTTP goes through the package's client
(``noreboot.transport``), the session from ``hq login`` lives in
``$XDG_CONFIG_HOME/noreboot/credentials.json`` (see ``files``), and
``hq watch`` runs a ``ConfigClient``.

Exit codes: 0 ok, 1 error (one ``hq: ...`` line on stderr), 2 usage.
"""

import argparse
import os
import sys

from noreboot.cli.changes import cmd_apply
from noreboot.cli.commands import (
    cmd_delete,
    cmd_diff,
    cmd_export,
    cmd_get,
    cmd_history,
    cmd_import,
    cmd_login,
    cmd_namespaces,
    cmd_rollback,
    cmd_set,
)
from noreboot.cli.errors import HqError
from noreboot.cli.session import DEFAULT_URL
from noreboot.cli.watch import cmd_watch
from noreboot.errors import NoRebootError


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
    sub.add_argument(
        "--kafka",
        help="bootstrap servers of a broker of your own (default: $NOREBOOT_KAFKA_BOOTSTRAP, else the "
        "token's credentials from the service; a login without them polls)",
    )

    sub = command("export", cmd_export, "print a namespace's active values as JSON")
    sub.add_argument("namespace", type=_namespace, metavar="NS", help="tenant/environment/service")

    sub = command("import", cmd_import, "set many configs from an export file, all or nothing")
    sub.add_argument("namespace", type=_namespace, metavar="NS", help="tenant/environment/service")
    sub.add_argument("file", metavar="FILE", help="a file written by `hq export` (- for stdin)")
    sub.add_argument("--dry-run", action="store_true", help="only show what would change")
    sub.add_argument("--comment")

    sub = command("apply", cmd_apply, "apply changes over several namespaces together, all or nothing (a changeset)")
    sub.add_argument("file", metavar="FILE", help='JSON {"changes": [{namespace, name, op, value?}], "comment"?} '
                     "(- for stdin)")
    sub.add_argument("--comment")
    sub.add_argument("--request", action="store_true", help="open a change request instead (protected namespaces)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 on bad usage
    if args.command == "login" and args.password_stdin and not args.username:
        parser.error("login: --password-stdin needs --username")
    try:
        output = args.handler(args)
        if output is not None:  # `watch` prints as it goes
            output.emit(as_json=args.json)
        return 0
    except (HqError, NoRebootError) as exc:
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
