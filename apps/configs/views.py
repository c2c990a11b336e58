import dataclasses

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.api.base import NO_CONTENT, NamespaceScopedView
from apps.api.etags import IF_MATCH, IF_NONE_MATCH, etag_header, etag_matches, parse_if_match, quoted
from apps.change_context import ChangeContext
from apps.configs import selectors, services
from apps.configs.definitions import config_export_with_secrets, config_reveal, config_shown_value
from apps.configs.diffs import value_patch
from apps.configs.events import route_for
from apps.configs.imports import config_import
from apps.configs.lineage import database_epoch
from apps.configs.models import Configuration
from apps.configs.serializers import (
    CONFIG_NAME_PARAMETER,
    ConfigDeleteSerializer,
    ConfigDiffQuerySerializer,
    ConfigDiffSerializer,
    ConfigExportQuerySerializer,
    ConfigExportSerializer,
    ConfigImportResultSerializer,
    ConfigImportSerializer,
    ConfigNameSerializer,
    ConfigReadQuerySerializer,
    ConfigRollbackSerializer,
    ConfigVersionSerializer,
    ConfigWriteSerializer,
    ImportChangeSerializer,
    NamespaceSnapshotSerializer,
    SpecConfigSerializer,
    SpecConfigUpdateSerializer,
)
from apps.configs.snapshot_cache import snapshot_bodies
from apps.errors import PermissionDenied
from apps.fleet.selectors import snapshot_with_rollouts
from apps.tenants.roles import Role, ServicePrincipal
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
        revision, configs, rollouts = snapshot_with_rollouts(self.namespace)
        route = route_for(self.namespace)
        body = JSONRenderer().render({
            "namespace": self.namespace.path,
            "revision": revision,
            "epoch": epoch,
            "topic": route.topic,
            "partitions": route.partitions,
            "digest": selectors.values_digest(configs),
            "configs": configs,
            "rollouts": rollouts,
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


ABORT_ROLLOUT = OpenApiParameter(
    "abort_rollout", OpenApiTypes.BOOL, OpenApiParameter.QUERY,
    description="`true`: abort the config's running rollout with this write (else 409 rollout_running).",
)


@extend_schema(parameters=[CONFIG_NAME_PARAMETER])
class ConfigScopedView(NamespaceScopedView):
    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        names = ConfigNameSerializer(data={"name": kwargs.get("name", "")})
        names.is_valid(raise_exception=True)

    def change_context(self) -> ChangeContext:
        context = super().change_context()
        # `?abort_rollout=true`: this write may end the config's running rollout (apps/fleet/guard.py).
        if self.request.query_params.get("abort_rollout") == "true":
            return dataclasses.replace(context, abort_rollout=True)
        return context

    def may_reveal(self) -> bool:
        """Namespace admins, and the namespace's own service tokens (their clients need the plain values)."""
        return self.role >= Role.ADMIN or isinstance(self.request.user, ServicePrincipal)

    def write_version(self, serializer_class, write, *fields: str) -> Response:
        """Parse the body, make the new version with `write` (a config service)
        under If-Match, and answer 201 with it."""
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        config = write(
            namespace=self.namespace, name=self.kwargs["name"], comment=data["comment"],
            expected_version=parse_if_match(self.request, data.get("expected_version")),
            context=self.change_context(), **{field: data[field] for field in fields if field in data},
        )
        return version_created(config)


class ConfigDetailView(ConfigScopedView):
    @extend_schema(parameters=[ConfigReadQuerySerializer, etag_header(200)], responses=ConfigVersionSerializer)
    def get(self, request, tenant, environment, service, name):
        query = ConfigReadQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        config = selectors.config_current(self.namespace, name)
        data = ConfigVersionSerializer(config).data
        # Others asking to reveal get the masked form, as without asking: a
        # secret's existence is no secret from those who may read the namespace.
        if query.validated_data["reveal"] and config.is_secret and self.may_reveal():
            data["value"] = config_reveal(config=config, context=self.change_context())
        return Response(data, headers={"ETag": quoted(config.version)})

    @extend_schema(parameters=[IF_MATCH, ABORT_ROLLOUT, etag_header(201)], request=ConfigWriteSerializer,
                   responses={201: ConfigVersionSerializer})
    def put(self, request, tenant, environment, service, name):
        return self.write_version(ConfigWriteSerializer, services.config_set, "value", "secret")

    @extend_schema(parameters=[IF_MATCH, ABORT_ROLLOUT, etag_header(204, of="tombstone's version")],
                   request=ConfigDeleteSerializer,
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
        # Secrets compare by their masked forms: the patch replaces the
        # fingerprint when the value changed, and says nothing more.
        patch = value_patch(config_shown_value(older), config_shown_value(newer))
        return Response({"from": older.version, "to": newer.version, "patch": patch})


class ConfigRollbackView(ConfigScopedView):
    read_role = Role.EDITOR

    @extend_schema(parameters=[IF_MATCH, etag_header(201)], request=ConfigRollbackSerializer,
                   responses={201: ConfigVersionSerializer})
    def post(self, request, tenant, environment, service, name):
        return self.write_version(ConfigRollbackSerializer, services.config_rollback, "to_version")


class NamespaceExportView(NamespaceScopedView):
    @extend_schema(parameters=[ConfigExportQuerySerializer], responses=ConfigExportSerializer)
    def get(self, request, tenant, environment, service):
        query = ConfigExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        include_secrets = query.validated_data["include_secrets"]
        if include_secrets and self.role < Role.ADMIN:
            raise PermissionDenied("Only namespace admins may export secrets.")
        if include_secrets:
            revision, exported = config_export_with_secrets(namespace=self.namespace, context=self.change_context())
        else:
            revision, configs = selectors.namespace_snapshot(self.namespace)
            # Left out, not masked: an export is meant to be imported, and a mask is no value.
            exported = {config["name"]: config["value"] for config in configs if not config["secret"]}
        return Response({"namespace": self.namespace.path, "revision": revision, "configs": exported})


class NamespaceImportView(NamespaceScopedView):
    @extend_schema(request=ConfigImportSerializer, responses=ConfigImportResultSerializer)
    def post(self, request, tenant, environment, service):
        serializer = ConfigImportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = config_import(
            namespace=self.namespace, configs=data["configs"], comment=data["comment"],
            dry_run=data["dry_run"], context=self.change_context(),
        )
        return Response({
            "namespace": self.namespace.path,
            "dry_run": data["dry_run"],
            "revision": result.revision,
            "changes": ImportChangeSerializer(result.changes, many=True).data,
        })
