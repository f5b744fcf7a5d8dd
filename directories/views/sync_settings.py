"""The Sync Settings tabs: frequency, users, groups, attributes, safeguards, Sync Connectors."""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views import View

from connectors.models import Connector
from console.forms import add_service_error
from console.pages import render_page, wants_fragment
from console.permissions import ChangeRequiredMixin
from directories import failover, notifications, services, syncplan
from directories.forms import (
    GroupSettingsForm,
    MappedAttributesForm,
    NotificationsForm,
    SafeguardsForm,
    SyncFrequencyForm,
    UserSettingsForm,
)
from directories.models import (
    Directory,
)
from directories.views.base import WorkingList, directory_context


@dataclass(frozen=True)
class SyncSettingsSection:
    slug: str
    title: str
    form_class: type


SYNC_SETTINGS_SECTIONS = {
    s.slug: s
    for s in (
        SyncSettingsSection("frequency", "Sync Frequency", SyncFrequencyForm),
        SyncSettingsSection("users", "Users", UserSettingsForm),
        SyncSettingsSection("groups", "Groups", GroupSettingsForm),
        SyncSettingsSection("attributes", "Mapped Attributes", MappedAttributesForm),
        SyncSettingsSection("safeguards", "Safeguards", SafeguardsForm),
        SyncSettingsSection("notifications", "Notifications", NotificationsForm),
    )
}


def sync_settings_redirect(request: HttpRequest, pk: int) -> HttpResponse:
    get_object_or_404(Directory, pk=pk)
    return redirect("directories:directory_sync_settings", pk=pk, section="frequency")


class SyncSettingsView(ChangeRequiredMixin, View):
    """One Sync Settings sub-tab; each saves only its own fields."""

    def setup(self, request: HttpRequest, *args, **kwargs) -> None:
        super().setup(request, *args, **kwargs)
        section = SYNC_SETTINGS_SECTIONS.get(kwargs["section"])
        if section is None:
            raise Http404("No such Sync Settings tab.")
        self.section = section

    def make_form(self, directory: Directory, data: dict | None = None) -> forms.BaseForm:
        if self.section.form_class is MappedAttributesForm:
            return MappedAttributesForm(data, directory=directory)
        return self.section.form_class(data, instance=directory)

    def get(self, request: HttpRequest, pk: int, section: str) -> HttpResponse:
        directory = get_object_or_404(Directory, pk=pk)
        return self._render(request, directory, self.make_form(directory))

    def post(self, request: HttpRequest, pk: int, section: str) -> HttpResponse:
        directory = get_object_or_404(Directory, pk=pk)
        form = self.make_form(directory, request.POST)
        if form.is_valid():
            if isinstance(form, MappedAttributesForm):
                changes = form.changes()
            else:
                changes = {name: form.cleaned_data[name] for name in form.Meta.fields}
            try:
                services.update_directory(directory, changes)
            except ValidationError as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, f"{self.section.title} saved.")
                return redirect(request.path)
        directory.refresh_from_db()
        return self._render(request, directory, form)

    def _render(
        self, request: HttpRequest, directory: Directory, form: forms.BaseForm
    ) -> HttpResponse:
        context = directory_context(
            directory,
            "sync_settings",
            form=form,
            section=self.section.slug,
            section_title=self.section.title,
            sections=SYNC_SETTINGS_SECTIONS.values(),
        )
        if self.section.slug == "frequency":
            context["collisions"] = syncplan.collisions_for(directory)
        if self.section.slug == "notifications":
            context["recipients"] = notifications.recipients(directory)
        return render(request, "directories/sync_settings.html", context)


def _parse_version(raw: str | None) -> int:
    try:
        return int(raw or "")
    except ValueError:
        # A form without a readable version cannot prove it is current: treat it as stale.
        return -1


