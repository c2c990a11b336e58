"""The last good snapshot on disk, so a service can start while the API is down.

One JSON file per namespace. Writes go to a temporary file in the same
directory and are renamed over the old one, so a crash mid-write leaves the
previous file whole, never a truncated one.
"""

import contextlib
import json
import logging
import os
import tempfile
from pathlib import Path

from noreboot.frozen import freeze
from noreboot.rollout import valid_rollout
from noreboot.snapshot import Snapshot

logger = logging.getLogger("noreboot")

_FORMAT = 1


def cache_path(cache_dir: str | os.PathLike, namespace: str) -> Path:
    """``acme/prod/checkout`` -> ``<cache_dir>/acme__prod__checkout.json``.

    Slugs never contain ``_``, so the file name maps back to one namespace.
    """
    return Path(cache_dir) / (namespace.replace("/", "__") + ".json")


class SnapshotCache:
    def __init__(self, cache_dir: str | os.PathLike, namespace: str) -> None:
        self.namespace = namespace
        self.path = cache_path(cache_dir, namespace)

    def write(self, snapshot: Snapshot) -> None:
        """Atomically replace the cache file with ``snapshot``. Raises ``OSError``."""
        payload = {
            "format": _FORMAT,
            "namespace": snapshot.namespace,
            "revision": snapshot.revision,
            "epoch": snapshot.epoch,
            # The service's values and rollouts: what the client reads is
            # evaluated from them again on start (its validators, its cohort).
            # Secrets are left out: their plain text is never written to disk.
            "values": {name: value for name, value in snapshot.server_values.items() if name not in snapshot.masked},
            "rollouts": [{"name": name, **spec} for name, spec in snapshot.rollouts.items()],
        }
        data = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")
        directory = self.path.parent
        directory.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(dir=directory, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as temp_file:
                temp_file.write(data)
                temp_file.flush()
                # Without fsync the rename can reach the disk before the data
                # does, and a power cut leaves an empty "complete" file.
                os.fsync(temp_file.fileno())
            os.replace(temp_name, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_name)
            raise

    def read(self) -> Snapshot | None:
        """The cached snapshot, or ``None`` if there is no usable one."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            logger.warning("cannot read config cache %s: %s", self.path, exc)
            return None
        try:
            payload = json.loads(raw)
            if payload.get("format") != _FORMAT or payload.get("namespace") != self.namespace:
                raise ValueError("written for another format or namespace")
            revision = payload["revision"]
            values = payload["values"]
            if not isinstance(revision, int) or isinstance(revision, bool) or not isinstance(values, dict):
                raise ValueError("revision or values have the wrong type")
            # Caches written before epochs have none.
            epoch = payload.get("epoch")
            if epoch is not None and not isinstance(epoch, str):
                raise ValueError("epoch has the wrong type")
            rollouts = {
                item["name"]: freeze({key: value for key, value in item.items() if key != "name"})
                for item in payload.get("rollouts", ())
                if valid_rollout(item) and isinstance(item.get("name"), str)
            }
        except (ValueError, KeyError, AttributeError, TypeError) as exc:
            # A damaged cache is no reason to fail: it is only a fallback.
            logger.warning("ignoring unusable config cache %s: %s", self.path, exc)
            return None
        frozen = {name: freeze(value) for name, value in values.items()}
        return Snapshot(namespace=self.namespace, revision=revision, values=frozen, epoch=epoch, rollouts=rollouts)
