import jsonpatch
from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.audit.services import ChangeContext
from apps.configs import selectors, services
from apps.configs.models import Configuration
from apps.configs.serializers import (
    ConfigDeleteSerializer,
    ConfigDiffQuerySerializer,
    ConfigDiffSerializer,
    ConfigExportSerializer,
    ConfigImportResultSerializer,
    ConfigImportSerializer,
    ConfigNameSerializer,
    ConfigRollbackSerializer,
    ConfigVersionSerializer,
    ConfigWriteSerializer,
    ImportChangeSerializer,
    NamespaceSnapshotSerializer,
    SpecConfigSerializer,
    SpecConfigUpdateSerializer,
)
from apps.configs.snapshot_cache import snapshot_bodies
from apps.errors import InvalidInput
from apps.tenants.roles import Role
from apps.tenants.selectors import namespace_for
from apps.tenants.views import NO_CONTENT, NamespaceScopedView

DEFAULT_NAMESPACE = {"tenant": "default", "environment": "default", "service": "default"}

IF_MATCH = OpenApiParameter(
    "If-Match", OpenApiTypes.STR, OpenApiParameter.HEADER,
    description='Write only if the config is still at this version, e.g. "3".',
    pattern=r'^(W/)?"?[0-9]{1,9}"?$',
)


def quoted(number: int) -> str:
    return f'"{number}"'


def parse_if_match(request, body_expected: int | None) -> int | None:
    """The expected current version, from If-Match or the body's expected_version."""
    header = request.headers.get("If-Match")
    if header is None:
        return body_expected
    text = header.strip().removeprefix("W/").strip('"')
    if not (text.isascii() and text.isdigit()):
        raise InvalidInput("If-Match must be a version number.", fields={"If-Match": ["Expected e.g. \"3\"."]})
    return int(text)


def etag_matches(request, current: str) -> bool:
    offered = request.headers.get("If-None-Match", "")
    return any(tag.strip().removeprefix("W/") in (current, "*") for tag in offered.split(",") if tag.strip())


class SpecConfigListView(APIView):
    """The seed spec's list: active configs of the default namespace."""

    @extend_schema(responses=SpecConfigSerializer(many=True))
    def get(self, request):
        namespace, _ = namespace_for(request.user, **DEFAULT_NAMESPACE, minimum=Role.VIEWER)
        return Response(SpecConfigSerializer(selectors.active_configs(namespace), many=True).data)


class SpecConfigUpdateView(APIView):
    """The seed spec's create-or-update in the default namespace."""

    @extend_schema(request=SpecConfigUpdateSerializer, responses={201: SpecConfigSerializer})
    def post(self, request):
        namespace, _ = namespace_for(request.user, **DEFAULT_NAMESPACE, minimum=Role.EDITOR)
        serializer = SpecConfigUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        config = services.config_set(
            namespace=namespace, **serializer.validated_data, context=ChangeContext.from_request(request)
        )
        return Response(SpecConfigSerializer(config).data, status=status.HTTP_201_CREATED)


class NamespaceConfigsView(NamespaceScopedView):
    """The namespace snapshot that clients bootstrap from."""

    @extend_schema(
        operation_id="namespace_snapshot",
        parameters=[OpenApiParameter("If-None-Match", OpenApiTypes.STR, OpenApiParameter.HEADER)],
        responses={200: NamespaceSnapshotSerializer, 304: OpenApiResponse(description="Revision unchanged.")},
    )
    def get(self, request, tenant, environment, service):
        # The revision read while resolving the namespace is enough to answer
        # "unchanged", which is most of what polling clients ask.
        if etag_matches(request, quoted(self.namespace.revision)):
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": quoted(self.namespace.revision)})
        cached = snapshot_bodies.get(self.namespace.pk, self.namespace.revision)
        if cached is not None:
            return snapshot_response(cached, self.namespace.revision)
        revision, configs = selectors.namespace_snapshot(self.namespace)
        body = JSONRenderer().render({
            "namespace": self.namespace.path,
            "revision": revision,
            "topic": settings.KAFKA_TOPIC,
            "partitions": settings.KAFKA_PARTITIONS,
            "configs": configs,
        })
        snapshot_bodies.put(self.namespace.pk, revision, body)
        return snapshot_response(body, revision)


def snapshot_response(body: bytes, revision: int) -> HttpResponse:
    # Already rendered JSON: handed out as it is, without DRF rendering it again.
    response = HttpResponse(body, content_type="application/json")
    response["ETag"] = quoted(revision)
    return response


