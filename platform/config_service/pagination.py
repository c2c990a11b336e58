from django.conf import settings
from rest_framework.pagination import PageNumberPagination


class CappedPageNumberPagination(PageNumberPagination):
    """Callers choose a page size, up to a cap, so no list is unbounded."""

    page_size_query_param = "page_size"
    max_page_size = settings.MAX_PAGE_SIZE
