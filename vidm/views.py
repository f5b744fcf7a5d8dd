"""The OAuth Clients page: Super Admins add and delete the clients vIDM scripts use."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views import View

from console.forms import add_service_error
from console.permissions import ChangeRequiredMixin
from vidm import services
from vidm.forms import OAuthClientForm
from vidm.models import OAuthClient


class OAuthClientListView(ChangeRequiredMixin, View):
    requires_super_admin = True
    change_only = True

    def page(self, request: HttpRequest, form: OAuthClientForm, **extra) -> HttpResponse:
        context = {
            "clients": OAuthClient.objects.select_related("user"),
            "form": form,
            "nav": "oauth_clients",
            "token_url": request.build_absolute_uri("/SAAS/auth/oauthtoken"),
            **extra,
        }
        return render(request, "vidm/oauth_clients.html", context)

    def get(self, request: HttpRequest) -> HttpResponse:
        return self.page(request, OAuthClientForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        form = OAuthClientForm(request.POST)
        if form.is_valid():
            try:
                client, secret = services.add_client(
                    form.cleaned_data["client_id"], form.cleaned_data["role"]
                )
            except ValidationError as exc:
                add_service_error(form, exc)
            else:
                # The secret exists only in this response: the database keeps its digest.
                response = self.page(request, OAuthClientForm(), created=client, secret=secret)
                response["Cache-Control"] = "no-store"
                return response
        return self.page(request, form)


class OAuthClientDeleteView(ChangeRequiredMixin, View):
    requires_super_admin = True
    change_only = True

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        client = get_object_or_404(OAuthClient, pk=pk)
        name = client.client_id
        services.delete_client(client)
        messages.success(request, f"OAuth client {name} deleted; its tokens no longer work.")
        return redirect("vidm-console:oauth_clients")
