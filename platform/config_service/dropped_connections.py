"""Persistent database connections that PostgreSQL has ended (a restart, a
terminated session) are closed before a request uses them, without a round trip.

Django's CONN_HEALTH_CHECKS would send `SELECT 1` at the start of every request
that reuses a connection, a round trip per request. An idle connection, though,
has nothing to read unless the server wrote to it, and a server ending a session
does write (its FATAL message, then end of file). So a readable socket between
requests means the session is over: the connection is closed here, and Django
opens a new one on first use. A connection that vanished without a word (a
network partition) still fails its first statement, after which Django closes
it at the end of that request, as it always did."""

import select

from django.db import connections


def close_dropped_connections() -> None:
    for connection in connections.all(initialized_only=True):
        raw = connection.connection
        if raw is None or raw.closed or connection.in_atomic_block:
            continue
        poller = select.poll()
        # POLLHUP and POLLERR are reported whether asked for or not.
        poller.register(raw.fileno(), select.POLLIN)
        if poller.poll(0):
            connection.close()


class DroppedConnectionMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        close_dropped_connections()
        return self.get_response(request)
