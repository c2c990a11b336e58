"""People's JWT sessions: simplejwt's tokens, bounded and revocable.

A refresh token carries when its session began (`auth_time`, kept through every
rotation) and a digest of the password it began with. Rotation never takes a
session past NOREBOOT_REFRESH_TOKEN_ABSOLUTE_SECONDS from its sign-in, and a
refresh after the password changed is refused, however the password was changed.
Deactivating a user or changing their password in the admin also blacklists
every refresh token they hold (refresh_tokens_revoke).

Both tokens also name their user (username, superuser flag), so a request with
the access token needs no user query (config_service/jwt_authentication.py).
What the claims say may go stale for at most the access token's lifetime: a refresh is refused
once the user is deactivated, their password changed, or the claims no longer
describe them."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt import serializers as simplejwt_serializers
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import datetime_to_epoch
from rest_framework_simplejwt.views import TokenBlacklistView

from apps.input import ExactJSONTypes
from config_service.jwt_authentication import identity_claims

AUTH_TIME_CLAIM = "auth_time"
PASSWORD_CLAIM = "pwd"


class SessionRefreshToken(RefreshToken):
    @classmethod
    def for_user(cls, user) -> SessionRefreshToken:
        token = super().for_user(user)
        # Django's own session hash: an HMAC of the password hash, so the token
        # reveals nothing of it and dies with it.
        token[PASSWORD_CLAIM] = user.get_session_auth_hash()
        for claim, value in identity_claims(user).items():
            token[claim] = value
        return token

    def set_exp(self, claim: str = "exp", from_time=None, lifetime=None) -> None:
        super().set_exp(claim, from_time, lifetime)
        if claim != "exp":
            return
        started = self.payload.setdefault(AUTH_TIME_CLAIM, datetime_to_epoch(self.current_time))
        self.payload["exp"] = min(self.payload["exp"], started + settings.REFRESH_TOKEN_ABSOLUTE_SECONDS)


# The names of simplejwt's own serializers, which these replace (settings
# SIMPLE_JWT), so that the OpenAPI components keep their names.
class TokenObtainPairSerializer(ExactJSONTypes, simplejwt_serializers.TokenObtainPairSerializer):
    token_class = SessionRefreshToken


class TokenRefreshSerializer(ExactJSONTypes, simplejwt_serializers.TokenRefreshSerializer):
    token_class = SessionRefreshToken

    def validate(self, attrs):
        refresh = self.token_class(attrs["refresh"])
        user = get_user_model().objects.filter(**{api_settings.USER_ID_FIELD: refresh.get(api_settings.USER_ID_CLAIM)})
        user = user.first()
        if (
            user is None or not user.is_active
            or not constant_time_compare(refresh.get(PASSWORD_CLAIM, ""), user.get_session_auth_hash())
            # Tokens from before the identity claims carry none, and keep the user query.
            or any(refresh.get(claim, value) != value for claim, value in identity_claims(user).items())
        ):
            raise AuthenticationFailed("This session has ended; sign in again.", code="session_ended")
        return super().validate(attrs)



def refresh_tokens_revoke(user) -> int:
    """Blacklist every unexpired refresh token of the user; returns how many."""
    outstanding = OutstandingToken.objects.filter(
        user=user, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True
    )
    revoked = BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in outstanding], ignore_conflicts=True
    )
    return len(revoked)


class TokenBlacklistSerializer(ExactJSONTypes, simplejwt_serializers.TokenBlacklistSerializer):
    pass


@extend_schema(responses={
    200: OpenApiResponse({"type": "object", "maxProperties": 0}, description="Signed out: the refresh token is revoked.")
})
class LogoutView(TokenBlacklistView):
    """simplejwt's logout, whose answer is `{}` where its schema said "no body"."""
