from drf_spectacular.utils import extend_schema
from rest_framework.generics import ListAPIView

from apps.audit.models import AuditEvent
from apps.audit.selectors import audit_events_filtered
from apps.audit.serializers import AuditEventSerializer, AuditFilterSerializer


@extend_schema(parameters=[AuditFilterSerializer])
class AuditEventListView(ListAPIView):
    serializer_class = AuditEventSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return AuditEvent.objects.none()
        filters = AuditFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return audit_events_filtered(self.request.user, **filters.validated_data)
