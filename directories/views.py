"""Directory pages: list, add, settings, Sync Settings, identity providers, users and groups."""

from __future__ import annotations

from dataclasses import dataclass, field

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, OuterRef, Subquery
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views import View

from connectors.choices import HealthState
from connectors.models import Connector
from console.forms import add_service_error
from console.permissions import ChangeRequiredMixin
from console.views import paginate, render_page, wants_fragment
from directories import services
from directories.forms import (
    DirectoryAddForm,
    DirectorySettingsForm,
    GroupSettingsForm,
    MappedAttributesForm,
    SafeguardsForm,
    SyncFrequencyForm,
    UserSettingsForm,
)
from directories.models import (
    Directory,
    DirectoryGroup,
    DirectoryUser,
    GroupMembership,
    GroupNesting,
    IdentityProvider,
)
from synclog.choices import Trigger
from synclog.models import SyncRun
from synclog.services import trigger_sync

PAGE_SIZE = 50


def directory_context(directory: Directory, tab: str, **extra) -> dict:
    """What every tab of a directory page needs: the tabs shown depend on rules S5/S6."""
    return {
        "directory": directory,
        "tab": tab,
        "nav": "directories",
        "feature": services.sync_connectors_feature(),
        **extra,
    }


@dataclass
class ConnectorStatus:
    label: str
    colour: str


def connector_status(directory: Directory) -> ConnectorStatus:
    """Whether the connectors the next sync would try are reachable, in failover order."""
    candidates, _ = services.effective_sync_connectors(directory)
    healthy = [c for c in candidates if c.health == HealthState.OK]
    if candidates and candidates[0].health == HealthState.OK:
        return ConnectorStatus("Ready", "success")
    if healthy:
        return ConnectorStatus(f"Falls back to {healthy[0].name}", "warning")
    if all(c.health == HealthState.UNKNOWN for c in candidates):
        return ConnectorStatus("Connector health unknown", "neutral")
    return ConnectorStatus("No connector available", "danger")


def _count_of(model: type, link: str = "directory") -> Subquery:
    return Subquery(
        model.objects.filter(**{link: OuterRef("pk")})
        .order_by()
        .values(link)
        .annotate(n=Count("pk"))
        .values("n")[:1]
    )


class DirectoryListView(View):
    def get(self, request: HttpRequest) -> HttpResponse:
        latest = SyncRun.objects.filter(directory=OuterRef("pk")).order_by("-created", "-id")
        # Subqueries, not joined Counts: joining users and groups would multiply the rows.
        directories = list(
            Directory.objects.select_related("sync_connector", "identity_provider").annotate(
                users_count=_count_of(DirectoryUser),
                groups_count=_count_of(DirectoryGroup),
                latest_run_id=Subquery(latest.values("pk")[:1]),
            )
        )
        runs = SyncRun.objects.in_bulk([d.latest_run_id for d in directories if d.latest_run_id])
        for directory in directories:
            directory.latest_run = runs.get(directory.latest_run_id)
            directory.connector_status = connector_status(directory)
        return render(
            request,
            "directories/directory_list.html",
            {"directories": directories, "nav": "directories"},
        )


