"""N API replicas: two API servers (deploy/serve.py) on two ports, one database and one
broker, written through at the same time."""

import json
import threading

import pytest
from rest_framework_simplejwt.tokens import AccessToken

from apps.configs.models import Configuration
from tests.support.processes import ApiServer, http_call
from tests.test_relay import collect_through

pytestmark = pytest.mark.django_db(transaction=True)

WRITERS_PER_REPLICA = 2
WRITES_PER_WRITER = 25


def test_api__two_replicas_writing_one_hot_config__versions_contiguous_and_every_revision_on_kafka_in_order(
    settings, editor, relay, topic_tail
):
    _, namespace, user = editor
    token = str(AccessToken.for_user(user))
    database = settings.DATABASES["default"]["NAME"]
    replicas = [ApiServer(database, workers=1), ApiServer(database, workers=1)]
    versions_by_replica: dict[str, list[int]] = {}
    failures: list[tuple[int, str]] = []

    def write(replica: ApiServer, writer: int) -> None:
        for value in range(WRITES_PER_WRITER):
            status, text = http_call(
                f"{replica.url}/api/v1/namespaces/{namespace.path}/configs/hot/", "PUT", token,
                {"value": f"{replica.port}-{writer}-{value}"},
            )
            if status != 201:
                failures.append((status, text))
                return
            versions_by_replica.setdefault(replica.url, []).append(json.loads(text)["version"])

    try:
        for replica in replicas:
            replica.start()
        writers = [
            threading.Thread(target=write, args=(replica, writer))
            for replica in replicas for writer in range(WRITERS_PER_REPLICA)
        ]
        for thread in writers:
            thread.start()
        for thread in writers:
            thread.join(timeout=120)
    finally:
        for replica in replicas:
            replica.stop()

    total = len(replicas) * WRITERS_PER_REPLICA * WRITES_PER_WRITER
    assert failures == []
    assert len(versions_by_replica) == 2, "both replicas took writes"
    answered = sorted(version for versions in versions_by_replica.values() for version in versions)
    assert answered == list(range(1, total + 1))
    stored = Configuration.objects.filter(namespace=namespace, name="hot").order_by("version")
    assert list(stored.values_list("version", flat=True)) == list(range(1, total + 1))
    messages = collect_through(topic_tail, namespace.path, total, timeout=60)
    assert [m["revision"] for m in messages] == list(range(1, total + 1))
    assert [m["version"] for m in messages] == list(range(1, total + 1))
