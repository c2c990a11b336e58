"""What this instance reads, from what the config service serves: a running
rollout's candidate where the instance is in its cohort, and only values its
validators accept (``ConfigClient.add_validator``). A refused value is not
read: the previous one stays, listeners hear nothing, and the refusal is
reported (``reporter``) until a later value of that name is accepted.

The store calls this on every swap, on the listener thread, before the new
snapshot is served."""

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from noreboot.frozen import freeze
from noreboot.rollout import in_cohort
from noreboot.snapshot import MISSING, Change, Snapshot, same_value

logger = logging.getLogger("noreboot")

Validator = Callable[[Any], Any]


class EffectiveValues:
    def __init__(self, instance_id: str, labels: Mapping[str, str]) -> None:
        self.instance_id = instance_id
        self.labels = dict(labels)
        # Replaced whole on registration, so the listener thread reads it without a lock.
        self._validators: Mapping[str, Validator] = {}
        self._lock = threading.Lock()
        # The refusals standing now, by name: {revision, name, reason}.
        self.rejected: dict[str, dict] = {}
        # Bumped on every new refusal, so the reporter knows to report.
        self.rejections_seen = 0
        # Names whose value read differs from the service's.
        self._overridden: set[str] = set()

    def add_validator(self, name: str, validator: Validator) -> None:
        with self._lock:
            self._validators = {**self._validators, name: validator}

    def resolve(
        self, served: Snapshot, previous: Snapshot, names: Iterable[str] | None, changes: tuple[Change, ...] = ()
    ) -> tuple[Snapshot, tuple[Change, ...]]:
        """The snapshot to serve for ``served`` (the service's values at a new
        revision) and the changes listeners hear of. ``names``: those that may
        have changed since ``previous``; None for all (a whole new snapshot)."""
        validators = self._validators
        if not validators and not served.rollouts and not self._overridden and not self.rejected:
            return served, changes  # nothing of ours to apply: the common case costs nothing
        if names is None:
            names = served.values.keys() | previous.values.keys() | served.rollouts.keys() | self._overridden
        else:
            names = set(names) | {
                name for name in previous.rollouts.keys() | served.rollouts.keys()
                if previous.rollouts.get(name) is not served.rollouts.get(name)
            }
        values = dict(served.values)
        # A name not evaluated again is read as before.
        for name in self._overridden - names:
            if name in previous.values:
                values[name] = previous.values[name]
            else:
                values.pop(name, None)
        found: list[Change] = []
        for name in sorted(names):
            before = previous.values.get(name, MISSING)
            after = self._value_read(name, served, before, validators)
            if after is MISSING:
                values.pop(name, None)
            else:
                values[name] = after
            if same_value(after, served.values.get(name, MISSING)):
                self._overridden.discard(name)
            else:
                self._overridden.add(name)
            if not same_value(before, after):
                found.append(Change(name, before, after))
        snapshot = Snapshot(
            namespace=served.namespace, revision=served.revision, values=values, epoch=served.epoch,
            stable=served.values if self._overridden else None, rollouts=served.rollouts, masked=served.masked,
        )
        return snapshot, tuple(found)

    def _value_read(self, name: str, served: Snapshot, before: Any, validators: Mapping[str, Validator]) -> Any:
        stable = served.values.get(name, MISSING)
        rollout = served.rollouts.get(name)
        candidate = rollout is not None and in_cohort(rollout, self.instance_id, self.labels)
        target = freeze(rollout["value"]) if candidate else stable
        validator = validators.get(name)
        if same_value(target, before) or target is MISSING or validator is None:
            self.rejected.pop(name, None)
            return target
        reason = _refusal(validator, target)
        if reason is None:
            self.rejected.pop(name, None)
            return target
        logger.warning("%s/%s: value of revision %d refused by its validator: %s", served.namespace, name,
                       served.revision, reason)
        self.rejected[name] = {"revision": served.revision, "name": name, "reason": reason}
        self.rejections_seen += 1
        # The previous value stays; with none yet (a start amid a rollout), the stable one.
        return before if before is not MISSING or not candidate else stable


def _refusal(validator: Validator, value: Any) -> str | None:
    """None if the validator accepts ``value``, else why not."""
    try:
        accepted = validator(value)
    except Exception as exc:  # the validator's own error is the reason
        return str(exc) or type(exc).__name__
    return None if accepted else f"the validator returned {accepted!r}"
