"""Request rate limits. Login and refresh limits are counted in the database
cache, so they hold across every worker and replica; the write limit, generous
and only a guard against runaway automation, is counted per worker process."""

import hashlib

from django.conf import settings
from django.core.cache import caches
from rest_framework.throttling import SimpleRateThrottle


class ConfiguredRateThrottle(SimpleRateThrottle):
    """Reads its rate from settings.NOREBOOT_THROTTLE_RATES when asked, not at import."""

    def get_rate(self):
        return settings.NOREBOOT_THROTTLE_RATES[self.scope]


class SharedCounterThrottle(ConfiguredRateThrottle):
    @property
    def cache(self):
        return caches["throttle"]


class LoginPerIPThrottle(SharedCounterThrottle):
    scope = "login_ip"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginPerUsernameThrottle(SharedCounterThrottle):
    """Slows guessing one account's password from many addresses."""

    scope = "login_username"

    def get_cache_key(self, request, view):
        # The API's parsed body, or the dashboard's sign-in form.
        data = getattr(request, "data", None) or request.POST
        username = data.get("username") if hasattr(data, "get") else None
        if not isinstance(username, str) or not username:
            return None
        # Hashed: a username may hold any character, a cache key may not.
        ident = hashlib.sha256(username.lower().encode("utf-8", "surrogatepass")).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": ident}


class TokenRefreshPerIPThrottle(LoginPerIPThrottle):
    scope = "token_refresh"


class WritePerUserThrottle(ConfiguredRateThrottle):
    scope = "writes"

    def allow_request(self, request, view):
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return True
        return super().allow_request(request, view)

    def get_cache_key(self, request, view):
        user = request.user
        ident = getattr(user, "pk", None) or getattr(user, "token_id", None) or self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}
