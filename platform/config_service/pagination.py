from django.conf import settings
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination


class CappedPageNumberPagination(PageNumberPagination):
    """Callers choose a page size, up to a cap, so no list is unbounded."""

    page_size_query_param = "page_size"
    max_page_size = settings.MAX_PAGE_SIZE

    def get_page_size(self, request):
        # DRF quietly falls back to the default on a bad page_size; say so instead.
        raw = request.query_params.get(self.page_size_query_param)
        if raw is not None and not _whole_number_from_1(raw, self.max_page_size):
            raise ValidationError({self.page_size_query_param: [f"A whole number from 1 to {self.max_page_size}."]})
        return super().get_page_size(request)

    def paginate_queryset(self, queryset, request, view=None):
        # DRF takes an empty page as the first and "last" as the last: the
        # schema says a whole number, and so does this.
        raw = request.query_params.get(self.page_query_param)
        if raw is not None and not _whole_number_from_1(raw):
            raise ValidationError({self.page_query_param: ["A whole number from 1."]})
        return super().paginate_queryset(queryset, request, view)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["maximum"] = self.max_page_size
        return parameters

    def get_paginated_response_schema(self, schema):
        # DRF writes `nullable: true`, which OpenAPI 3.1 dropped (it is JSON
        # Schema 2020-12): strict validators then refuse every last page's
        # `"next": null`. A type array says the same in 3.1.
        paginated = super().get_paginated_response_schema(schema)
        for link in ("next", "previous"):
            field = paginated["properties"][link]
            field.pop("nullable")
            field["type"] = [field["type"], "null"]
        return paginated


def _whole_number_from_1(text: str, most: int | None = None) -> bool:
    digits = text.lstrip("0")
    if not (text.isascii() and text.isdigit()) or not digits:
        return False
    # Compared by length first, so that thousands of digits never reach int().
    return most is None or (len(digits) <= len(str(most)) and int(digits) <= most)
