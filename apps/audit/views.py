from drf_spectacular.utils import extend_schema
from rest_framework.generics import ListAPIView

from apps.audit.models import AuditEvent
from apps.audit.selectors import audit_events_visible_to
from apps.audit.serializers import AuditEventSerializer, AuditFilterSerializer


@extend_schema(parameters=[AuditFilterSerializer])
class AuditEventListView(ListAPIView):
    serializer_class = AuditEventSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return AuditEvent.objects.none()
        filters = AuditFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        wanted = filters.validated_data
        events = audit_events_visible_to(self.request.user)
        if "namespace" in wanted:
            events = events.filter(namespace__path=wanted["namespace"])
        if "actor" in wanted:
            events = events.filter(actor_username=wanted["actor"])
        if "action" in wanted:
            events = events.filter(action=wanted["action"])
        if "since" in wanted:
            events = events.filter(occurred_at__gte=wanted["since"])
        if "until" in wanted:
            events = events.filter(occurred_at__lt=wanted["until"])
        return events
