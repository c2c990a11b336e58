from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser lets the RecursionError of very deep JSON escape as a
    500; deep input is the caller's fault, so it answers 400."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(
                f"JSON nested deeper than allowed ({settings.CONFIG_VALUE_MAX_DEPTH} levels)."
            ) from None
