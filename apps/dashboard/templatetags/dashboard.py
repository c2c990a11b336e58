import json

from django import template
from django.urls import reverse

from apps.configs import diffs

register = template.Library()


@register.simple_tag
def namespace_url(view: str, namespace, *extra) -> str:
    """The URL of a dashboard page of the namespace: {% namespace_url "config-history" namespace name %}."""
    return reverse(f"dashboard:{view}", args=[*namespace.path_segments, *extra])


@register.filter
def compact_json(value) -> str:
    return json.dumps(value, ensure_ascii=False)


@register.filter
def value_preview(value, length: int = diffs.PREVIEW_LENGTH) -> str:
    """One line of JSON, cut like the admin's and the diff's: {{ event.before|value_preview }}."""
    return diffs.value_preview(value, length)


@register.filter
def patch_path(path: str) -> str:
    return path or "(whole value)"
