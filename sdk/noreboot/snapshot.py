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
from noreboot.rollout import valid_rollout

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
    # The config service's values, when ``values`` differ from them (a
    # rollout's candidate read, or a value a validator refused); None: the same.
    stable: dict[str, Any] | None = None
    # Running rollouts by config name ({id, value, percent, labels}), frozen.
    rollouts: Mapping[str, Any] = field(default_factory=dict)
    # Secret configs by name: the masked form the service shows for each
    # ({"secret": true, "fingerprint"}); ``values`` holds their plain values.
    masked: Mapping[str, Any] = field(default_factory=dict)
    view: Mapping[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # The dataclass is frozen, so the derived field is set the way
        # dataclasses themselves do it.
        object.__setattr__(self, "view", MappingProxyType(self.values))

    @property
    def server_values(self) -> dict[str, Any]:
        """The values as the config service has them (what its digest is of)."""
        return self.values if self.stable is None else self.stable

    @property
    def digest_values(self) -> dict[str, Any]:
        """What the service's ``digest`` is of: its values, secrets masked."""
        if not self.masked:
            return self.server_values
        return {**self.server_values, **self.masked}

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


_OPS = ("upsert", "delete", "rollout")


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

    # A changeset's part in this namespace (op "batch") is applied whole: one
    # new snapshot for all its changes, so no reader sees half of them.
    if event.get("op") == "batch":
        changes = event.get("changes")
        if not isinstance(changes, list) or not changes:
            return ApplyResult(Outcome.INVALID, snapshot, reason="batch without changes")
    else:
        changes = [event]
    for change in changes:
        reason = _change_error(change)
        if reason:
            return ApplyResult(Outcome.INVALID, snapshot, reason=reason)

    # The service's values: what this instance reads of them is decided after
    # (noreboot/effective.py).
    values = dict(snapshot.server_values)
    rollouts = snapshot.rollouts
    masked = dict(snapshot.masked)
    for change in changes:
        name, op = change["name"], change.get("op", "upsert")
        if op == "delete" or (op == "upsert" and not change.get("secret")):
            masked.pop(name, None)
        elif op == "upsert":
            masked[name] = freeze({"secret": True, "fingerprint": change["fingerprint"]})
        if op == "delete":
            values.pop(name, None)
        elif "value" in change:
            values[name] = freeze(change["value"])
        if op == "rollout" or name in rollouts:
            # The running rollout of the name, or its end (null); `value` stays
            # the stable one. Any other write of the name ends its rollout (the
            # service refuses one unless it aborts the rollout).
            rollouts = {key: spec for key, spec in rollouts.items() if key != name}
            if op == "rollout" and change.get("rollout") is not None:
                rollouts[name] = freeze(change["rollout"])
    changed = []
    # Once per name, in the order given.
    for name in dict.fromkeys(change["name"] for change in changes):
        old, new = snapshot.server_values.get(name, MISSING), values.get(name, MISSING)
        if not same_value(old, new):
            changed.append(Change(name, old, new))
    return ApplyResult(
        Outcome.APPLIED,
        Snapshot(namespace=snapshot.namespace, revision=revision, values=values, epoch=snapshot.epoch or epoch,
                 rollouts=rollouts, masked=masked),
        tuple(changed),
    )


def _change_error(change: Any) -> str:
    """Why one change (an event, or an entry of a batch) cannot be applied; "" if it can."""
    if not isinstance(change, dict):
        return "change is not a JSON object"
    name = change.get("name")
    op = change.get("op", "upsert")
    if not isinstance(name, str) or not name:
        return "name is missing"
    if op not in _OPS:
        return f"unknown op {op!r}"
    if op == "upsert" and "value" not in change:
        return "upsert without a value"
    if op == "upsert" and change.get("secret") and not isinstance(change.get("fingerprint"), str):
        # Kafka never carries a secret's value: one not fetched over the API must not be applied.
        return "a secret's value was not fetched"
    if op == "rollout" and change.get("rollout") is not None and not valid_rollout(change["rollout"]):
        return "malformed rollout"
    return ""


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


def snapshot_from_configs(
    namespace: str, revision: int, configs: Any, epoch: Any = None, rollouts: Any = None,
    secrets: Mapping[str, Any] | None = None,
) -> Snapshot:
    """Build a snapshot from the API's ``configs`` list (and ``rollouts``, if any);
    ``secrets`` holds the plain values of the entries marked ``secret``.

    Raises ``ValueError`` if the payload does not have the documented shape.
    """
    if not isinstance(revision, int) or isinstance(revision, bool) or revision < 0:
        raise ValueError(f"revision must be a non-negative integer, got {revision!r}")
    if epoch is not None and not isinstance(epoch, str):
        raise ValueError("epoch must be a string")
    if not isinstance(configs, list):
        raise ValueError("configs must be a list")
    values: dict[str, Any] = {}
    masked: dict[str, Any] = {}
    for item in configs:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or "value" not in item:
            raise ValueError(f"config entry without name/value: {item!r}")
        if item.get("secret"):
            if item["name"] not in (secrets or {}):
                raise ValueError(f"no plain value of the secret {item['name']!r}")
            masked[item["name"]] = freeze(item["value"])
            values[item["name"]] = freeze(secrets[item["name"]])
        else:
            values[item["name"]] = freeze(item["value"])
    running = {}
    for item in rollouts or ():
        if not valid_rollout(item) or not isinstance(item.get("name"), str):
            raise ValueError(f"malformed rollout: {item!r}")
        running[item["name"]] = freeze({key: value for key, value in item.items() if key != "name"})
    return Snapshot(namespace=namespace, revision=revision, values=values, epoch=epoch, rollouts=running, masked=masked)


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
        name, op, value, version, changes = _content(event)
        applied_name, applied_op, applied_value, applied_version, applied_changes = _content(applied)
        return (name, op, version) != (applied_name, applied_op, applied_version) or not (
            same_value(value, applied_value) and same_value(changes, applied_changes)
        )

    def clear(self) -> None:
        """Forget everything: a snapshot replaced what the events built."""
        self._by_revision.clear()


def _content(event: dict) -> tuple[Any, Any, Any, Any, Any]:
    changes = event.get("changes", MISSING)
    if isinstance(changes, list):
        changes = [_without_secret(change) for change in changes]
    event = _without_secret(event)
    return (event.get("name"), event.get("op", "upsert"), event.get("value", MISSING), event.get("version"), changes)


def _without_secret(change: Any) -> Any:
    # A secret's event is recorded with the value fetched for it, and arrives
    # again without: the two are the same change.
    if not isinstance(change, dict) or not change.get("secret"):
        return change
    return {key: value for key, value in change.items() if key not in ("value", "fingerprint")}
