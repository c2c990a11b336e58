"""The base of every view under /namespaces/{tenant}/{environment}/{service}/."""

from drf_spectacular.utils import OpenApiResponse
from rest_framework.request import Request
from rest_framework.views import APIView

from apps.change_context import ChangeContext
from apps.tenants.models import Namespace
from apps.tenants.roles import Role
from apps.tenants.selectors import namespace_for

NO_CONTENT = OpenApiResponse(description="Done.")


class NamespaceScopedView(APIView):
    """Resolves the namespace once and checks the caller's role on it, so that a
    namespace the caller may not see is 404 and a missing role is 403."""

    read_role = Role.VIEWER
    write_role = Role.EDITOR
    namespace: Namespace
    role: Role

    def initial(self, request: Request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        if getattr(self, "swagger_fake_view", False):
            return
        minimum = self.read_role if request.method in ("GET", "HEAD", "OPTIONS") else self.write_role
        self.namespace, self.role = namespace_for(
            request.user,
            tenant=kwargs["tenant"],
            environment=kwargs["environment"],
            service=kwargs["service"],
            minimum=minimum,
        )

    def change_context(self) -> ChangeContext:
        return ChangeContext.from_request(self.request)
