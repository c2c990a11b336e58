"""The dashboard's pages, one module per page group. Thin, like the API views:
the namespace and the caller's role come from the tenants selectors, every read
from a selector and every write from a service, so a page can hide controls but
the server decides."""
