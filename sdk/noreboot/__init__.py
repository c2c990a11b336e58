"""No-Reboot HQ client SDK: live configuration of one namespace.

    from noreboot import ConfigClient

    with ConfigClient(namespace="acme/prod/checkout", api_url=..., token=...) as config:
        timeout = config.get_float("timeout", 1.0)

Importing this package imports neither Django nor anything of the server.
"""

from noreboot.client import ClientStatus, ConfigClient
from noreboot.errors import (
    ApiError,
    ApiUnavailable,
    AuthenticationError,
    NamespaceNotFound,
    NoRebootError,
    SnapshotUnavailable,
)
from noreboot.multi import MultiNamespaceClient

__all__ = [
    "ApiError",
    "ApiUnavailable",
    "AuthenticationError",
    "ClientStatus",
    "ConfigClient",
    "MultiNamespaceClient",
    "NamespaceNotFound",
    "NoRebootError",
    "SnapshotUnavailable",
]

__version__ = "0.2.0"
