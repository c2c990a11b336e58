"""Signing in to the dashboard."""

from __future__ import annotations

from config_service.throttling import login_refused_for
from django.contrib.auth import views as auth_views


class ThrottledLoginView(auth_views.LoginView):
    """Sign-in with the API login's limits, per address and per username."""

    template_name = "dashboard/login.html"
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        wait = login_refused_for(request, self)
        if wait is not None:
            form = self.get_form()
            form.add_error(None, f"Too many sign-in attempts; try again in {wait} seconds.")
            response = self.form_invalid(form)
            response.status_code = 429
            response["Retry-After"] = str(wait)
            return response
        return super().post(request, *args, **kwargs)
