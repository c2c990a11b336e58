"""The figures of docs/scale-out.md, measured on this machine.

  python bench/scale_out.py relay [--events N]     how fast one relay drains a
      backlog of N config events (own tenant, the database of DATABASE_URL, the
      broker(s) of the platform settings)
  python bench/scale_out.py fanout [--clients N] [--events M]
      what an HTTP streaming edge pays to hand each event to N open client
      connections on loopback (one process, asyncio, one write per client)

The relay run holds the relay's advisory lock while it writes the backlog, so
the relay it starts waits as a standby; then it releases the lock and times
the drain.
It needs no other relay running against the same database."""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def measure_relay(events: int) -> None:
    sys.path.insert(0, str(ROOT / "platform"))
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config_service.settings")
    import django

    django.setup()
    from django.db import connection

    from apps.change_context import ChangeContext
    from apps.configs.broker_admin import topic_ensure
    from apps.configs.events import route_for
    from apps.configs.outbox import outbox_backlog
    from apps.configs.relay import RELAY_LOCK_KEY
    from apps.configs.services import config_set
    from apps.tenants.services import namespace_create, tenant_create

    context = ChangeContext(actor=None, request_id="scale-out")
    tenant = tenant_create(slug=f"scale-{uuid.uuid4().hex[:8]}", context=context)
    namespace = namespace_create(tenant=tenant, environment="prod", service="relay", context=context)
    # The tenant's topic now, so that the drain measures publishing only.
    route = route_for(namespace)
    topic_ensure(route.topic, route.partitions)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [RELAY_LOCK_KEY])
    relay = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "relay_outbox"], cwd=ROOT,
        env=dict(os.environ, NOREBOOT_RELAY_METRICS_PORT="0"),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        started = time.monotonic()
        for value in range(events):
            config_set(namespace=namespace, name=f"k{value % 50}", value=value, context=context)
        writes_per_second = events / (time.monotonic() - started)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [RELAY_LOCK_KEY])
        released = time.monotonic()
        while outbox_backlog().count:
            time.sleep(0.01)
        drained = time.monotonic() - released
        print(f"writes (one thread, config_set): {writes_per_second:,.0f}/s")
        print(f"relay: {events} events drained in {drained:.2f}s (including the standby's wake-up, <=0.5s): "
              f"{events / drained:,.0f} events/s")
    finally:
        relay.terminate()
        relay.wait(timeout=30)


async def measure_fanout(clients: int, events: int) -> None:
    payload = b'data: {"namespace":"acme/prod/checkout","name":"timeout","value":2.5,"revision":1}\n\n'
    writers: list[asyncio.StreamWriter] = []
    connected = asyncio.Event()

    async def accept(reader, writer):
        writers.append(writer)
        if len(writers) == clients:
            connected.set()

    server = await asyncio.start_server(accept, "127.0.0.1", 0, backlog=clients)
    port = server.sockets[0].getsockname()[1]
    received = 0
    all_received = asyncio.Event()

    async def client():
        nonlocal received
        reader, _writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(events):
            await reader.readuntil(b"\n\n")
            received += 1
            if received == clients * events:
                all_received.set()

    tasks = [asyncio.create_task(client()) for _ in range(clients)]
    await connected.wait()
    cpu_before, started = time.process_time(), time.monotonic()
    for _ in range(events):
        for writer in writers:
            writer.write(payload)
        await asyncio.gather(*(writer.drain() for writer in writers))
    await all_received.wait()
    elapsed, cpu = time.monotonic() - started, time.process_time() - cpu_before
    deliveries = clients * events
    print(f"fan-out: {events} events to {clients} connections = {deliveries:,} deliveries in {elapsed:.2f}s "
          f"({deliveries / elapsed:,.0f}/s; {cpu / deliveries * 1e6:.1f} us CPU each, edge and clients "
          f"in one process)")
    for task in tasks:
        task.cancel()
    server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    relay = commands.add_parser("relay")
    relay.add_argument("--events", type=int, default=5000)
    fanout = commands.add_parser("fanout")
    fanout.add_argument("--clients", type=int, default=2000)
    fanout.add_argument("--events", type=int, default=50)
    arguments = parser.parse_args()
    if arguments.command == "relay":
        measure_relay(arguments.events)
    else:
        asyncio.run(measure_fanout(arguments.clients, arguments.events))


if __name__ == "__main__":
    main()
