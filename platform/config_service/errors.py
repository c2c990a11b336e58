"""One JSON error shape for every error the API returns:
{"error": {"code": ..., "message": ..., "fields": {...}?, ...details}}."""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apps.errors import DomainError

logger = logging.getLogger(__name__)


def error_body(code: str, message: str, fields=None, **details) -> dict:
    error = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    error.update(details)
    return {"error": error}


def domain_error_body(exc: DomainError) -> dict:
    return error_body(exc.code, exc.message, exc.fields, **exc.details)


def _field_errors(detail, prefix: str = "") -> dict:
    """Messages per field; a nested field is named by its dotted path (configs.timeout)."""
    if not isinstance(detail, dict):
        return {prefix or "non_field_errors": _messages(detail)}
    fields = {}
    for key, value in detail.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        fields.update(_field_errors(value, path) if isinstance(value, dict) else {path: _messages(value)})
    return fields


def _messages(value) -> list:
    if isinstance(value, list):
        flat = []
        for item in value:
            flat.extend(_messages(item)) if isinstance(item, (list, dict)) else flat.append(str(item))
        return flat
    if isinstance(value, dict):
        return [f"{key}: {message}" for key, messages in value.items() for message in _messages(messages)]
    return [str(value)]


def api_exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return Response(domain_error_body(exc), status=exc.status)
    if isinstance(exc, RequestDataTooBig):
        return Response(
            error_body("request_too_large", "The request body is larger than allowed."),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, (Http404, DjangoPermissionDenied)):
        exc = exceptions.NotFound() if isinstance(exc, Http404) else exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body("invalid", "The request is invalid.", _field_errors(exc.detail))
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        if isinstance(detail, dict) and "detail" in detail:
            # simplejwt's shape: {"detail", "code", "messages"}; its detail is the readable part.
            code, detail = str(detail.get("code", "error")), detail["detail"]
        if not isinstance(code, str):
            code = "error"
        message = " ".join(_messages(detail)) if not isinstance(detail, str) else str(detail)
        response.data = error_body(code, message)
    return response


def json_not_found(request, exception=None):
    return JsonResponse(error_body("not_found", "Not found."), status=404)


def json_server_error(request):
    return JsonResponse(error_body("server_error", "Internal server error."), status=500)


def json_bad_request(request, exception=None):
    return JsonResponse(error_body("bad_request", "Bad request."), status=400)


def json_permission_denied(request, exception=None):
    return JsonResponse(error_body("permission_denied", "Permission denied."), status=403)
