"""Who is on the other end of a request, for throttles, audit events and /metrics.

The connection's peer (REMOTE_ADDR) is the client, unless that peer is one of
the proxies in NOREBOOT_TRUSTED_PROXIES: then X-Forwarded-For is read from the
right, as the trusted proxies appended to it, and the first address that is not
a trusted proxy is the client. Whatever stands left of it the client itself may
have written, so it is never believed."""

from __future__ import annotations

import functools
import ipaddress

from django.conf import settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def trusted_proxies() -> tuple[Network, ...]:
    return _networks(tuple(settings.TRUSTED_PROXIES))


def _is_trusted_proxy(address: str, proxies: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def client_address(request) -> str:
    """The client's address, as far as the connection and trusted proxies tell it."""
    peer = request.META.get("REMOTE_ADDR", "")
    proxies = trusted_proxies()
    if not proxies or not _is_trusted_proxy(peer, proxies):
        return peer
    forwarded = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in reversed(forwarded):
        if not _is_trusted_proxy(hop, proxies):
            # A proxy writes the address it saw; anything else is not an address at all.
            return hop if _is_address(hop) else peer
    return peer


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
