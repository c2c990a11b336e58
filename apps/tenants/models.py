from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

# Lowercase letters, digits and inner hyphens: safe in URLs, Kafka keys and topic names.
SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z"
slug_validator = RegexValidator(
    SLUG_PATTERN, "Use 1-63 lowercase letters, digits or inner hyphens."
)

# Object permissions behind the roles (apps/tenants/roles.py). The same
# codenames exist on Tenant (a grant for every namespace of the tenant, present
# and future) and on Namespace (a grant for that namespace alone).
ROLE_PERMISSIONS = (
    ("view_configs", "Read configurations and their history"),
    ("edit_configs", "Write, delete and roll back configurations"),
    ("admin_namespace", "Grant roles and manage service tokens"),
)


class Tenant(models.Model):
    slug = models.CharField(max_length=63, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]
        permissions = ROLE_PERMISSIONS

    def __str__(self) -> str:
        return self.slug


class Environment(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="environments")
    slug = models.CharField(max_length=63, validators=[slug_validator])
    # The dashboard asks for a confirmation before changing production values.
    is_production = models.BooleanField(default=False)

    class Meta:
        ordering = ["tenant__slug", "slug"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "slug"], name="environment_unique_per_tenant")
        ]

    def __str__(self) -> str:
        return f"{self.tenant.slug}/{self.slug}"


class Service(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="services")
    slug = models.CharField(max_length=63, validators=[slug_validator])

    class Meta:
        ordering = ["tenant__slug", "slug"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "slug"], name="service_unique_per_tenant")
        ]

    def __str__(self) -> str:
        return f"{self.tenant.slug}/{self.slug}"


class Namespace(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="namespaces")
    environment = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="namespaces")
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="namespaces")
    # `tenant/environment/service`, kept whole because it is the Kafka key and
    # the lookup of every request.
    path = models.CharField(max_length=191, unique=True, editable=False)
    # Rises by exactly one per change, in the change's transaction; the row is
    # locked by every write, so revision order is commit order.
    revision = models.BigIntegerField(default=0, editable=False)
    # Bytes of compact JSON of the live values, kept by every write under the
    # same lock, so the byte budgets are checked without summing the namespace.
    value_bytes = models.BigIntegerField(default=0, editable=False)
    # Protection: at least 1 means changes come only through change requests
    # with this many approvals (apps/changes). Set by a tenant admin.
    required_approvals = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["path"]
        permissions = ROLE_PERMISSIONS
        constraints = [
            models.UniqueConstraint(fields=["environment", "service"], name="namespace_unique"),
        ]

    def __str__(self) -> str:
        return self.path

    @staticmethod
    def path_of(tenant: str, environment: str, service: str) -> str:
        return f"{tenant}/{environment}/{service}"

    @property
    def path_segments(self) -> tuple[str, str, str]:
        """(tenant, environment, service): the URL arguments of NAMESPACE_ROUTE."""
        tenant, environment, service = self.path.split("/")
        return tenant, environment, service


# The URL of a namespace, for the API and the dashboard alike.
NAMESPACE_ROUTE = "namespaces/<slug:tenant>/<slug:environment>/<slug:service>"


class ServiceToken(models.Model):
    """A read-only credential of one client service for one namespace."""

    namespace = models.ForeignKey(Namespace, on_delete=models.PROTECT, related_name="tokens")
    name = models.CharField(max_length=100)
    # The first characters of the secret, shown in lists so people can tell tokens apart.
    prefix = models.CharField(max_length=16, editable=False)
    # SHA-256 of the whole secret; the secret itself is shown once and never stored.
    secret_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # The Kafka principal's password is derived from this, never stored; a
    # rotation raises it (apps/tenants/kafka_principals.py).
    kafka_credential_generation = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…) on {self.namespace.path}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
