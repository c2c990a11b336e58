"""Who reads a rollout's candidate, decided by each client for itself (DESIGN,
"Rollouts"). The config service computes the cohort with the same function
(apps/fleet/cohort.py), so it knows which instances must acknowledge a stage."""

import hashlib
import json
import os
from collections.abc import Mapping
from typing import Any


def cohort_bucket(rollout_id: str, instance_id: str) -> int:
    """0-99, fixed for an (instance, rollout) pair: the first 8 hex digits of
    SHA-256("<rollout_id>:<instance_id>") as an integer, modulo 100. An
    instance in the cohort at 10 % stays in it at 50 %."""
    return int(hashlib.sha256(f"{rollout_id}:{instance_id}".encode()).hexdigest()[:8], 16) % 100


def in_cohort(rollout: Mapping[str, Any], instance_id: str, labels: Mapping[str, str]) -> bool:
    """Whether this instance reads the rollout's candidate: it has every label
    of the stage's selector, and its bucket is below the stage's percent."""
    selector = rollout.get("labels") or {}
    if any(labels.get(key) != value for key, value in selector.items()):
        return False
    return cohort_bucket(str(rollout["id"]), instance_id) < rollout["percent"]


def valid_rollout(rollout: Any) -> bool:
    """The shape an event's or a snapshot's rollout must have to be evaluated."""
    if not isinstance(rollout, dict) or "value" not in rollout or not isinstance(rollout.get("id"), str):
        return False
    percent = rollout.get("percent")
    labels = rollout.get("labels", {})
    return (
        isinstance(percent, int) and not isinstance(percent, bool) and 0 <= percent <= 100
        and isinstance(labels, dict) and all(isinstance(value, str) for value in labels.values())
    )


def labels_from_env(env_var: str = "NOREBOOT_LABELS") -> dict[str, str]:
    """``NOREBOOT_LABELS`` as ``region=eu1,version=2.3.1`` or a JSON object of strings."""
    text = os.environ.get(env_var, "").strip()
    if not text:
        return {}
    if text.startswith("{"):
        parsed = json.loads(text)
        if not isinstance(parsed, dict):
            raise ValueError(f"{env_var} must be a JSON object")
        return check_labels(parsed)
    labels = {}
    for item in text.split(","):
        key, separator, value = item.partition("=")
        if not separator or not key.strip():
            raise ValueError(f"{env_var} must look like key=value,key=value; got {item!r}")
        labels[key.strip()] = value.strip()
    return labels


def check_labels(labels: Mapping[str, Any]) -> dict[str, str]:
    if not all(isinstance(key, str) and key and isinstance(value, str) for key, value in labels.items()):
        raise ValueError("labels must map non-empty strings to strings")
    return dict(labels)
