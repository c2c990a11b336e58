"""Which instances read a rollout's candidate. The SDK decides for itself with
the same function (noreboot/rollout.py), so the server knows the cohort
without asking: tests/test_fleet.py checks that the two agree."""

import hashlib
from collections.abc import Mapping


def cohort_bucket(rollout_id: str, instance_id: str) -> int:
    """0-99, fixed for an (instance, rollout) pair: the first 8 hex digits of
    SHA-256("<rollout_id>:<instance_id>") as an integer, modulo 100."""
    return int(hashlib.sha256(f"{rollout_id}:{instance_id}".encode()).hexdigest()[:8], 16) % 100


def labels_match(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def in_cohort(*, rollout_id: str, instance_id: str, labels: Mapping[str, str], percent: int,
              selector: Mapping[str, str]) -> bool:
    return labels_match(selector, labels) and cohort_bucket(rollout_id, instance_id) < percent
