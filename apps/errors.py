"""The domain's error type. Services raise these; config_service.errors maps
them, and every other API error, to one JSON shape."""

from typing import Any


class DomainError(Exception):
    status = 400
    code = "invalid"

    def __init__(self, message: str, *, fields: dict[str, list[str]] | None = None, **details: Any):
        super().__init__(message)
        self.message = message
        self.fields = fields
        self.details = details


class InvalidInput(DomainError):
    status = 400
    code = "invalid"


class PermissionDenied(DomainError):
    status = 403
    code = "permission_denied"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class ChangeRequestRequired(Conflict):
    """A direct write to a protected namespace (required_approvals >= 1)."""

    code = "change_request_required"


class RolloutRunning(Conflict):
    """A direct write to a config while a rollout of it runs, without `?abort_rollout=true`."""

    code = "rollout_running"


class PreconditionFailed(DomainError):
    """An If-Match / expected_version that is no longer the current version."""

    status = 412
    code = "precondition_failed"


class SchemaViolation(DomainError):
    """A value that its config's JSON Schema refuses: `fields.value` lists each
    violation as "<JSON pointer>: <message>"."""

    status = 400
    code = "schema_violation"
