"""Service tokens: `Authorization: Bearer nrb_...`, read-only on one namespace.
Their prefix tells them apart from JWTs, which the next authenticator handles."""

import hashlib
import secrets
from datetime import timedelta

from django.db import connection
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from apps.raw_sql import Prepared
from apps.tenants.models import Namespace, ServiceToken
from apps.tenants.roles import ServicePrincipal

SERVICE_TOKEN_PREFIX = "nrb_"
# Recording every use would turn each read into a write; once a minute is enough
# to tell a live token from a forgotten one.
LAST_USED_RESOLUTION = timedelta(minutes=1)
_LAST_USED_SECONDS = int(LAST_USED_RESOLUTION.total_seconds())


def service_token_new() -> tuple[str, str]:
    """A fresh secret and its stored hash."""
    secret = SERVICE_TOKEN_PREFIX + secrets.token_urlsafe(32)
    return secret, service_token_hash(secret)


def service_token_hash(secret: str) -> str:
    # The secret carries 256 random bits, so a fast hash is as safe as a slow one.
    return hashlib.sha256(secret.encode()).hexdigest()


_REVISION_FOR_TOKEN = Prepared("revision_for_token", f"""
    SELECT namespace.revision, namespace.id, token.id, token.name
    FROM {ServiceToken._meta.db_table} token
    JOIN {Namespace._meta.db_table} namespace ON namespace.id = token.namespace_id
    WHERE token.secret_hash = %s AND token.revoked_at IS NULL AND namespace.path = %s
      AND token.last_used_at > now() - %s * interval '1 second'
""")
# Every client request passes here, so the token and its namespace come back
# from one statement, written as SQL: building the ORM query with its joins
# cost more than running it.
_TOKEN_AND_NAMESPACE = Prepared("service_token_lookup", f"""
    SELECT token.id, token.name, token.last_used_at,
           namespace.id, namespace.path, namespace.revision, namespace.tenant_id,
           namespace.environment_id, namespace.service_id, namespace.created_at
    FROM {ServiceToken._meta.db_table} token
    JOIN {Namespace._meta.db_table} namespace ON namespace.id = token.namespace_id
    WHERE token.secret_hash = %s AND token.revoked_at IS NULL
""")


def revision_for_token(secret: str, path: str) -> tuple[int, ServicePrincipal] | None:
    """The revision of the namespace at `path` and the caller, when the secret is
    a live token of that namespace whose use was recorded recently enough; None
    otherwise (the full authentication then answers, and records the use)."""
    with connection.cursor() as cursor:
        _REVISION_FOR_TOKEN.execute(cursor, [service_token_hash(secret), path, _LAST_USED_SECONDS])
        row = cursor.fetchone()
    if row is None:
        return None
    revision, namespace_id, token_id, token_name = row
    return revision, ServicePrincipal(token_id=token_id, token_name=token_name, namespace_id=namespace_id)


class ServiceTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, secret = header.partition(" ")
        if scheme != self.keyword or not secret.startswith(SERVICE_TOKEN_PREFIX):
            return None
        # Every client request passes here, so the token and its namespace come
        # back from one statement, written as SQL: building the ORM query with
        # its joins cost more than running it.
        with connection.cursor() as cursor:
            _TOKEN_AND_NAMESPACE.execute(cursor, [service_token_hash(secret.strip())])
            row = cursor.fetchone()
        if row is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked service token.")
        token_id, token_name, last_used_at, *namespace_fields = row
        namespace = Namespace(
            **dict(zip(("id", "path", "revision", "tenant_id", "environment_id", "service_id", "created_at"),
                       namespace_fields, strict=True))
        )
        now = timezone.now()
        if last_used_at is None or now - last_used_at > LAST_USED_RESOLUTION:
            ServiceToken.objects.filter(pk=token_id).update(last_used_at=now)
        principal = ServicePrincipal(
            token_id=token_id, token_name=token_name, namespace_id=namespace.pk, namespace=namespace
        )
        return principal, token_id

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
