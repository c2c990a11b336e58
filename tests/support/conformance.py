"""The API's answers as the suite receives them, checked against the OpenAPI
document with a strict OpenAPI 3.1 validator (openapi-core): status, headers,
content type and body of every documented operation."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

import yaml
from openapi_core import OpenAPI
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
from openapi_core.testing import MockRequest, MockResponse

SCHEMA = Path(__file__).resolve().parents[2] / "openapi" / "schema.yaml"
# The schema and the docs describe the API but are not part of it.
UNDOCUMENTED = ("/api/schema/", "/api/docs/")


@dataclass(frozen=True)
class Exchange:
    test: str
    method: str
    path: str
    query: str
    status: int
    headers: dict
    content_type: str
    body: bytes


# Every exchange of this test session, in order (tests/conftest.py records them).
recorded: list[Exchange] = []


def record(test: str, environ: dict, response) -> None:
    path = environ.get("PATH_INFO", "")
    if response.streaming or not path.startswith("/api/") or path.startswith(UNDOCUMENTED):
        return
    recorded.append(Exchange(
        test=test, method=environ.get("REQUEST_METHOD", "GET"), path=path, query=environ.get("QUERY_STRING", ""),
        status=response.status_code, headers=dict(response.headers),
        content_type=response.headers.get("Content-Type", "application/json"), body=response.content,
    ))


@functools.cache
def _openapi() -> OpenAPI:
    return OpenAPI.from_dict(yaml.safe_load(SCHEMA.read_text()))


def problems(exchange: Exchange) -> list[str]:
    """What the validator finds wrong with one answer; nothing for an
    operation the document does not describe (an unknown path or method)."""
    query = {key: values[0] for key, values in parse_qs(exchange.query).items()}
    request = MockRequest("http://testserver", exchange.method.lower(), exchange.path, args=query)
    response = MockResponse(exchange.body, status_code=exchange.status, headers=exchange.headers,
                            content_type=exchange.content_type)
    try:
        errors = list(_openapi().iter_response_errors(request, response))
    except (PathNotFound, OperationNotFound):
        return []
    if any(isinstance(error, (PathNotFound, OperationNotFound)) for error in errors):
        return []
    return [f"{exchange.method} {exchange.path} -> {exchange.status} ({exchange.test}): {error}" for error in errors]
