"""Connector pages: the list with live health, adding a connector, activation codes."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views import View

from connectors import services
from connectors.forms import ConnectorAddForm
from connectors.models import Connector
from console.forms import add_service_error
from console.pages import render_page
from console.permissions import ChangeRequiredMixin


class ConnectorListView(View):
    """Every connector with its health; the table refreshes itself every few seconds."""

    def get(self, request: HttpRequest) -> HttpResponse:
        connectors = Connector.objects.with_uses()
        context = {"connectors": connectors, "nav": "connectors"}
        return render_page(
            request, "connectors/connector_list.html", "connectors/_connector_table.html", context
        )


def _activation_page(request: HttpRequest, connector: Connector, code: str) -> HttpResponse:
    # The code exists only in this response: the database keeps a hash of it.
    response = render(
        request,
        "connectors/activation_code.html",
        {
            "connector": connector,
            "code": code,
            "service_url": request.build_absolute_uri("/").rstrip("/"),
            "nav": "connectors",
        },
    )
    response["Cache-Control"] = "no-store"
    return response


class ConnectorAddView(ChangeRequiredMixin, View):
    requires_super_admin = True
    change_only = True

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(request, ConnectorAddForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        form = ConnectorAddForm(request.POST)
        if form.is_valid():
            try:
                connector, code = services.add_connector(form.cleaned_data["name"])
            except ValidationError as exc:
                add_service_error(form, exc)
            else:
                return _activation_page(request, connector, code)
        return self._render(request, form)

    def _render(self, request: HttpRequest, form: ConnectorAddForm) -> HttpResponse:
        return render(request, "connectors/connector_add.html", {"form": form, "nav": "connectors"})


class ActivationCodeView(ChangeRequiredMixin, View):
    """A new single-use code for an existing connector; earlier unused codes stop working."""

    requires_super_admin = True
    change_only = True

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        connector = get_object_or_404(Connector, pk=pk)
        return render(
            request,
            "connectors/activation_code_confirm.html",
            {"connector": connector, "nav": "connectors"},
        )

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        connector = get_object_or_404(Connector, pk=pk)
        code = services.new_activation_code(connector)
        return _activation_page(request, connector, code)


class ConnectorDeleteView(ChangeRequiredMixin, View):
    """Delete a connector after a confirmation; refused, with the reason, while a directory
    syncs through it or lists it."""

    requires_super_admin = True
    change_only = True

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        connector = get_object_or_404(Connector, pk=pk)
        return self._render(request, connector, services.directories_using(connector))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        connector = get_object_or_404(Connector, pk=pk)
        try:
            services.delete_connector(connector)
        except services.ConnectorInUse as exc:
            return self._render(request, connector, exc.directories, error=str(exc), status=409)
        messages.success(request, f"Connector {connector.name} deleted.")
        return redirect("connectors:connector_list")

    def _render(self, request, connector, users, error: str = "", status: int = 200):
        context = {"connector": connector, "users": users, "error": error, "nav": "connectors"}
        return render(request, "connectors/connector_delete.html", context, status=status)
