"""namespace_for, which every request under /namespaces/ passes: the namespace
and the caller's role on it come from one statement, with the same answers as
namespace_role gives (grants on the namespace, its tenant, or through a group)."""

import pytest
from django.contrib.auth.models import AnonymousUser, Group
from guardian.shortcuts import assign_perm

from apps.errors import NotFound, PermissionDenied
from apps.tenants.roles import Role, namespace_role
from apps.tenants.selectors import namespace_for

pytestmark = pytest.mark.django_db


def lookup(principal, namespace, minimum=Role.VIEWER):
    tenant, environment, service = namespace.path_segments
    return namespace_for(principal, tenant=tenant, environment=environment, service=service, minimum=minimum)


@pytest.mark.parametrize(("holder", "role"), [
    ("namespace", "viewer"), ("namespace", "editor"), ("tenant", "admin"), ("tenant", "editor"),
])
def test_namespace_for__role_on_the_namespace_or_its_tenant__that_role_in_one_statement(
    make_user, make_namespace, grant, holder, role, django_assert_num_queries
):
    # Given a user holding a role on the namespace or on its tenant
    namespace, user = make_namespace(), make_user()
    grant(user, namespace if holder == "namespace" else namespace.tenant, role)

    lookup(user, namespace)  # the process's content type cache filled, as after its first request

    # When the namespace is looked up
    with django_assert_num_queries(1):
        found, found_role = lookup(user, namespace)
        # Then its tenant and environment come with it
        assert (found.tenant.slug, found.environment.slug) == (namespace.tenant.slug, namespace.environment.slug)

    # And the role is the one namespace_role tells, the namespace the stored one
    assert found_role == Role.from_label(role) == namespace_role(user, namespace)
    assert (found.pk, found.path, found.revision, found.tenant_id) == (
        namespace.pk, namespace.path, namespace.revision, namespace.tenant_id
    )


def test_namespace_for__role_through_a_group__that_role(make_user, make_namespace):
    namespace, user = make_namespace(), make_user()
    group = Group.objects.create(name=f"editors-{namespace.pk}")
    group.user_set.add(user)
    for codename in ("view_configs", "edit_configs"):
        assign_perm(codename, group, namespace)

    assert lookup(user, namespace, minimum=Role.EDITOR)[1] == Role.EDITOR


def test_namespace_for__viewer_asking_for_editor__permission_denied(make_user, make_namespace, grant):
    namespace, user = make_namespace(), make_user()
    grant(user, namespace, "viewer")

    with pytest.raises(PermissionDenied):
        lookup(user, namespace, minimum=Role.EDITOR)


@pytest.mark.parametrize("caller", ["no_grant", "inactive", "anonymous", "other_namespace_grant"])
def test_namespace_for__caller_without_a_role_here__not_found(make_user, make_namespace, grant, caller):
    namespace = make_namespace()
    user = make_user(is_active=caller != "inactive")
    if caller == "inactive":
        grant(user, namespace, "admin")
    if caller == "other_namespace_grant":
        grant(user, make_namespace(), "admin")

    with pytest.raises(NotFound):
        lookup(AnonymousUser() if caller == "anonymous" else user, namespace)


def test_namespace_for__superuser__admin_of_any_namespace(make_user, make_namespace):
    namespace = make_namespace()

    assert lookup(make_user(is_superuser=True), namespace)[1] == Role.ADMIN
