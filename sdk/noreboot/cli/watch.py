"""``hq watch``: print each live change of a namespace until Ctrl-C, through a ``ConfigClient``."""

import argparse
import base64
import json
import logging
import signal
import sys
import threading
import time
from typing import Any

from noreboot.api import namespace_path
from noreboot.cli.errors import HqError
from noreboot.cli.output import show
from noreboot.cli.session import open_session
from noreboot.errors import NoRebootError

# A stored JWT is renewed this long before it expires while `hq watch` runs.
RENEW_BEFORE_EXPIRY = 60.0


def token_expiry(token: str) -> float | None:
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


def cmd_watch(args: argparse.Namespace) -> None:
    from noreboot.client import ConfigClient

    session = open_session(args)
    # Through our own session first: a 401 renews a stored login, and a wrong
    # namespace or token fails with the same one line as every other command.
    session.request("GET", f"{namespace_path(args.namespace)}/configs/")
    logging.basicConfig(level=logging.WARNING, format="hq watch: %(levelname)s %(name)s: %(message)s")
    printing = threading.Lock()

    def announce(name: str, old: Any, new: Any) -> None:
        if args.json:
            line = json.dumps({"name": name, "old": old, "new": new, "revision": client.revision}, ensure_ascii=False)
        else:
            before = "(none)" if old is None else show(old)
            after = "(none)" if new is None else show(new)
            line = f"{name}: {before} -> {after} (revision {client.revision})"
        with printing:
            print(line, flush=True)

    try:
        # Without --kafka (or NOREBOOT_KAFKA_BOOTSTRAP) the client asks the
        # service for the token's Kafka credentials; a person's login gets
        # none, and the client polls instead.
        client = ConfigClient(
            namespace=args.namespace, api_url=session.url, token=session.token, kafka_bootstrap=args.kafka
        )
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
            expiry = token_expiry(session.token or "")
            if not session.renewable or expiry is None or expiry - time.time() > RENEW_BEFORE_EXPIRY:
                continue
            try:
                session.renew()
            except (HqError, NoRebootError) as exc:
                if str(exc) != last_problem:
                    print(f"hq: cannot renew the session: {exc}", file=sys.stderr, flush=True)
                    last_problem = str(exc)
            else:
                client.set_token(session.token)
                last_problem = ""
    finally:
        client.close()
