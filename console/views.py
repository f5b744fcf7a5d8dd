"""Console shell views: the composition root's own pages."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views import View

from console.forms import ProfileForm
from console.timezones import server_time_zone


def home(request: HttpRequest) -> HttpResponse:
    """The console opens on the Directories list."""
    return redirect("directories:directory_list")


class ProfileView(View):
    """Each admin's own settings (any role): the time zone of every time shown."""

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(request, ProfileForm(instance=request.user))

    def post(self, request: HttpRequest) -> HttpResponse:
        form = ProfileForm(request.POST, instance=request.user)
        if form.is_valid():
            form.save()
            messages.success(request, f"Times are now shown in {form.instance.time_zone}.")
            return redirect("profile")
        request.user.refresh_from_db()
        return self._render(request, form)

    def _render(self, request: HttpRequest, form: ProfileForm) -> HttpResponse:
        context = {"form": form, "now": timezone.now(), "server_time_zone": server_time_zone()}
        return render(request, "console/profile.html", context)
