"""Where a webhook may send: http(s) URLs whose host is a public address.
Loopback, private, link-local (cloud metadata services live at 169.254.169.254),
shared, reserved and multicast addresses are refused unless
NOREBOOT_WEBHOOK_ALLOW_PRIVATE=1, so that a tenant admin cannot make the
platform call into its own network.

At creation the URL is checked without a DNS query: an address literal or a
local name (localhost) is refused there. Every delivery resolves the name and
checks every address it gets, then connects to a checked address (a name can
be re-pointed at any time), so a name of a private address is refused there.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from django.conf import settings

from apps.errors import InvalidInput
from apps.webhooks.models import URL_MAX_LENGTH


class TargetRefused(InvalidInput):
    pass


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # with the query, as sent in the request line
    address: str  # the checked address to connect to


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _refuse_private(host: str) -> None:
    raise TargetRefused(
        f"{host} is a private, loopback, link-local or reserved address.",
        fields={"url": ["Private targets are refused (NOREBOOT_WEBHOOK_ALLOW_PRIVATE)."]},
    )


def _literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def target_check(url: str) -> SplitResult:
    """The URL's parts if it may be a target, as far as is known without DNS;
    TargetRefused says why not."""
    if len(url) > URL_MAX_LENGTH:
        raise TargetRefused(f"The URL is longer than {URL_MAX_LENGTH} characters.", fields={"url": ["Too long."]})
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (urlsplit checks the port only when it is read)
    except ValueError as exc:
        raise TargetRefused("The URL is not valid.", fields={"url": [str(exc)]}) from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused("The URL must be http:// or https:// with a host.", fields={"url": ["Not an http(s) URL."]})
    if parts.username is not None or parts.password is not None:
        # Lists show the URL: credentials in it would be shown to every admin.
        raise TargetRefused("The URL may not carry credentials.", fields={"url": ["Remove the user:password@ part."]})
    if not settings.WEBHOOK_ALLOW_PRIVATE:
        host = parts.hostname.rstrip(".")
        address = _literal_address(host)
        if (address is not None and not _is_public(address)) or host == "localhost" or host.endswith(".localhost"):
            _refuse_private(parts.hostname)
    return parts


def target_resolve(url: str) -> Target:
    """The URL's parts and a checked address to send to; TargetRefused says why not."""
    parts = target_check(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        found = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise TargetRefused(f"{parts.hostname} does not resolve.", fields={"url": ["The host does not resolve."]}) from exc
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in found]
    if not settings.WEBHOOK_ALLOW_PRIVATE and not all(_is_public(address) for address in addresses):
        _refuse_private(parts.hostname)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme=parts.scheme, host=parts.hostname, port=port, path=path, address=str(addresses[0]))
