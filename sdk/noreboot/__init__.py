"""No-Reboot HQ client SDK: live configuration of one namespace.

    from noreboot import ConfigClient

    with ConfigClient("acme/prod/checkout") as config:
        timeout = config.get_float("timeout", 1.0)

Importing this package imports neither Django nor anything of the server.
"""

from noreboot.client import ConfigClient
from noreboot.errors import (
    ApiError,
    ApiUnavailable,
    AuthenticationError,
    NamespaceNotFound,
    NoRebootError,
    SnapshotUnavailable,
)

__all__ = [
    "ApiError",
    "ApiUnavailable",
    "AuthenticationError",
    "ConfigClient",
    "NamespaceNotFound",
    "NoRebootError",
    "SnapshotUnavailable",
]

__version__ = "0.1.0"
