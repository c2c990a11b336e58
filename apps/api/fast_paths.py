"""The API's two busiest requests, answered before sessions, the authentication
middleware and DRF: a snapshot's conditional GET (304) and a config's PUT.

Polling clients and SDKs re-checking their snapshot send `If-None-Match` with
the revision they hold, and nearly always hold the current one. Here the caller's
credential and right to see the namespace are checked together with reading its
revision, in one statement: a service token of that namespace (live, its use
recorded within the last minute), or a valid access token of an active user who
may view it.

A PUT of a config by an access token, with a plain body (the fields the view
takes, each already in the form the view would make of it), is written here
with the same service, checks and throttle as the view's, and answered with the
view's body and headers. The caller's editor role is checked by the write's
first statement, which takes the namespace lock only for an editor: one round
trip for both. Before the write, this only decides; the view answers every
request this does not take, a caller without the role included. An error of
the write itself (412, 409, a schema's 400) is answered here, in the API's
error shape.

Whatever these cannot decide (another route, no or another kind of credential,
a revision that moved, a body or header the view would change or refuse) goes
on to the view as if this were not here, so the view's answers and their bodies
stay its own. The request id, log line and metrics come from the middleware
around this one, as for every request."""

import dataclasses
import functools
import json

from config_service.errors import domain_error_body
from config_service.jwt_authentication import SessionJWTAuthentication
from config_service.throttling import WritePerUserThrottle
from django.contrib.auth import get_user_model
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse, HttpResponseNotModified
from django.urls import Resolver404, ResolverMatch, resolve
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.json import strict_constant
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.settings import api_settings as jwt_settings

from apps.api.etags import etag_matches, parse_if_match, quoted
from apps.change_context import ChangeContext
from apps.configs.models import COMMENT_MAX_LENGTH, config_name_errors
from apps.configs.serializers import version_body
from apps.configs.services import AsEditor, NotAnEditor, config_set
from apps.configs.values import InvalidValue
from apps.errors import DomainError
from apps.tenants.authentication import SERVICE_TOKEN_PREFIX, revision_for_token
from apps.tenants.models import Namespace
from apps.tenants.roles import revision_for_viewer

NAMESPACES_PREFIX = "/api/v1/namespaces/"
SNAPSHOT_ROUTE_NAME = "namespace-configs"
CONFIG_ROUTE_NAME = "config"
# The views' answers carry these too (DRF's Allow; Django's clickjacking guard
# and CommonMiddleware's length, after this middleware): an answer from here
# must not differ from the view's.
SNAPSHOT_HEADERS = {"Allow": "GET, HEAD, OPTIONS", "X-Frame-Options": "DENY", "Content-Length": "0"}
CONFIG_HEADERS = {"Allow": "GET, PUT, DELETE, HEAD, OPTIONS", "X-Frame-Options": "DENY"}
# What the view takes, in the forms it would leave as they are.
PLAIN_ACCEPT = {None, "*/*", "application/json"}
PLAIN_QUERY = {"": False, "abort_rollout=true": True}
# Versions are PostgreSQL integers; the view refuses a number of over 1,000 digits.
VERSION_MAX = 2**31 - 1


@functools.lru_cache(maxsize=1024)
def route_match(path: str) -> ResolverMatch | None:
    """The route's match of the path, or None. Kept per path: the routes never
    change while the process runs, clients ask for the same few paths again
    and again, and resolving cost more than the rest of a 304 outside the
    database. Only read afterwards (the request log's route)."""
    try:
        return resolve(path)
    except Resolver404:
        return None


def bearer(request) -> str | None:
    credential = request.META.get("HTTP_AUTHORIZATION", "").split()
    return credential[1] if len(credential) == 2 and credential[0] == "Bearer" else None


class FastPathMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        # Its validated-token cache is the one DRF's authentication uses.
        self.jwt = SessionJWTAuthentication()

    def __call__(self, request):
        response = None
        if request.path_info.startswith(NAMESPACES_PREFIX):
            if request.method == "GET" and "HTTP_IF_NONE_MATCH" in request.META:
                response = self.not_modified(request)
            elif request.method == "PUT":
                response = self.config_put(request)
        return self.get_response(request) if response is None else response

    def not_modified(self, request) -> HttpResponseNotModified | None:
        match = route_match(request.path_info)
        credential = bearer(request)
        if match is None or match.url_name != SNAPSHOT_ROUTE_NAME or credential is None:
            return None
        path = Namespace.path_of(**match.kwargs)
        found = self.caller_and_revision(credential, path)
        if found is None or not etag_matches(request, quoted(found[1])):
            return None
        # What the view would have left for the request log: the route and the caller.
        request.resolver_match, request.user = match, found[0]
        response = HttpResponseNotModified()
        response["ETag"] = quoted(found[1])
        for name, value in SNAPSHOT_HEADERS.items():
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

    def config_put(self, request) -> HttpResponse | None:
        match = route_match(request.path_info)
        credential = bearer(request)
        query = request.META.get("QUERY_STRING", "")
        if (match is None or match.url_name != CONFIG_ROUTE_NAME or credential is None
                or credential.startswith(SERVICE_TOKEN_PREFIX)
                or query not in PLAIN_QUERY
                or request.META.get("HTTP_ACCEPT") not in PLAIN_ACCEPT
                or request.META.get("CONTENT_TYPE") != "application/json"
                or config_name_errors(match.kwargs["name"])):
            return None
        try:
            fields = plain_write(request.body)
        except RequestDataTooBig:
            return None
        if fields is None:
            return None
        try:
            user = self.jwt.get_user(self.jwt.get_validated_token(credential.encode()))
            expected_version = parse_if_match(request, fields.pop("expected_version", None))
        except (InvalidToken, AuthenticationFailed, DomainError):
            return None
        request.resolver_match, request.user = match, user
        if not WritePerUserThrottle().allow_request(request, None):
            return None
        context = dataclasses.replace(ChangeContext.from_request(request), abort_rollout=PLAIN_QUERY[query])
        path = Namespace.path_of(match.kwargs["tenant"], match.kwargs["environment"], match.kwargs["service"])
        try:
            # The role is checked by the write's first statement, which takes
            # the lock only for an editor.
            config = config_set(namespace=AsEditor(path, user), name=match.kwargs["name"],
                                expected_version=expected_version, context=context, **fields)
        except (NotAnEditor, InvalidValue):
            # Nothing locked or written: the view answers, and its throttle
            # does not count the request again. A caller without the role gets
            # its 404 or 403, which it gives before it reads the body: a value
            # no config may hold (checked before the lock, so before the role)
            # is the view's to answer too.
            request.write_counted = True
            return None
        except DomainError as exc:
            return json_response(domain_error_body(exc), exc.status)
        return json_response(version_body(config), 201, ETag=quoted(config.version))


def _plain_comment(comment) -> bool:
    # DRF's CharField would strip it, and refuses NUL and lone surrogates (not printable).
    return (isinstance(comment, str) and len(comment) <= COMMENT_MAX_LENGTH and comment == comment.strip()
            and comment.isprintable())


PLAIN_FIELDS = {
    "value": lambda value: value is not None,
    "comment": _plain_comment,
    "secret": lambda secret: isinstance(secret, bool),
    "expected_version": lambda version: type(version) is int and 0 <= version <= VERSION_MAX,
}


def plain_write(body: bytes) -> dict | None:
    """The PUT body's fields as the view's serializer (ConfigWriteSerializer)
    would hand them over, comment "" when absent, if the body is one it takes
    as it is; else None."""
    try:
        fields = json.loads(body, parse_constant=strict_constant)  # NaN, Infinity: as DRF's parser
    except (ValueError, RecursionError):
        return None
    if (not isinstance(fields, dict) or "value" not in fields or not fields.keys() <= PLAIN_FIELDS.keys()
            or not all(PLAIN_FIELDS[name](value) for name, value in fields.items())):
        return None
    return {"comment": "", **fields}


def json_response(data, status: int, **headers: str) -> HttpResponse:
    body = JSONRenderer().render(data)
    response = HttpResponse(body, status=status, content_type="application/json")
    # CommonMiddleware, which sets it for the views, comes after this one.
    response["Content-Length"] = str(len(body))
    for name, value in {**CONFIG_HEADERS, **headers}.items():
        response[name] = value
    return response
