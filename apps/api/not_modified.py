"""Conditional GETs of a namespace snapshot, answered 304 before sessions, the
authentication middleware and DRF.

Polling clients and SDKs re-checking their snapshot send `If-None-Match` with
the revision they hold, and nearly always hold the current one. Here the caller's
credential and right to see the namespace are checked together with reading its
revision, in one statement: a service token of that namespace (live, its use
recorded within the last minute), or a valid access token of an active user who
may view it. Whatever this cannot decide (another route, no or another kind of
credential, a revision that moved, a token whose use must be recorded) goes on
to the view as if this were not here, so 401, 404, 200 and their bodies stay the
view's. The request id, log line and metrics come from the middleware around
this one, as for every request."""

import functools

from config_service.jwt_authentication import SessionJWTAuthentication
from django.contrib.auth import get_user_model
from django.http import HttpResponseNotModified
from django.urls import Resolver404, ResolverMatch, resolve
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.settings import api_settings as jwt_settings

from apps.api.etags import etag_matches, quoted
from apps.tenants.authentication import SERVICE_TOKEN_PREFIX, revision_for_token
from apps.tenants.models import Namespace
from apps.tenants.roles import revision_for_viewer

SNAPSHOT_ROUTE_NAME = "namespace-configs"
SNAPSHOT_PATH_PREFIX = "/api/v1/namespaces/"
# The view's other answers carry these too (DRF's Allow, Django's clickjacking
# guard after this middleware); a 304 must not differ from the view's own 304.
VIEW_HEADERS = {"Allow": "GET, HEAD, OPTIONS", "X-Frame-Options": "DENY"}


@functools.lru_cache(maxsize=1024)
def snapshot_route_match(path: str) -> ResolverMatch | None:
    """The snapshot route's match of the path, or None. Kept per path: the
    routes never change while the process runs, pollers ask for the same few
    paths again and again, and resolving cost more than the rest of a 304
    outside the database. Only read afterwards (the request log's route)."""
    try:
        match = resolve(path)
    except Resolver404:
        return None
    return match if match.url_name == SNAPSHOT_ROUTE_NAME else None


class SnapshotNotModifiedMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        # Its validated-token cache is the one DRF's authentication uses.
        self.jwt = SessionJWTAuthentication()

    def __call__(self, request):
        if (request.method == "GET" and "HTTP_IF_NONE_MATCH" in request.META
                and request.path_info.startswith(SNAPSHOT_PATH_PREFIX) and request.path_info.endswith("/configs/")):
            response = self.not_modified(request)
            if response is not None:
                return response
        return self.get_response(request)

    def not_modified(self, request) -> HttpResponseNotModified | None:
        match = snapshot_route_match(request.path_info)
        credential = request.META.get("HTTP_AUTHORIZATION", "").split()
        if match is None or len(credential) != 2 or credential[0] != "Bearer":
            return None
        path = Namespace.path_of(**match.kwargs)
        found = self.caller_and_revision(credential[1], path)
        if found is None or not etag_matches(request, quoted(found[1])):
            return None
        # What the view would have left for the request log: the route and the caller.
        request.resolver_match, request.user = match, found[0]
        response = HttpResponseNotModified()
        response["ETag"] = quoted(found[1])
        for name, value in VIEW_HEADERS.items():
            response[name] = value
        return response

    def caller_and_revision(self, credential: str, path: str) -> tuple[object, int] | None:
        if credential.startswith(SERVICE_TOKEN_PREFIX):
            found = revision_for_token(credential, path)
            return None if found is None else (found[1], found[0])
        try:
            token = self.jwt.get_validated_token(credential.encode())
        except InvalidToken:
            return None
        user_id = token.get(jwt_settings.USER_ID_CLAIM)
        if not str(user_id).isdigit():
            return None
        row = revision_for_viewer(int(user_id), path)
        if row is None:
            return None
        revision, username = row
        return get_user_model()(pk=int(user_id), username=username), revision