class ConfigScopedView(NamespaceScopedView):
    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        names = ConfigNameSerializer(data={"name": kwargs.get("name", "")})
        names.is_valid(raise_exception=True)


class ConfigDetailView(ConfigScopedView):
    @extend_schema(responses=ConfigVersionSerializer)
    def get(self, request, tenant, environment, service, name):
        config = selectors.config_current(self.namespace, name)
        return Response(ConfigVersionSerializer(config).data, headers={"ETag": quoted(config.version)})

    @extend_schema(parameters=[IF_MATCH], request=ConfigWriteSerializer, responses={201: ConfigVersionSerializer})
    def put(self, request, tenant, environment, service, name):
        serializer = ConfigWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        config = services.config_set(
            namespace=self.namespace, name=name, value=data["value"], comment=data["comment"],
            expected_version=parse_if_match(request, data.get("expected_version")),
            context=self.change_context(),
        )
        return Response(
            ConfigVersionSerializer(config).data, status=status.HTTP_201_CREATED,
            headers={"ETag": quoted(config.version)},
        )

    @extend_schema(parameters=[IF_MATCH], request=ConfigDeleteSerializer, responses={204: NO_CONTENT})
    def delete(self, request, tenant, environment, service, name):
        serializer = ConfigDeleteSerializer(data=request.data or {})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        tombstone = services.config_delete(
            namespace=self.namespace, name=name, comment=data["comment"],
            expected_version=parse_if_match(request, data.get("expected_version")),
            context=self.change_context(),
        )
        return Response(status=status.HTTP_204_NO_CONTENT, headers={"ETag": quoted(tombstone.version)})


class ConfigVersionListView(ConfigScopedView, ListAPIView):
    """Every version of one config, newest first, tombstones included."""

    serializer_class = ConfigVersionSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Configuration.objects.none()
        return selectors.config_versions(self.namespace, self.kwargs["name"])


class ConfigVersionDetailView(ConfigScopedView):
    @extend_schema(responses=ConfigVersionSerializer)
    def get(self, request, tenant, environment, service, name, version):
        config = selectors.config_version(self.namespace, name, version)
        return Response(ConfigVersionSerializer(config).data, headers={"ETag": quoted(config.version)})


class ConfigDiffView(ConfigScopedView):
    @extend_schema(
        parameters=[ConfigDiffQuerySerializer],
        responses=ConfigDiffSerializer,
    )
    def get(self, request, tenant, environment, service, name):
        query = ConfigDiffQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        older = selectors.config_version(self.namespace, name, query.validated_data["from"])
        newer = selectors.config_version(self.namespace, name, query.validated_data["to"])
        patch = jsonpatch.make_patch(older.value, newer.value).patch
        return Response({"from": older.version, "to": newer.version, "patch": patch})


class ConfigRollbackView(ConfigScopedView):
    read_role = Role.EDITOR

    @extend_schema(parameters=[IF_MATCH], request=ConfigRollbackSerializer, responses={201: ConfigVersionSerializer})
    def post(self, request, tenant, environment, service, name):
        serializer = ConfigRollbackSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        config = services.config_rollback(
            namespace=self.namespace, name=name, to_version=data["to_version"], comment=data["comment"],
            expected_version=parse_if_match(request, data.get("expected_version")),
            context=self.change_context(),
        )
        return Response(
            ConfigVersionSerializer(config).data, status=status.HTTP_201_CREATED,
            headers={"ETag": quoted(config.version)},
        )


class NamespaceExportView(NamespaceScopedView):
    @extend_schema(responses=ConfigExportSerializer)
    def get(self, request, tenant, environment, service):
        revision, configs = selectors.namespace_snapshot(self.namespace)
        return Response({
            "namespace": self.namespace.path,
            "revision": revision,
            "configs": {config["name"]: config["value"] for config in configs},
        })


class NamespaceImportView(NamespaceScopedView):
    @extend_schema(request=ConfigImportSerializer, responses=ConfigImportResultSerializer)
    def post(self, request, tenant, environment, service):
        serializer = ConfigImportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        changes = services.config_import(
            namespace=self.namespace, configs=data["configs"], comment=data["comment"],
            dry_run=data["dry_run"], context=self.change_context(),
        )
        return Response({
            "namespace": self.namespace.path,
            "dry_run": data["dry_run"],
            "revision": self.namespace.revision,
            "changes": ImportChangeSerializer(changes, many=True).data,
        })
