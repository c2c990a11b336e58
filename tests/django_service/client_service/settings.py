"""A client service's settings: it knows the API, its namespace and its token
(from NOREBOOT_URL, NOREBOOT_NAMESPACE and NOREBOOT_TOKEN) and nothing else."""

SECRET_KEY = "client-service-test-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
INSTALLED_APPS = ["noreboot.django"]
ROOT_URLCONF = "client_service.urls"
USE_TZ = True

NOREBOOT = {"DEFAULTS": {"timeout": 1.0}}
