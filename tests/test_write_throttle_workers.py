"""The write limit holds across the API's worker processes, counted without the
database (config_service/window_counters.py)."""

import threading

import pytest
from rest_framework_simplejwt.tokens import AccessToken

from tests.support.processes import ApiServer, http_call

pytestmark = pytest.mark.django_db(transaction=True)

LIMIT = 12
WRITERS = 4
WRITES_PER_WRITER = 8


def test_writes__concurrent_over_two_workers__the_limit_once_not_per_worker(settings, editor):
    _, namespace, user = editor
    token = str(AccessToken.for_user(user))
    # One thread per worker: with four writers in flight, both workers take writes.
    api = ApiServer(settings.DATABASES["default"]["NAME"], workers=2, NOREBOOT_THREADS="1",
                    NOREBOOT_THROTTLE_WRITES=f"{LIMIT}/m")
    statuses: list[int] = []

    def write(writer: int) -> None:
        for value in range(WRITES_PER_WRITER):
            status, _ = http_call(f"{api.url}/api/v1/namespaces/{namespace.path}/configs/w{writer}/", "PUT", token,
                                  {"value": value})
            statuses.append(status)

    api.start()
    try:
        writers = [threading.Thread(target=write, args=(writer,)) for writer in range(WRITERS)]
        for thread in writers:
            thread.start()
        for thread in writers:
            thread.join(timeout=60)
        reads = http_call(f"{api.url}/api/v1/namespaces/{namespace.path}/configs/", token=token)[0]
    finally:
        output = api.stop()

    assert sorted(set(statuses)) == [201, 429], output[-2000:]
    assert statuses.count(201) == LIMIT
    assert len(statuses) == WRITERS * WRITES_PER_WRITER
    assert reads == 200
