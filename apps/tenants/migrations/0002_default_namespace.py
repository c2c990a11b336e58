from django.db import migrations


def create_default_namespace(apps, schema_editor):
    Tenant = apps.get_model("tenants", "Tenant")
    Environment = apps.get_model("tenants", "Environment")
    Service = apps.get_model("tenants", "Service")
    Namespace = apps.get_model("tenants", "Namespace")
    tenant, _ = Tenant.objects.get_or_create(slug="default", defaults={"name": "Default"})
    environment, _ = Environment.objects.get_or_create(tenant=tenant, slug="default")
    service, _ = Service.objects.get_or_create(tenant=tenant, slug="default")
    Namespace.objects.get_or_create(
        tenant=tenant, environment=environment, service=service, defaults={"path": "default/default/default"}
    )


class Migration(migrations.Migration):
    dependencies = [("tenants", "0001_initial")]

    # The seed spec's two endpoints act on this namespace, so it always exists.
    operations = [migrations.RunPython(create_default_namespace, migrations.RunPython.noop)]
