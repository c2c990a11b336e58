import shlex
import sys

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from apps.change_context import ChangeContext
from apps.configs.selectors import active_configs
from apps.configs.services import config_set
from apps.tenants import services
from apps.tenants.models import Namespace, ServiceToken, Tenant
from apps.tenants.roles import Role

DEMO_TENANT = "demo"
DEMO_NAMESPACE = "demo/dev/checkout"
DEMO_USER = "demo"
STAFF_USER = "admin"
DEMO_TOKEN_NAME = "demo-client"
DEMO_VALUES = {"timeout": 2.5, "new_checkout": False}


class Command(BaseCommand):
    help = "Create (once) the demo tenant, user and values, and a fresh service token for the demo client."

    def add_arguments(self, parser):
        parser.add_argument("--shell", action="store_true", help="Print shell assignments for scripts/run.sh.")

    @transaction.atomic
    def handle(self, *args, shell=False, **options):
        # Random passwords made once per installation (scripts/keys.sh) or given
        # by the environment: no installation shares a known password.
        staff_password, demo_password = settings.DEMO_ADMIN_PASSWORD, settings.DEMO_USER_PASSWORD
        if not staff_password or not demo_password:
            raise CommandError("NOREBOOT_ADMIN_PASSWORD and NOREBOOT_DEMO_PASSWORD must be set (`make keys` writes them)")
        users = get_user_model().objects
        staff = users.filter(username=STAFF_USER).first() or users.create_superuser(STAFF_USER, password=staff_password)
        context = ChangeContext(actor=staff, request_id="demo-setup")
        demo = users.filter(username=DEMO_USER).first() or users.create_user(DEMO_USER, password=demo_password)
        # Installations set up before the passwords were random hold published ones: replace them.
        for user, password, published in ((staff, staff_password, "admin-password"), (demo, demo_password, "demo-password")):
            if user.check_password(published):
                user.set_password(password)
                user.save(update_fields=["password"])
        tenant = Tenant.objects.filter(slug=DEMO_TENANT).first() or services.tenant_create(
            slug=DEMO_TENANT, name="Demo", context=context
        )
        namespace = Namespace.objects.filter(path=DEMO_NAMESPACE).first() or services.namespace_create(
            tenant=tenant, environment="dev", service="checkout", context=context
        )
        services.role_grant(target=tenant, user=demo, role=Role.ADMIN, context=context)
        default = Namespace.objects.get(path="default/default/default")
        services.role_grant(target=default, user=demo, role=Role.EDITOR, context=context)
        present = set(active_configs(namespace).values_list("name", flat=True))
        for name, value in DEMO_VALUES.items():
            if name not in present:
                config_set(namespace=namespace, name=name, value=value, context=context, comment="demo seed")
        for old in ServiceToken.objects.filter(namespace=namespace, name=DEMO_TOKEN_NAME, revoked_at__isnull=True):
            services.service_token_revoke(token=old, context=context)
        _, secret = services.service_token_create(namespace=namespace, name=DEMO_TOKEN_NAME, context=context)

        out = sys.stderr if shell else sys.stdout
        out.write(
            "\nNo-Reboot HQ demo\n"
            f"  dashboard      http://127.0.0.1:8000/ui/  (sign in as the demo user)\n"
            f"  API            http://127.0.0.1:8000/api/docs/\n"
            f"  Django admin   http://127.0.0.1:8000/admin/  user {STAFF_USER} / {staff_password}\n"
            f"  demo user      {DEMO_USER} / {demo_password} (admin of tenant {DEMO_TENANT})\n"
            f"  namespace      {DEMO_NAMESPACE}\n"
            f"  service token  {secret}\n"
            "  try:\n"
            "    TOKEN=$(curl -s -X POST http://127.0.0.1:8000/api/v1/auth/token/ -H 'Content-Type: application/json' \\\n"
            f"      -d '{{\"username\": \"{DEMO_USER}\", \"password\": \"{demo_password}\"}}' | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access\"])')\n"
            f"    curl -X PUT http://127.0.0.1:8000/api/v1/namespaces/{DEMO_NAMESPACE}/configs/new_checkout/ \\\n"
            "      -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' -d '{\"value\": true}'\n\n"
        )
        if shell:
            self.stdout.write(f"DEMO_NAMESPACE={shlex.quote(DEMO_NAMESPACE)}\nDEMO_SERVICE_TOKEN={shlex.quote(secret)}\n")
