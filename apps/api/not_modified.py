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

from django.contrib.auth import get_user_model
from django.http import HttpResponseNotModified
from django.urls import Resolver404, resolve
from rest_framework_simplejwt.authentication import JWTAuthentication
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


class SnapshotNotModifiedMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.jwt = JWTAuthentication()

    def __call__(self, request):
        if (request.method == "GET" and "HTTP_IF_NONE_MATCH" in request.META
                and request.path_info.startswith(SNAPSHOT_PATH_PREFIX) and request.path_info.endswith("/configs/")):
            response = self.not_modified(request)
            if response is not None:
                return response
        return self.get_response(request)

    def not_modified(self, request) -> HttpResponseNotModified | None:
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return None
        credential = request.META.get("HTTP_AUTHORIZATION", "").split()
        if match.url_name != SNAPSHOT_ROUTE_NAME or len(credential) != 2 or credential[0] != "Bearer":
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
