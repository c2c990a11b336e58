"""``MultiNamespaceClient``: several namespaces' clients, and the changeset barrier.

A changeset changes several namespaces at once, but each namespace's part
arrives as its own Kafka event, on its own partition, at its own time. Every
part carries the revision the changeset gave each namespace it touched
(``changeset_revisions``), so a client holding several namespaces can wait
until it serves all of them at those revisions, or later ones: a part that
came through a fresh snapshot instead of its event counts as well.
"""

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable

from noreboot.client import ConfigClient

# Changesets remembered for wait_for_changeset; older ones are forgotten.
_REMEMBERED = 1024


class MultiNamespaceClient:
    """ConfigClients of several namespaces (each with its own token), started
    and closed together, with ``wait_for_changeset``.

        with MultiNamespaceClient([checkout, payments]) as config:
            config.wait_for_changeset(changeset_id, timeout=5)
            config["acme/prod/checkout"].get("limit")
    """

    def __init__(self, clients: Iterable[ConfigClient]) -> None:
        self._clients = {client.namespace: client for client in clients}
        if not self._clients:
            raise ValueError("MultiNamespaceClient needs at least one client")
        self._seen: OrderedDict[int, dict[str, int]] = OrderedDict()
        self._seen_changed = threading.Condition()
        for client in self._clients.values():
            client.on_changeset(self._saw)

    def __getitem__(self, namespace: str) -> ConfigClient:
        return self._clients[namespace]

    @property
    def namespaces(self) -> list[str]:
        return list(self._clients)

    def start(self) -> "MultiNamespaceClient":
        for client in self._clients.values():
            client.start()
        return self

    def close(self, timeout: float = 5.0) -> None:
        for client in self._clients.values():
            client.close(timeout)

    def __enter__(self) -> "MultiNamespaceClient":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _saw(self, changeset: int, revisions: dict[str, int]) -> None:
        with self._seen_changed:
            self._seen[changeset] = revisions
            while len(self._seen) > _REMEMBERED:
                self._seen.popitem(last=False)
            self._seen_changed.notify_all()

    def wait_for_revisions(self, revisions: dict[str, int], timeout: float | None = None) -> bool:
        """Block until each held namespace named in ``revisions`` serves at least
        that revision (a changeset's ``revisions`` from the API); False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for namespace, revision in revisions.items():
            client = self._clients.get(namespace)
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if client is not None and not client.wait_for_revision(revision, remaining):
                return False
        return True

    def wait_for_changeset(self, changeset: int, timeout: float | None = None) -> bool:
        """Block until this client has seen a part of the changeset and serves
        every held namespace it touched at the changeset's revision or later;
        False on timeout (a changeset touching none of them is never seen)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._seen_changed:
            if not self._seen_changed.wait_for(lambda: changeset in self._seen, timeout):
                return False
            revisions = self._seen[changeset]
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        return self.wait_for_revisions(revisions, remaining)