class SyncConnectorsView(ChangeRequiredMixin, View):
    """Rules S5, S8, S9: the failover order of the directory's connectors."""

    duplicate_message = "{name} is already in the Sync Connectors list."

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        directory = get_object_or_404(Directory, pk=pk)
        saved = failover.sync_connector_list(directory)
        working = WorkingList([c.pk for c in saved], connectors=saved)
        return self._render(request, directory, working, directory.sync_connectors_version)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        directory = get_object_or_404(Directory, pk=pk)
        working = WorkingList.from_post(request)
        version = _parse_version(request.POST.get("version"))
        action = request.POST.get("action", "")
        feature = failover.sync_connectors_feature()
        if not feature.available:
            working.load().error = feature.reason
            return self._render(request, directory, working, version, status=409)
        if action == "cancel-save":
            working.load()
            working.announcement = "Nothing was saved; the list is as you left it."
            working.focus = "picker"
            return self._render(request, directory, working, version)
        if action in ("save", "confirm-save"):
            working.load()
            # Saving an empty list over a saved one switches failover off: ask first.
            if action == "save" and not working.ids and failover.sync_connector_list(directory):
                return self._render(request, directory, working, version, confirm_empty=True)
            return self._save(request, directory, working, version)
        working.apply(action, request.POST.get("add_connector", ""), self.duplicate_message)
        working.load().describe("in the list")
        return self._render(request, directory, working, version)

    def _save(
        self, request: HttpRequest, directory: Directory, working: WorkingList, version: int
    ) -> HttpResponse:
        try:
            services.save_sync_connectors(directory, working.ids, expected_version=version)
        except services.StaleSyncConnectors as exc:
            directory.refresh_from_db()
            saved = failover.sync_connector_list(directory)
            mine = ", ".join(c.name for c in working.connectors) or "an empty list"
            fresh = WorkingList([c.pk for c in saved], connectors=saved)
            fresh.error = f"{exc} Your unsaved order was: {mine}."
            return self._render(
                request, directory, fresh, directory.sync_connectors_version, status=409
            )
        except services.SyncConnectorsUnavailable as exc:
            working.error = str(exc)
            return self._render(request, directory, working, version, status=409)
        except ValidationError as exc:
            working.error = " ".join(exc.messages)
            return self._render(request, directory, working, version)
        notice = "Sync Connectors list saved. It applies from the next sync."
        if failover.not_associated(directory, working.connectors):
            notice = (
                "Sync Connectors list saved, with the warning below. It applies from the next sync."
            )
        if not wants_fragment(request):
            messages.success(request, notice)
            return redirect("directories:directory_sync_connectors", pk=directory.pk)
        saved = failover.sync_connector_list(directory)
        fresh = WorkingList(
            [c.pk for c in saved], notice=notice, connectors=saved, announcement=notice
        )
        fresh.focus = "save"
        return self._render(request, directory, fresh, directory.sync_connectors_version)

    def _render(
        self,
        request: HttpRequest,
        directory: Directory,
        working: WorkingList,
        version: int,
        status: int = 200,
        confirm_empty: bool = False,
    ) -> HttpResponse:
        saved = failover.sync_connector_list(directory)
        warning = ""
        if confirm_empty:
            sole = failover.connector_without_list(directory)
            warning = (
                f"Saving an empty list switches failover off: only {sole.name} will sync "
                f"{directory.name}, with no fallback."
            )
            working.announcement = warning
            working.focus = "cancel-save"
        offered = list(Connector.objects.exclude(pk__in=working.ids).order_by("name"))
        outside = failover.not_associated(directory, offered)
        idp = directory.identity_provider.name
        picker_groups = [
            (f"Associated with {idp}", [c for c in offered if c not in outside]),
            (f"Not associated with {idp}: can sync but not authenticate users", outside),
        ]
        context = directory_context(
            directory,
            "sync_settings",
            section="sync_connectors",
            sections=SYNC_SETTINGS_SECTIONS.values(),
            working=working,
            version=version,
            saved=saved,
            unsaved=[c.pk for c in saved] != working.ids,
            confirm_empty=warning,
            # The picker offers only connectors not in the list already, grouped by rule S7.
            picker_groups=[(label, group) for label, group in picker_groups if group],
            not_associated_warning=failover.not_associated_warning(
                directory, failover.not_associated(directory, working.connectors)
            ),
            # The working list, saved or not: the warning comes before Save.
            collisions=syncplan.collisions_for(directory, staged=working.connectors),
            form_url=reverse("directories:directory_sync_connectors", args=[directory.pk]),
        )
        # htmx 2 does not swap 4xx answers by default, so it gets refusals as 200.
        return render_page(
            request,
            "directories/sync_connectors.html",
            "directories/_sync_connectors_panel.html",
            context,
            status=status,
        )
