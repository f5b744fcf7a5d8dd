"""Identity providers (WorkspaceIDP) and the connectors associated with them (rule S7)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views import View

from connectors.models import Connector
from console.pages import render_page, wants_fragment
from console.permissions import ChangeRequiredMixin
from directories import failover, services
from directories.models import (
    IdentityProvider,
)
from directories.views.base import WorkingList


class IdentityProviderListView(View):
    def get(self, request: HttpRequest) -> HttpResponse:
        providers = IdentityProvider.objects.prefetch_related("directories", "connectors")
        return render(
            request,
            "directories/identityprovider_list.html",
            {"providers": providers, "nav": "identity_providers"},
        )


class IdentityProviderDetailView(ChangeRequiredMixin, View):
    """Rule S7: the Connector(s) section, a working list stored on Save."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        idp = get_object_or_404(IdentityProvider, pk=pk)
        current = list(idp.connectors.order_by("name"))
        return self._render(request, idp, WorkingList([c.pk for c in current], connectors=current))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        idp = get_object_or_404(IdentityProvider, pk=pk)
        working = WorkingList.from_post(request)
        action = request.POST.get("action", "")
        if action == "save":
            working.load()
            try:
                services.set_identity_provider_connectors(idp, working.ids)
            except ValidationError as exc:
                working.error = " ".join(exc.messages)
                return self._render(request, idp, working)
            notice = f"Connectors of {idp.name} saved."
            if _lists_outside(idp, working.ids):
                notice = f"Connectors of {idp.name} saved, with the warning below."
            if not wants_fragment(request):
                messages.success(request, notice)
                return redirect(idp)
            current = list(idp.connectors.order_by("name"))
            saved = WorkingList(
                [c.pk for c in current], notice=notice, connectors=current, announcement=notice
            )
            saved.focus = "save"
            return self._render(request, idp, saved)
        working.apply(
            action,
            request.POST.get("add_connector", ""),
            "{name} is already associated with " + idp.name + ".",
        )
        working.load().describe("associated", arrows=False)
        return self._render(request, idp, working)

    def _render(
        self, request: HttpRequest, idp: IdentityProvider, working: WorkingList
    ) -> HttpResponse:
        saved_ids = set(idp.connectors.values_list("pk", flat=True))
        required = {
            c.pk: c
            for c in Connector.objects.filter(directories_as_sync__identity_provider=idp).distinct()
        }
        context = {
            "idp": idp,
            "directories": idp.directories.select_related("sync_connector"),
            "working": working,
            "unsaved": saved_ids != set(working.ids),
            "available": Connector.objects.exclude(pk__in=working.ids).order_by("name"),
            "required_ids": set(required),
            "list_warnings": _lists_outside(idp, working.ids),
            "form_url": reverse("directories:identityprovider_detail", args=[idp.pk]),
            "nav": "identity_providers",
        }
        return render_page(
            request,
            "directories/identityprovider_detail.html",
            "directories/_idp_connectors_panel.html",
            context,
        )


def _lists_outside(idp: IdentityProvider, associated: list[int]) -> list[str]:
    """A warning per directory of `idp` whose Sync Connectors list holds connectors that
    `associated` (the page's list) leaves out: they would sync it but not authenticate."""
    warnings = []
    for directory in idp.directories.order_by("name"):
        listed = failover.sync_connector_list(directory)
        outside = failover.not_associated(directory, listed, associated=set(associated))
        if outside:
            warnings.append(failover.not_associated_warning(directory, outside))
    return warnings
