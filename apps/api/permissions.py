from rest_framework.permissions import BasePermission


class IsPlatformStaff(BasePermission):
    """Platform-wide operations (creating tenants) belong to platform staff only."""

    message = "Only platform staff may do this."

    def has_permission(self, request, view) -> bool:
        return bool(getattr(request.user, "is_superuser", False))
