"""Access tokens that name their user, so that a request needs no user query.

Session tokens (config_service/auth_tokens.py) carry the username and superuser
flag beside the user id; the user is built from them. What they say may go
stale for at most the access token's lifetime, since a refresh is refused once
they no longer describe the user. Tokens without them (minted elsewhere, or
before they existed) are checked against the database as simplejwt always did.
Apart from auth_tokens.py, because DRF imports this module while loading its
settings, before any view can be imported."""

import time

from django.contrib.auth import get_user_model
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.settings import api_settings

USERNAME_CLAIM = "username"
SUPERUSER_CLAIM = "superuser"


def identity_claims(user) -> dict:
    return {USERNAME_CLAIM: user.username, SUPERUSER_CLAIM: user.is_superuser}


# Access tokens that passed every check, by their encoded form, per process:
# checking a token's signature and claims again cost more CPU than the rest of a
# 304. Only valid tokens are kept, and access tokens are never revoked (sessions
# end at the refresh), so only expiry can change: it is checked again at each
# use, and an expired one goes through the full check, which refuses it.
# Emptied when full, so memory stays flat.
VALIDATED_TOKENS_MAX = 4096
_validated_tokens: dict[bytes, object] = {}


class SessionJWTAuthentication(JWTAuthentication):
    def get_validated_token(self, raw_token: bytes):
        token = _validated_tokens.get(raw_token)
        if token is not None and token.payload["exp"] > time.time():
            return token
        token = super().get_validated_token(raw_token)
        if len(_validated_tokens) >= VALIDATED_TOKENS_MAX:
            _validated_tokens.clear()
        _validated_tokens[raw_token] = token
        return token

    def get_user(self, validated_token):
        claims = validated_token.payload
        if USERNAME_CLAIM not in claims or SUPERUSER_CLAIM not in claims:
            return super().get_user(validated_token)
        # Never saved from here: it holds only what the claims say.
        return get_user_model()(
            pk=int(claims[api_settings.USER_ID_CLAIM]), username=claims[USERNAME_CLAIM],
            is_superuser=bool(claims[SUPERUSER_CLAIM]), is_active=True,
        )


class SessionJWTScheme(SimpleJWTScheme):
    target_class = SessionJWTAuthentication
