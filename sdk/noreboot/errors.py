"""Exceptions raised by the SDK.

They are split by what the caller should do about them: an ``ApiError`` will
not go away by retrying (fix the token or the namespace), an
``ApiUnavailable`` is transient (the SDK retries it, and falls back to the
disk cache at start).
"""


class NoRebootError(Exception):
    """Base class of every exception the SDK raises on purpose."""


class ApiError(NoRebootError):
    """The config service answered and refused the request."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AuthenticationError(ApiError):
    """The token was rejected (401/403): a cached copy must not hide that."""


class NamespaceNotFound(ApiError):
    """The namespace does not exist, or the token may not see it (404)."""


class ApiUnavailable(NoRebootError):
    """The config service could not be reached or failed (network, timeout, 5xx)."""


class SnapshotUnavailable(NoRebootError):
    """``start()`` found neither a reachable API nor a disk cache in time."""
