"""Fetching the served snapshot into a client: the listener's steps 1 and 3, its
periodic check, and the polling feed.

Two rules decide what a fetched snapshot may replace:

- Served values do not go back in time: a lower revision than Kafka has
  shown, or than already applied, is first taken for a lagging server and
  retried. Only if the service keeps serving it for ``_LAGGING_GRACE``
  seconds is it believed: the database is the truth, and a revision nobody
  serves came from an event the database never had (a forged one).
- A snapshot of another database epoch (the database was restored, or failed
  over and lost commits) is installed at once, whatever its revision: its
  revisions count in another history.
- At an equal revision the digests are compared: equal revisions with other
  values mean the client applied something the database does not hold, and
  the served snapshot replaces it. A conditional fetch (304) cannot show
  that, which is why the periodic check fetches unconditionally.
"""

import logging
import time
from typing import TYPE_CHECKING

from noreboot.api import ConfigApi, Route
from noreboot.digest import config_digest
from noreboot.errors import ApiUnavailable
from noreboot.retry import Outage
from noreboot.snapshot import SOURCE_API

if TYPE_CHECKING:
    from noreboot.listener import SnapshotHolder

logger = logging.getLogger("noreboot")

_LAGGING_GRACE = 5.0


class SnapshotRefresher:
    def __init__(self, holder: "SnapshotHolder", api: ConfigApi, route: Route | None, outage: Outage) -> None:
        self._holder = holder
        self._api = api
        self.route = route  # as the last full snapshot said
        self.outage = outage
        self._behind_since: float | None = None

    def refresh(self, *, conditional: bool, min_revision: int = 0) -> None:
        """Bring the holder up to the served snapshot; raises ``ApiError`` / ``ApiUnavailable``.

        ``conditional`` asks with If-None-Match (cheap, but blind to a digest
        mismatch); ``min_revision`` is a revision Kafka has shown.
        """
        holder = self._holder
        namespace = holder.namespace
        current = holder.current
        from_api = holder.source == SOURCE_API
        floor = max(min_revision, current.revision if from_api else 0)
        behind_for = 0.0 if self._behind_since is None else time.monotonic() - self._behind_since
        believe_service = behind_for >= _LAGGING_GRACE
        ask_if_changed = conditional and from_api and not believe_service
        response = self._api.fetch(if_none_match=current.revision if ask_if_changed else None, held=current)
        revision = current.revision if response is None else response.snapshot.revision
        served_epoch = None if response is None else response.snapshot.epoch
        new_epoch = from_api and None not in (served_epoch, current.epoch) and served_epoch != current.epoch
        if new_epoch:
            assert response is not None
            self._behind_since = None
            self.outage.up()
            self.route = response.route
            logger.warning(
                "%s: the config service serves epoch %s at revision %d (held: epoch %s at revision %d); "
                "the database was restored: installing its snapshot",
                namespace, served_epoch, revision, current.epoch, current.revision,
            )
            holder.install(response.snapshot, SOURCE_API)
            return
        if revision < floor and not believe_service:
            if self._behind_since is None:
                self._behind_since = time.monotonic()
            raise ApiUnavailable(f"config service served revision {revision} of {namespace}, expected >= {floor}")
        self._behind_since = None
        self.outage.up()
        if response is None:
            return  # 304: what we hold is current
        self.route = response.route
        if revision < floor:
            logger.warning(
                "%s: the config service kept serving revision %d for %.0fs, below the %d held or seen on Kafka; "
                "installing its snapshot (an event the database never had?)",
                namespace,
                revision,
                behind_for,
                floor,
            )
        elif from_api and revision == current.revision:
            served = response.digest or config_digest(response.snapshot.digest_values)
            if served == config_digest(current.digest_values):
                return
            logger.warning(
                "%s: the values held at revision %d differ from the config service's (digest mismatch); "
                "installing its snapshot",
                namespace,
                revision,
            )
        holder.install(response.snapshot, SOURCE_API)
        if not from_api:
            logger.info("%s now served from the config service at revision %d", namespace, revision)
