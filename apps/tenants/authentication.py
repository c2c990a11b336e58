"""Service tokens: `Authorization: Bearer nrb_...`, read-only on one namespace.
Their prefix tells them apart from JWTs, which the next authenticator handles."""

import hashlib
import secrets
from datetime import timedelta

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from apps.tenants.models import ServiceToken
from apps.tenants.roles import ServicePrincipal

SERVICE_TOKEN_PREFIX = "nrb_"
# Recording every use would turn each read into a write; once a minute is enough
# to tell a live token from a forgotten one.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def service_token_new() -> tuple[str, str]:
    """A fresh secret and its stored hash."""
    secret = SERVICE_TOKEN_PREFIX + secrets.token_urlsafe(32)
    return secret, service_token_hash(secret)


def service_token_hash(secret: str) -> str:
    # The secret carries 256 random bits, so a fast hash is as safe as a slow one.
    return hashlib.sha256(secret.encode()).hexdigest()


class ServiceTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, secret = header.partition(" ")
        if scheme != self.keyword or not secret.startswith(SERVICE_TOKEN_PREFIX):
            return None
        token = (
            ServiceToken.objects.filter(secret_hash=service_token_hash(secret.strip()), revoked_at__isnull=True)
            .only("id", "name", "namespace_id", "last_used_at")
            .first()
        )
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked service token.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            ServiceToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return ServicePrincipal(token_id=token.pk, token_name=token.name, namespace_id=token.namespace_id), token

    def authenticate_header(self, request):
        return f'{self.keyword} realm="api"'


class ServiceTokenScheme(OpenApiAuthenticationExtension):
    target_class = ServiceTokenAuthentication
    name = "serviceToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A service token (nrb_...), read-only on one namespace.",
        }
