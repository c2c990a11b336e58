from django.http import HttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.api.base import NO_CONTENT, NamespaceScopedView
from apps.api.etags import IF_MATCH, IF_NONE_MATCH, etag_header, etag_matches, parse_if_match, quoted
from apps.change_context import ChangeContext
from apps.configs import selectors, services
from apps.configs.diffs import value_patch
from apps.configs.events import route_for
from apps.configs.lineage import database_epoch
from apps.configs.models import Configuration
from apps.configs.serializers import (
    CONFIG_NAME_PARAMETER,
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
from apps.tenants.roles import Role
from apps.tenants.selectors import namespace_for

DEFAULT_NAMESPACE = {"tenant": "default", "environment": "default", "service": "default"}

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


# How stale an epoch the snapshot endpoint may serve (see database_epoch).
SNAPSHOT_EPOCH_MAX_AGE = 1.0


class NamespaceConfigsView(NamespaceScopedView):
    """The namespace snapshot that clients bootstrap from."""

    @extend_schema(
        operation_id="namespace_snapshot",
        parameters=[IF_NONE_MATCH, etag_header(200, 304, of="namespace revision")],
        responses={200: NamespaceSnapshotSerializer, 304: OpenApiResponse(description="Revision unchanged.")},
    )
    def get(self, request, tenant, environment, service):
        # The revision read while resolving the namespace is enough to answer
        # "unchanged", which is most of what polling clients ask.
        if etag_matches(request, quoted(self.namespace.revision)):
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": quoted(self.namespace.revision)})
        # A revision names other values in another epoch (after a restore), so both key the cache.
        epoch = database_epoch(max_age=SNAPSHOT_EPOCH_MAX_AGE)
        cached = snapshot_bodies.get(self.namespace.pk, self.namespace.revision, epoch)
        if cached is not None:
            return snapshot_response(cached, self.namespace.revision)
        revision, configs = selectors.namespace_snapshot(self.namespace)
        route = route_for(self.namespace)
        body = JSONRenderer().render({
            "namespace": self.namespace.path,
            "revision": revision,
            "epoch": epoch,
            "topic": route.topic,
            "partitions": route.partitions,
            "digest": selectors.values_digest(configs),
            "configs": configs,
        })
        snapshot_bodies.put(self.namespace.pk, revision, epoch, body)
        return snapshot_response(body, revision)


def version_created(config: Configuration) -> Response:
    """The answer of every write that makes a new version."""
    return Response(
        ConfigVersionSerializer(config).data, status=status.HTTP_201_CREATED, headers={"ETag": quoted(config.version)}
    )


def snapshot_response(body: bytes, revision: int) -> HttpResponse:
    # Already rendered JSON: handed out as it is, without DRF rendering it again.
    response = HttpResponse(body, content_type="application/json")
    response["ETag"] = quoted(revision)
    return response


@extend_schema(parameters=[CONFIG_NAME_PARAMETER])
class ConfigScopedView(NamespaceScopedView):
    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        names = ConfigNameSerializer(data={"name": kwargs.get("name", "")})
        names.is_valid(raise_exception=True)

    def write_version(self, serializer_class, write, field: str) -> Response:
        """Parse the body, make the new version with `write` (a config service)
        under If-Match, and answer 201 with it."""
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        config = write(
            namespace=self.namespace, name=self.kwargs["name"], comment=data["comment"],
            expected_version=parse_if_match(self.request, data.get("expected_version")),
            context=self.change_context(), **{field: data[field]},
        )
        return version_created(config)


class ConfigDetailView(ConfigScopedView):
    @extend_schema(parameters=[etag_header(200)], responses=ConfigVersionSerializer)
    def get(self, request, tenant, environment, service, name):
        config = selectors.config_current(self.namespace, name)
        return Response(ConfigVersionSerializer(config).data, headers={"ETag": quoted(config.version)})

    @extend_schema(parameters=[IF_MATCH, etag_header(201)], request=ConfigWriteSerializer,
                   responses={201: ConfigVersionSerializer})
    def put(self, request, tenant, environment, service, name):
        return self.write_version(ConfigWriteSerializer, services.config_set, "value")

    @extend_schema(parameters=[IF_MATCH, etag_header(204, of="tombstone's version")], request=ConfigDeleteSerializer,
                   responses={204: NO_CONTENT})
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
    @extend_schema(parameters=[etag_header(200)], responses=ConfigVersionSerializer)
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
        patch = value_patch(older.value, newer.value)
        return Response({"from": older.version, "to": newer.version, "patch": patch})


class ConfigRollbackView(ConfigScopedView):
    read_role = Role.EDITOR

    @extend_schema(parameters=[IF_MATCH, etag_header(201)], request=ConfigRollbackSerializer,
                   responses={201: ConfigVersionSerializer})
    def post(self, request, tenant, environment, service, name):
        return self.write_version(ConfigRollbackSerializer, services.config_rollback, "to_version")


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
        result = services.config_import(
            namespace=self.namespace, configs=data["configs"], comment=data["comment"],
            dry_run=data["dry_run"], context=self.change_context(),
        )
        return Response({
            "namespace": self.namespace.path,
            "dry_run": data["dry_run"],
            "revision": result.revision,
            "changes": ImportChangeSerializer(result.changes, many=True).data,
        })