class DirectoryAddView(ChangeRequiredMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(request, DirectoryAddForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        form = DirectoryAddForm(request.POST)
        if form.is_valid():
            try:
                directory = services.create_directory(**form.service_fields())
            except ValidationError as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, f"Directory {directory.name} added.")
                return redirect(directory)
        return self._render(request, form)

    def _render(self, request: HttpRequest, form: DirectoryAddForm) -> HttpResponse:
        context = {
            "form": form,
            "nav": "directories",
            "has_connectors": Connector.objects.exists(),
        }
        return render(request, "directories/directory_add.html", context)


class DirectoryDetailView(ChangeRequiredMixin, View):
    """The Settings tab: connection details and the Directory Sync and Authentication section."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        directory = get_object_or_404(Directory, pk=pk)
        return self._render(request, directory, DirectorySettingsForm(instance=directory))

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        directory = get_object_or_404(Directory, pk=pk)
        form = DirectorySettingsForm(request.POST, instance=directory)
        if form.is_valid():
            # Only this form's columns: a whole-row save could undo a list saved meanwhile.
            form.instance.save(update_fields=[*form.changed_model_fields(), "updated"])
            messages.success(request, "Directory settings saved.")
            return redirect("directories:directory_detail", pk=pk)
        directory.refresh_from_db()
        return self._render(request, directory, form)

    def _render(
        self, request: HttpRequest, directory: Directory, form: DirectorySettingsForm
    ) -> HttpResponse:
        context = directory_context(directory, "settings", form=form)
        context["sync_connectors"], context["uses_fallback"] = services.effective_sync_connectors(
            directory
        )
        return render(request, "directories/directory_detail.html", context)


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
                directory.mapped_attributes = form.mapped_attributes()
                directory.save(update_fields=["mapped_attributes", "updated"])
            else:
                form.instance.save(update_fields=[*form.Meta.fields, "updated"])
            if self.section.slug == "frequency":
                services.update_schedule(directory)
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
            context["collisions"] = services.schedule_collisions(directory)
        return render(request, "directories/sync_settings.html", context)


@dataclass
class WorkingList:
    """A list of connectors edited in the form and stored only on Save."""

    ids: list[int]
    error: str = ""
    notice: str = ""
    connectors: list[Connector] = field(default_factory=list)

    @classmethod
    def from_post(cls, request: HttpRequest) -> WorkingList:
        ids: list[int] = []
        for raw in request.POST.getlist("connector"):
            try:
                ids.append(int(raw))
            except ValueError:
                continue
        return cls(ids)

    def load(self) -> WorkingList:
        found = Connector.objects.in_bulk(self.ids)
        if any(cid not in found for cid in self.ids):
            self.notice = "A connector in the list no longer exists and was left out."
        self.ids = [cid for cid in self.ids if cid in found]
        self.connectors = [found[cid] for cid in self.ids]
        return self

    def apply(self, action: str, selected: str, duplicate_message: str) -> bool:
        """Change the list for add/up/down/remove; False (with `error`) when refused."""
        verb, _, arg = action.partition(":")
        if verb == "add":
            try:
                connector = Connector.objects.get(pk=int(selected))
            except (ValueError, Connector.DoesNotExist):
                self.error = "Select a connector to add."
                return False
            if connector.pk in self.ids:
                self.error = duplicate_message.format(name=connector.name)
                return False
            self.ids.append(connector.pk)
            return True
        try:
            index = int(arg)
        except ValueError:
            index = -1
        if not 0 <= index < len(self.ids):
            self.error = "That entry is no longer in the list; the list is shown as it is now."
            return False
        if verb == "remove":
            del self.ids[index]
        elif verb == "up" and index > 0:
            self.ids[index - 1], self.ids[index] = self.ids[index], self.ids[index - 1]
        elif verb == "down" and index < len(self.ids) - 1:
            self.ids[index + 1], self.ids[index] = self.ids[index], self.ids[index + 1]
        elif verb not in ("up", "down"):
            self.error = "Unknown action."
            return False
        return True


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
        saved = services.sync_connector_list(directory)
        working = WorkingList([c.pk for c in saved], connectors=saved)
        return self._render(request, directory, working, directory.sync_connectors_version)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        directory = get_object_or_404(Directory, pk=pk)
        working = WorkingList.from_post(request)
        version = _parse_version(request.POST.get("version"))
        action = request.POST.get("action", "")
        feature = services.sync_connectors_feature()
        if not feature.available:
            working.load().error = feature.reason
            return self._render(request, directory, working, version, status=409)
        if action == "save":
            return self._save(request, directory, working.load(), version)
        working.apply(action, request.POST.get("add_connector", ""), self.duplicate_message)
        return self._render(request, directory, working.load(), version)

    def _save(
        self, request: HttpRequest, directory: Directory, working: WorkingList, version: int
    ) -> HttpResponse:
        try:
            services.save_sync_connectors(directory, working.ids, expected_version=version)
        except services.StaleSyncConnectors as exc:
            directory.refresh_from_db()
            saved = services.sync_connector_list(directory)
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
        if not wants_fragment(request):
            messages.success(request, notice)
            return redirect("directories:directory_sync_connectors", pk=directory.pk)
        saved = services.sync_connector_list(directory)
        fresh = WorkingList([c.pk for c in saved], notice=notice, connectors=saved)
        return self._render(request, directory, fresh, directory.sync_connectors_version)

    def _render(
        self,
        request: HttpRequest,
        directory: Directory,
        working: WorkingList,
        version: int,
        status: int = 200,
    ) -> HttpResponse:
        saved = services.sync_connector_list(directory)
        context = directory_context(
            directory,
            "sync_settings",
            section="sync_connectors",
            sections=SYNC_SETTINGS_SECTIONS.values(),
            working=working,
            version=version,
            saved=saved,
            unsaved=[c.pk for c in saved] != working.ids,
            all_connectors=Connector.objects.order_by("name"),
            collisions=services.schedule_collisions(directory),
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


class TestConnectionView(ChangeRequiredMixin, View):
    """Settings tab: ask a connector to bind with the stored settings; nothing is saved."""

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        from directories.sync.fetch import test_connection

        directory = get_object_or_404(Directory, pk=pk)
        result = test_connection(directory)
        (messages.success if result.ok else messages.error)(request, result.message)
        return redirect("directories:directory_detail", pk=pk)


class SyncNowView(ChangeRequiredMixin, View):
    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        directory = get_object_or_404(Directory, pk=pk)
        _run, created = trigger_sync(directory, Trigger.MANUAL, request.user)
        if created:
            messages.success(request, f"Sync of {directory.name} queued.")
        else:
            messages.info(request, "A sync is already waiting; your request joins it.")
        return redirect("directories:directory_sync_log", pk=pk)


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
            if not wants_fragment(request):
                messages.success(request, notice)
                return redirect(idp)
            current = list(idp.connectors.order_by("name"))
            saved = WorkingList([c.pk for c in current], notice=notice, connectors=current)
            return self._render(request, idp, saved)
        working.apply(
            action,
            request.POST.get("add_connector", ""),
            "{name} is already associated with " + idp.name + ".",
        )
        return self._render(request, idp, working.load())

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
            "form_url": reverse("directories:identityprovider_detail", args=[idp.pk]),
            "nav": "identity_providers",
        }
        return render_page(
            request,
            "directories/identityprovider_detail.html",
            "directories/_idp_connectors_panel.html",
            context,
        )


def users_and_groups(request: HttpRequest) -> HttpResponse:
    """The sub-navigation entry: opens the chosen (or first) directory's users."""
    directories = Directory.objects.order_by("name")
    chosen = request.GET.get("directory")
    directory = directories.filter(pk=chosen).first() if (chosen or "").isdigit() else None
    directory = directory or directories.first()
    if directory is None:
        return render(request, "directories/users_groups_empty.html", {"nav": "users_groups"})
    kind = "groups" if request.GET.get("show") == "groups" else "users"
    return redirect(f"directories:directory_{kind}", pk=directory.pk)


def _users_groups_context(request: HttpRequest, directory: Directory, kind: str) -> dict:
    return {
        "directory": directory,
        "directories": Directory.objects.order_by("name"),
        "kind": kind,
        "q": request.GET.get("q", "").strip(),
        "nav": "users_groups",
    }


class DirectoryUserListView(View):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        directory = get_object_or_404(Directory, pk=pk)
        context = _users_groups_context(request, directory, "users")
        users = (
            directory.users.search(context["q"])
            .annotate(groups_count=Count("memberships"))
            .order_by("username")
        )
        context["page_obj"] = paginate(request, users, PAGE_SIZE)
        return render_page(
            request, "directories/directory_users.html", "directories/_user_table.html", context
        )


class DirectoryGroupListView(View):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        directory = get_object_or_404(Directory, pk=pk)
        context = _users_groups_context(request, directory, "groups")
        groups = (
            directory.groups.search(context["q"])
            .annotate(members_count=Count("members"))
            .order_by("name")
        )
        context["page_obj"] = paginate(request, groups, PAGE_SIZE)
        return render_page(
            request, "directories/directory_groups.html", "directories/_group_table.html", context
        )


def _walk(start: set[int], step: str) -> dict[int, int]:
    """Groups reachable from `start` over GroupNesting, each with the group it was reached from.

    `step` is "up" (parents) or "down" (subgroups). The visited map guards against cycles,
    which directories allow (A in B, B in A).
    """
    reached: dict[int, int] = {}
    frontier = set(start)
    seen = set(start)
    source, target = ("child_id", "parent_id") if step == "up" else ("parent_id", "child_id")
    while frontier:
        edges = GroupNesting.objects.filter(**{f"{source}__in": frontier}).values_list(
            source, target
        )
        frontier = set()
        for origin, found in edges:
            if found not in seen:
                seen.add(found)
                reached[found] = origin
                frontier.add(found)
    return reached


class DirectoryUserDetailView(View):
    def get(self, request: HttpRequest, pk: int, user_pk: int) -> HttpResponse:
        directory = get_object_or_404(Directory, pk=pk)
        user = get_object_or_404(DirectoryUser, pk=user_pk, directory=directory)
        direct = list(user.memberships.order_by("name"))
        via = _walk({g.pk for g in direct}, "up")
        groups = DirectoryGroup.objects.in_bulk(set(via) | set(via.values()))
        inherited = sorted(
            ((groups[gid], groups[origin]) for gid, origin in via.items()),
            key=lambda pair: pair[0].name.lower(),
        )
        context = {
            "directory": directory,
            "dir_user": user,
            "direct_groups": direct,
            "inherited_groups": inherited,
            "nav": "users_groups",
        }
        return render(request, "directories/directoryuser_detail.html", context)


class DirectoryGroupDetailView(View):
    def get(self, request: HttpRequest, pk: int, group_pk: int) -> HttpResponse:
        directory = get_object_or_404(Directory, pk=pk)
        group = get_object_or_404(DirectoryGroup, pk=group_pk, directory=directory)
        below = _walk({group.pk}, "down")
        nested_users = self._nested_users(group, below)
        context = {
            "directory": directory,
            "group": group,
            "members_page": paginate(request, group.members.order_by("username"), PAGE_SIZE),
            "subgroups": group.subgroups.annotate(members_count=Count("members")).order_by("name"),
            "parent_groups": group.parent_groups.order_by("name"),
            "nested_count": len(below),
            "nested_page": paginate(request, nested_users, PAGE_SIZE, param="nested_page"),
            "nav": "users_groups",
        }
        return render(request, "directories/directorygroup_detail.html", context)

    def _nested_users(self, group: DirectoryGroup, below: dict[int, int]) -> list[tuple]:
        """Users reached only through subgroups, each with the subgroup that holds them."""
        if not below:
            return []
        direct = GroupMembership.objects.filter(group=group).values_list("user_id", flat=True)
        rows = (
            GroupMembership.objects.filter(group_id__in=below)
            .exclude(user_id__in=direct)
            .values_list("user_id", "group_id")
            .order_by("group_id")
        )
        via: dict[int, int] = {}
        for user_id, group_id in rows:
            via.setdefault(user_id, group_id)
        users = DirectoryUser.objects.in_bulk(via)
        groups = DirectoryGroup.objects.in_bulk(set(via.values()))
        return sorted(
            ((users[uid], groups[gid]) for uid, gid in via.items()),
            key=lambda pair: pair[0].username.lower(),
        )
