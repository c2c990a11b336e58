import os

from django.http import JsonResponse
from django.urls import path
from noreboot.django import live


def timeout(request):
    # The worker's pid tells the test which of gunicorn's workers answered.
    return JsonResponse({"pid": os.getpid(), "timeout": live.timeout})


urlpatterns = [path("timeout/", timeout)]
