"""The immutable snapshot of one namespace, and the revision rules.

Readers hold a reference to a ``Snapshot`` and never lock: nobody mutates
one after it is built (its objects and arrays are frozen, see ``frozen``); a
change builds a new snapshot and the client swaps the reference whole.
Everything here is pure (no I/O, no threads), so the revision rules can be
tested by calling ``apply_event`` with plain dicts.
"""

import enum
import json
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple

from noreboot.frozen import freeze

# Distinguishes "the name is missing" from "the value is JSON null".
MISSING: Any = object()

# Where the snapshot being served came from (ConfigClient.source).
SOURCE_API = "api"
SOURCE_CACHE = "cache"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """All values of one namespace at one revision.

    ``values`` must not be mutated once the snapshot is built, and its objects
    and arrays are frozen (``freeze``); ``view`` is the read-only face of it
    handed to callers.
    """

    namespace: str
    revision: int
    values: dict[str, Any]
    # The database lineage the revision belongs to; None when not known (a
    # server or disk cache from before epochs).
    epoch: str | None = None
    view: Mapping[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # The dataclass is frozen, so the derived field is set the way
        # dataclasses themselves do it.
        object.__setattr__(self, "view", MappingProxyType(self.values))

    @classmethod
    def empty(cls, namespace: str) -> "Snapshot":
        """The placeholder before the first snapshot: revision 0, no values."""
        return cls(namespace=namespace, revision=0, values={})


class Outcome(enum.Enum):
    """What ``apply_event`` did with an event."""

    APPLIED = "applied"
    STALE = "stale"  # revision <= current: a duplicate or a replay, ignored
    GAP = "gap"  # revision > current + 1: events were missed, resync needed
    CONFLICT = "conflict"  # a revision already applied, with other content: resync needed
    EPOCH = "epoch"  # another database lineage (a restore): its revisions restart, resync needed
    FOREIGN = "foreign"  # another namespace's event: ignored
    INVALID = "invalid"  # not a config event this SDK understands: ignored


class Change(NamedTuple):
    """One name whose value differs between two snapshots (``MISSING`` if absent)."""

    name: str
    old: Any
    new: Any


class ApplyResult(NamedTuple):
    outcome: Outcome
    snapshot: Snapshot  # the new snapshot if APPLIED, else the one passed in
    changes: tuple[Change, ...] = ()
    reason: str = ""


_OPS = ("upsert", "delete")


def apply_event(snapshot: Snapshot, event: Any) -> ApplyResult:
    """Apply one decoded Kafka event to ``snapshot`` under the revision rules.

    Only revision == current + 1 is applied. Unknown fields are ignored, so the
    server may add fields without breaking deployed clients.
    """
    if not isinstance(event, dict):
        return ApplyResult(Outcome.INVALID, snapshot, reason="event is not a JSON object")
    if event.get("namespace") != snapshot.namespace:
        return ApplyResult(Outcome.FOREIGN, snapshot, reason="other namespace")

    revision = event.get("revision")
    # bool is an int in Python, but never a valid revision.
    if not isinstance(revision, int) or isinstance(revision, bool):
        return ApplyResult(Outcome.INVALID, snapshot, reason="revision is not an integer")
    epoch = event.get("epoch")
    if snapshot.epoch is not None and epoch is not None and epoch != snapshot.epoch:
        # Checked before the revision: after a restore, revisions lower than
        # the one held are new changes, not replays.
        return ApplyResult(Outcome.EPOCH, snapshot, reason=f"event of epoch {epoch}, holding epoch {snapshot.epoch}")
    if revision <= snapshot.revision:
        return ApplyResult(Outcome.STALE, snapshot)
    if revision > snapshot.revision + 1:
        return ApplyResult(
            Outcome.GAP,
            snapshot,
            reason=f"expected revision {snapshot.revision + 1}, got {revision}",
        )

    name = event.get("name")
    op = event.get("op", "upsert")
    if not isinstance(name, str) or not name:
        return ApplyResult(Outcome.INVALID, snapshot, reason="name is missing")
    if op not in _OPS:
        return ApplyResult(Outcome.INVALID, snapshot, reason=f"unknown op {op!r}")
    if op == "upsert" and "value" not in event:
        return ApplyResult(Outcome.INVALID, snapshot, reason="upsert without a value")

    values = dict(snapshot.values)
    old = values.get(name, MISSING)
    if op == "delete":
        values.pop(name, None)
        new = MISSING
    else:
        new = freeze(event["value"])
        values[name] = new

    changes = () if same_value(old, new) else (Change(name, old, new),)
    return ApplyResult(
        Outcome.APPLIED,
        Snapshot(namespace=snapshot.namespace, revision=revision, values=values, epoch=snapshot.epoch or epoch),
        changes,
    )


def diff(old: Snapshot, new: Snapshot) -> tuple[Change, ...]:
    """The names whose values differ, for listeners when a whole snapshot is replaced."""
    changes = []
    for name in sorted(old.values.keys() | new.values.keys()):
        before = old.values.get(name, MISSING)
        after = new.values.get(name, MISSING)
        if not same_value(before, after):
            changes.append(Change(name, before, after))
    return tuple(changes)


def same_value(a: Any, b: Any) -> bool:
    """JSON equality: unlike ``==``, ``1``, ``1.0`` and ``true`` differ."""
    if a is b:
        return True
    if a is MISSING or b is MISSING or a != b:
        return False
    # Python's == says True == 1 == 1.0, also deep inside lists and objects;
    # the serialised forms tell them apart.
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def snapshot_from_configs(namespace: str, revision: int, configs: Any, epoch: Any = None) -> Snapshot:
    """Build a snapshot from the API's ``configs`` list.

    Raises ``ValueError`` if the payload does not have the documented shape.
    """
    if not isinstance(revision, int) or isinstance(revision, bool) or revision < 0:
        raise ValueError(f"revision must be a non-negative integer, got {revision!r}")
    if epoch is not None and not isinstance(epoch, str):
        raise ValueError("epoch must be a string")
    if not isinstance(configs, list):
        raise ValueError("configs must be a list")
    values: dict[str, Any] = {}
    for item in configs:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or "value" not in item:
            raise ValueError(f"config entry without name/value: {item!r}")
        values[item["name"]] = freeze(item["value"])
    return Snapshot(namespace=namespace, revision=revision, values=values, epoch=epoch)


class AppliedEvents:
    """What was applied at each of the last revisions, to tell a duplicate from a conflicting event.

    Delivery is at least once, so an event at a revision already held is
    normally a duplicate. One whose content differs from what was applied at
    that revision means one of the two was not the database's change (a
    forged event, or a rewritten topic): only a fresh snapshot settles it.
    """

    def __init__(self, size: int = 256) -> None:
        self._size = size
        # The events themselves: comparing is rare, recording is on every apply.
        # An OrderedDict drops its oldest entry in O(1); a dict would scan the
        # deleted slots at its front on every next(iter()).
        self._by_revision: OrderedDict[int, dict] = OrderedDict()

    def record(self, event: dict) -> None:
        by_revision = self._by_revision
        by_revision[event["revision"]] = event
        if len(by_revision) > self._size:
            by_revision.popitem(last=False)

    def conflicts(self, event: dict) -> bool:
        """True if ``event``'s revision was applied with other content."""
        applied = self._by_revision.get(event["revision"])
        if applied is None:
            return False
        name, op, value, version = _content(event)
        applied_name, applied_op, applied_value, applied_version = _content(applied)
        return (name, op, version) != (applied_name, applied_op, applied_version) or not same_value(value, applied_value)

    def clear(self) -> None:
        """Forget everything: a snapshot replaced what the events built."""
        self._by_revision.clear()


def _content(event: dict) -> tuple[Any, Any, Any, Any]:
    return (event.get("name"), event.get("op", "upsert"), event.get("value", MISSING), event.get("version"))
