"""ETag and If-Match: a namespace's ETag is its revision, a config's its version."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

from apps.errors import InvalidInput

IF_MATCH = OpenApiParameter(
    "If-Match", OpenApiTypes.STR, OpenApiParameter.HEADER,
    description='Write only if the config is still at this version, e.g. "3".',
    pattern=r'^(W/)?"?[0-9]{1,9}"?$',
)
IF_NONE_MATCH = OpenApiParameter("If-None-Match", OpenApiTypes.STR, OpenApiParameter.HEADER)


def quoted(number: int) -> str:
    return f'"{number}"'


def parse_if_match(request, body_expected: int | None) -> int | None:
    """The expected current version, from If-Match or the body's expected_version."""
    header = request.headers.get("If-Match")
    if header is None:
        return body_expected
    text = header.strip().removeprefix("W/").strip('"')
    if not (text.isascii() and text.isdigit()):
        raise InvalidInput("If-Match must be a version number.", fields={"If-Match": ["Expected e.g. \"3\"."]})
    return int(text)


def etag_matches(request, current: str) -> bool:
    offered = request.headers.get("If-None-Match", "")
    return any(tag.strip().removeprefix("W/") in (current, "*") for tag in offered.split(",") if tag.strip())
