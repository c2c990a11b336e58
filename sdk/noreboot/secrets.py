"""Secret configs on the live feed: Kafka never carries a secret's value (its
event has ``secret: true`` and ``value: null``), so the listener fetches the
value over the API, with the client's token, before the event reaches the
store. The store's swap stays atomic, and no reader ever sees a masked or
missing value in place of a secret."""

import logging
from collections.abc import Callable
from typing import Any

from noreboot.api import ConfigApi
from noreboot.errors import ApiError, ApiUnavailable
from noreboot.snapshot import Snapshot

logger = logging.getLogger("noreboot")


def fill_secrets(event: Any, current: Snapshot, api: ConfigApi, request_sync: Callable[..., bool]) -> bool:
    """Put the plain value and fingerprint into each secret change of ``event``
    (a batch's too), in place. Only the next revision of this namespace is
    filled: a duplicate or a gap is left to the revision rules, and costs no
    (audited) reveal. Returns False, having asked for a full resync, if a
    value could not be had at the event's version."""
    if (
        not isinstance(event, dict)
        or event.get("namespace") != current.namespace
        or event.get("revision") != current.revision + 1
    ):
        return True
    changes = event.get("changes") if event.get("op") == "batch" else [event]
    secret_changes = [
        change for change in changes or ()
        if isinstance(change, dict) and change.get("secret") and change.get("op", "upsert") == "upsert"
    ]
    for change in secret_changes:
        try:
            revealed = api.reveal(change["name"])
        except (ApiError, ApiUnavailable) as exc:
            reason = f"cannot fetch the secret {change['name']}: {exc}"
        else:
            if revealed.version == change.get("version"):
                change["value"], change["fingerprint"] = revealed.value, revealed.fingerprint
                continue
            reason = f"secret {change['name']} is at version {revealed.version}, the event names {change.get('version')}"
        # The snapshot (which reveals each secret at its listed version) settles it.
        if request_sync(full_fetch=True):
            logger.warning("%s: %s; fetching a new snapshot", current.namespace, reason)
        return False
    return True
