"""The outbox relay survives its database: a PostgreSQL restart or the end of
its session during a write stream loses nothing and does not stop it."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

import pytest
from django.db import InterfaceError, OperationalError, connection

from apps.configs.relay import RELAY_LOCK_KEY
from apps.configs.services import config_set
from apps.tenants.models import Namespace
from tests.support.processes import ROOT, RelayProcess
from tests.test_relay import assert_gapless_in_order, collect_through

pytestmark = pytest.mark.django_db(transaction=True)

WRITES_AFTER_OUTAGE = 30


class WriteStream:
    """Writes to one namespace from a thread of its own until told to finish,
    retrying each write the database refused while it was away."""

    def __init__(self, namespace: Namespace, context) -> None:
        self._namespace, self._context = namespace, context
        self._outage_over = threading.Event()
        self.errors_seen = 0
        self._thread = threading.Thread(target=self._run)
        self._thread.start()

    def _run(self) -> None:
        written_after_outage = 0
        deadline = time.monotonic() + 90
        value = 0
        while written_after_outage < WRITES_AFTER_OUTAGE and time.monotonic() < deadline:
            try:
                config_set(namespace=self._namespace, name=f"k{value % 5}", value=value, context=self._context)
            except (OperationalError, InterfaceError):
                self.errors_seen += 1
                connection.close()
                time.sleep(0.05)
                continue
            value += 1
            if self._outage_over.is_set():
                written_after_outage += 1
            # A stream, not a flood: the outage must land in the middle of it.
            time.sleep(0.01)
        connection.close()

    def finish(self) -> None:
        self._outage_over.set()
        self._thread.join(timeout=120)
        assert not self._thread.is_alive()


def relay_backend_pid() -> int | None:
    """The session holding the relay's advisory lock (bigint keys are split in two)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND classid = %s AND objid = %s AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            [RELAY_LOCK_KEY >> 32, RELAY_LOCK_KEY & 0xFFFFFFFF],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def wait_for_relay_backend(other_than: int | None, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while True:
        pid = relay_backend_pid()
        if pid is not None and pid != other_than:
            return pid
        assert time.monotonic() < deadline, "no relay took the lock again"
        time.sleep(0.1)


def assert_everything_published(relay, topic_tail, namespace: Namespace, before: list[dict]) -> None:
    last = Namespace.objects.get(pk=namespace.pk).revision
    messages = collect_through(topic_tail, namespace.path, last, timeout=60)
    assert_gapless_in_order(before + messages, last)
    assert relay.process.poll() is None, relay.output()[-2000:]
    assert "database connection lost" in relay.output()


def postgres_script(command: str) -> None:
    subprocess.run(["bash", str(ROOT / "scripts" / "postgres.sh"), command], check=True, timeout=120,
                   capture_output=True)


def postgres_restart() -> None:
    """Stop PostgreSQL (pg_ctl -m fast: every session is ended) and start it again."""
    connection.close()
    try:
        postgres_script("stop")
    finally:
        postgres_script("start")


@pytest.fixture
def streaming(relay, make_namespace, topic_tail, change_context):
    """A write stream under way, part of it seen published: (stream, namespace, messages so far)."""
    relay.wait_for_output("relay active")
    namespace = make_namespace()
    stream = WriteStream(namespace, change_context)
    try:
        yield stream, namespace, topic_tail.collect(namespace.path, 20, timeout=30)
    finally:
        stream.finish()


@pytest.mark.stops_shared_service
def test_relay__postgres_restarted_during_a_write_stream__keeps_running_and_publishes_everything(
    relay, topic_tail, streaming
):
    stream, namespace, before = streaming
    postgres_restart()
    stream.finish()
    assert stream.errors_seen > 0, "the outage did not reach the write stream"
    wait_for_relay_backend(other_than=None)
    assert_everything_published(relay, topic_tail, namespace, before)


def test_relay__its_session_terminated_during_a_write_stream__retakes_the_lock_and_publishes_everything(
    relay, topic_tail, streaming
):
    stream, namespace, before = streaming
    old_pid = wait_for_relay_backend(other_than=None)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [old_pid])
    assert wait_for_relay_backend(other_than=old_pid) != old_pid
    stream.finish()
    assert_everything_published(relay, topic_tail, namespace, before)

def test_supervise__relay_killed_with_sigkill__started_again_until_the_supervisor_is_stopped(settings):
    supervised = RelayProcess(settings.DATABASES["default"]["NAME"], SUPERVISE_RESTART_DELAY="0.2")
    supervised.command = ["bash", str(ROOT / "scripts" / "supervise.sh"), *supervised.command]
    supervised.start()
    try:
        supervised.wait_for_output("relay active")
        first = wait_for_relay_backend(other_than=None)
        children = subprocess.run(["pgrep", "-P", str(supervised.process.pid)], capture_output=True, text=True)
        (relay_pid,) = children.stdout.split()
        os.kill(int(relay_pid), signal.SIGKILL)
        wait_for_relay_backend(other_than=first)
        assert "starting it again" in supervised.output()
        supervised.process.terminate()
        assert supervised.process.wait(timeout=20) == 0
        assert subprocess.run(["pgrep", "-P", str(supervised.process.pid)], capture_output=True).returncode == 1
    finally:
        supervised.stop()


def test_relay__a_burst_of_sigint_and_sigterm__stops_within_seconds(settings):
    # Ctrl-C reaches the whole process group while the supervisor sends its
    # own SIGTERM: a handler that took the stop event's lock could deadlock
    # against the main thread holding it.
    relay = RelayProcess(settings.DATABASES["default"]["NAME"])
    relay.start()
    try:
        relay.wait_for_output("relay active")
        for index in range(2000):
            if relay.process.poll() is not None:
                break
            relay.process.send_signal(signal.SIGINT if index % 2 else signal.SIGTERM)
        # Stopped, cleanly or by a signal that came after its handlers were gone.
        assert relay.process.wait(timeout=20) in (0, -signal.SIGINT, -signal.SIGTERM)
    finally:
        relay.stop()
