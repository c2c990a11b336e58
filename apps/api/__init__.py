"""Pieces every API view module shares: the namespace-scoped base view, ETag
and If-Match handling, and permission classes."""
