"""Who makes a change and from which request: passed to every write service,
which copies it into the change's audit event and outbox event."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from config_service.client_address import client_address
from django.contrib.auth import get_user_model


@dataclass(frozen=True)
class ChangeContext:
    """Who makes a change, and from which request."""

    actor: Any  # a User, or a ServicePrincipal for service tokens (read-only, so never here in practice)
    request_id: str = ""
    source_ip: str | None = None
    # Set while a changeset writes (apps/changes), so its audit events name it.
    changeset_id: int | None = None
    # The caller said `?abort_rollout=true`: a direct write may end a running
    # rollout of the config it writes (apps/fleet/guard.py).
    abort_rollout: bool = False

    @classmethod
    def from_request(cls, request) -> ChangeContext:
        return cls(
            actor=request.user,
            request_id=getattr(request, "request_id", ""),
            source_ip=client_address(request) or None,
        )

    @property
    def actor_user(self):
        return self.actor if isinstance(self.actor, get_user_model()) else None

    @property
    def actor_username(self) -> str:
        return getattr(self.actor, "username", "") or "system"
