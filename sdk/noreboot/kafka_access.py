"""How the listener may reach Kafka, and what it does when the broker refuses it.

Three cases: the client was given ``kafka_bootstrap`` (a broker of the
user's own, with ``kafka_config`` as they wrote it); or it was not, and the
config service hands out the token's own credentials (asked at start, and
again, with backoff, whenever the broker refuses them); or the service gives
this token none (a person's login), and the listener polls the snapshot.
"""

import logging
import uuid
from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaError

from noreboot.api import ConfigApi, KafkaCredentials
from noreboot.errors import ApiError
from noreboot.kafka_feed import KafkaFeed, credential_settings
from noreboot.retry import Backoff

logger = logging.getLogger("noreboot")

# What kafka-credentials/ answers a token that has no Kafka principal (403: a
# person's login) or a service that has no such endpoint (404, 405).
_NO_KAFKA_FOR_TOKEN = frozenset({403, 404, 405})


class KafkaAccess:
    def __init__(
        self, api: ConfigApi, *, kafka_bootstrap: str | None, kafka_config: Mapping[str, Any], poll_interval: float
    ) -> None:
        self._api = api
        self._kafka_config = dict(kafka_config)
        self._poll_interval = poll_interval
        self.uses_credentials = kafka_bootstrap is None
        self.polling = False  # no Kafka for this token: the listener polls the service
        self._has_credentials = False
        # The token's credentials once the service gave them (the reporter produces with them too).
        self.credentials: KafkaCredentials | None = None
        self._failing = False
        self._backoff = Backoff(initial=1.0, maximum=30.0)
        self.settings: dict[str, Any] = dict(self._kafka_config)
        if kafka_bootstrap is not None:
            # librdkafka wants a group id even for manual assignment; a unique
            # one guarantees no group state is shared or committed.
            self.settings = {
                "bootstrap.servers": kafka_bootstrap,
                "group.id": f"noreboot-sdk-{uuid.uuid4()}",
                **self._kafka_config,
            }

    def ensure(self, feed: KafkaFeed, namespace: str) -> bool:
        """Give ``feed`` what it needs to connect; False if this token gets no Kafka access (now polling).

        Raises ``ApiError`` / ``ApiUnavailable`` if the service could not say.
        """
        if not self.uses_credentials or self._has_credentials:
            return True
        try:
            credentials = self._api.kafka_credentials()
        except ApiError as exc:
            if exc.status not in _NO_KAFKA_FOR_TOKEN:
                raise
            self.polling = True
            feed.close()
            logger.info(
                "%s: no Kafka credentials for this token (%s); polling the config service every %.1fs instead",
                namespace,
                exc,
                self._poll_interval,
            )
            return False
        feed.use_settings({**credential_settings(credentials), **self._kafka_config})
        self._has_credentials = True
        self.credentials = credentials
        return True

    def refused(self, error: KafkaError, namespace: str) -> float | None:
        """The broker refused our credentials: seconds to wait before asking the service
        again, or None if they are already being asked for again."""
        if not self._has_credentials:
            return None
        self._has_credentials = False
        self.credentials = None
        delay = self._backoff.next_delay()
        # Said once per episode: a deleted principal fails at every attempt.
        log = logger.debug if self._failing else logger.warning
        self._failing = True
        log(
            "%s: Kafka refused the credentials (%s); asking the config service again in %.1fs",
            namespace,
            error.str(),
            delay,
        )
        return delay

    def accepted(self) -> None:
        """Kafka served us: the next refusal starts a new episode (called for every message)."""
        if self._failing:
            self._failing = False
            self._backoff.reset()
