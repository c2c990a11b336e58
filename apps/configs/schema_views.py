"""`.../configs/{name}/schema/`: a config's JSON Schema (apps/configs/definitions.py)."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from apps.api.base import NO_CONTENT
from apps.configs import selectors
from apps.configs.definitions import config_schema_delete, config_schema_set
from apps.configs.models import ConfigDefinition
from apps.configs.serializers import ConfigSchemaSerializer, ConfigSchemaWriteSerializer
from apps.configs.views import ConfigScopedView


def schema_body(definition: ConfigDefinition, namespace_path: str) -> dict:
    return {
        "namespace": namespace_path, "name": definition.name, "schema": definition.schema,
        "schema_version": definition.schema_version,
    }


class ConfigSchemaView(ConfigScopedView):
    """A schema may be set before the config has a value; it stays when the value is deleted."""

    @extend_schema(responses=ConfigSchemaSerializer)
    def get(self, request, tenant, environment, service, name):
        return Response(schema_body(selectors.config_schema(self.namespace, name), self.namespace.path))

    @extend_schema(request=ConfigSchemaWriteSerializer, responses=ConfigSchemaSerializer)
    def put(self, request, tenant, environment, service, name):
        serializer = ConfigSchemaWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        definition = config_schema_set(
            namespace=self.namespace, name=name, schema=serializer.validated_data["schema"],
            context=self.change_context(), may_reveal=self.may_reveal(),
        )
        return Response(schema_body(definition, self.namespace.path))

    @extend_schema(responses={204: NO_CONTENT})
    def delete(self, request, tenant, environment, service, name):
        config_schema_delete(namespace=self.namespace, name=name, context=self.change_context(),
                             may_reveal=self.may_reveal())
        return Response(status=status.HTTP_204_NO_CONTENT)
