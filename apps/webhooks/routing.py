"""Which webhooks an event goes to: its type from the Kafka event's `op`, then
each webhook's namespace globs and event patterns (fnmatch: `*` matches any
run of characters, `/` included)."""

from __future__ import annotations

from datetime import datetime
from fnmatch import fnmatchcase

# What subscribers may ask for. rollout.* and change_request.* name the event
# families of progressive delivery and change requests.
EVENT_PATTERNS = ("*", "config.*", "config.changed", "config.deleted", "rollout.*", "change_request.*")
EVENT_TYPE_FOR_OP = {
    "upsert": "config.changed",
    "batch": "config.changed",
    "delete": "config.deleted",
    "rollout": "rollout.updated",
}
TEST_EVENT = "webhook.test"


def event_type_for(payload: dict) -> str | None:
    return EVENT_TYPE_FOR_OP.get(payload.get("op", ""))


def subscribed(*, namespaces: list[str], events: list[str], created_at: datetime, namespace: str, event_type: str,
               changed_at: datetime) -> bool:
    # A webhook hears of changes made after it existed, not of history that a
    # consumer reading from an earlier offset comes across.
    return (
        changed_at >= created_at
        and any(fnmatchcase(namespace, glob) for glob in namespaces)
        and any(fnmatchcase(event_type, pattern) for pattern in events)
    )
