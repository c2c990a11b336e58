"""Accepts the caller's X-Request-ID (or creates one), returns it, and makes it
available to the audit log and to log lines."""

import contextvars
import re
import uuid

REQUEST_ID_HEADER = "X-Request-ID"
_META_KEY = "HTTP_" + REQUEST_ID_HEADER.upper().replace("-", "_")
_ACCEPTABLE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

current_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # From META: request.headers builds a dict of every header, which a 304 never needs otherwise.
        offered = request.META.get(_META_KEY, "")
        request.request_id = offered if _ACCEPTABLE.match(offered) else uuid.uuid4().hex
        token = current_request_id.set(request.request_id)
        try:
            response = self.get_response(request)
        finally:
            current_request_id.reset(token)
        response[REQUEST_ID_HEADER] = request.request_id
        return response
