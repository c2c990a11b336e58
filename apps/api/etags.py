"""ETag and If-Match: a namespace's ETag is its revision, a config's its version."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

from apps.configs.services import ANY_VERSION, AnyVersion
from apps.errors import InvalidInput

IF_MATCH = OpenApiParameter(
    "If-Match", OpenApiTypes.STR, OpenApiParameter.HEADER,
    description='Write only if the config is still at this version, e.g. "3"; `*`: only if it exists (RFC 9110).',
    pattern=r'^(\*|(W/)?"?[0-9]{1,9}"?)$',
)
IF_NONE_MATCH = OpenApiParameter("If-None-Match", OpenApiTypes.STR, OpenApiParameter.HEADER)


def etag_header(*statuses: int, of: str = "config's version") -> OpenApiParameter:
    """The ETag response header of those statuses, for the schema."""
    return OpenApiParameter(
        "ETag", OpenApiTypes.STR, OpenApiParameter.HEADER, response=list(statuses), required=True,
        description=f'The {of}, quoted, e.g. "3".', pattern=r'^"[0-9]+"$',
    )


def quoted(number: int) -> str:
    return f'"{number}"'


def parse_if_match(request, body_expected: int | None) -> int | AnyVersion | None:
    """The expected current version, from If-Match or the body's expected_version;
    ANY_VERSION for `If-Match: *`."""
    header = request.META.get("HTTP_IF_MATCH")
    if header is None:
        return body_expected
    if header.strip() == "*":
        return ANY_VERSION
    text = header.strip().removeprefix("W/").strip('"')
    if not (text.isascii() and text.isdigit()):
        raise InvalidInput("If-Match must be a version number.", fields={"If-Match": ["Expected e.g. \"3\"."]})
    return int(text)


def etag_matches(request, current: str) -> bool:
    offered = request.META.get("HTTP_IF_NONE_MATCH", "")
    return any(tag.strip().removeprefix("W/") in (current, "*") for tag in offered.split(",") if tag.strip())
