"""Request rate limits. Login and refresh limits are counted in the database
cache, so they hold across every worker and replica; the write limit, generous
and only a guard against runaway automation, is counted in memory shared by the
workers of one machine (config_service/window_counters.py): no database round
trip per write."""

import functools
import hashlib

from django.conf import settings
from django.core.cache import caches
from django.http import HttpResponse
from rest_framework.throttling import SimpleRateThrottle

from config_service.client_address import client_address
from config_service.window_counters import window_counters


class ConfiguredRateThrottle(SimpleRateThrottle):
    """Reads its rate from settings.NOREBOOT_THROTTLE_RATES when asked, not at import."""

    def get_rate(self):
        return settings.NOREBOOT_THROTTLE_RATES[self.scope]

    def get_ident(self, request):
        return client_address(request)


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


def login_refused_for(request, view=None) -> int | None:
    """Seconds the caller must wait before the next sign-in attempt (per address
    and per username), or None if this attempt may go ahead; counts the attempt."""
    for throttle in (LoginPerIPThrottle(), LoginPerUsernameThrottle()):
        if not throttle.allow_request(request, view):
            return max(1, int(throttle.wait() or 1))
    return None


def login_throttled(login_view):
    """A sign-in view of someone else's (the Django admin's) behind the same
    limits: an attempt over them answers 429 with Retry-After, and no password is checked."""

    @functools.wraps(login_view)
    def view(request, *args, **kwargs):
        if request.method == "POST":
            wait = login_refused_for(request)
            if wait is not None:
                response = HttpResponse(
                    f"Too many sign-in attempts; try again in {wait} seconds.\n", status=429, content_type="text/plain"
                )
                response["Retry-After"] = str(wait)
                return response
        return login_view(request, *args, **kwargs)

    return view


class TokenRefreshPerIPThrottle(LoginPerIPThrottle):
    scope = "token_refresh"


class WritePerUserThrottle(ConfiguredRateThrottle):
    """A sliding period, estimated from fixed windows of its length: this
    window's count plus the window before's, weighted by the part of it still
    inside the period (as many rate limiters do; exact for steady traffic)."""

    scope = "writes"

    def allow_request(self, request, view):
        # The fast PUT (apps/api/fast_paths.py) counts a write before it
        # knows whether it hands the request on to the view.
        if request.method in ("GET", "HEAD", "OPTIONS") or getattr(request, "write_counted", False):
            return True
        limit, period = self.parse_rate(self.get_rate())
        now = self.timer()
        window, elapsed = divmod(now, period)
        self.wait_seconds = period - elapsed
        return window_counters().add_if_below(
            self.get_cache_key(request, view), int(window), limit, previous_weight=1 - elapsed / period
        )

    def wait(self):
        return self.wait_seconds

    def get_cache_key(self, request, view):
        user = request.user
        ident = getattr(user, "pk", None) or getattr(user, "token_id", None) or self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}
