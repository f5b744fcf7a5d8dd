"""Directories: list, Add Directory, Settings, Test Connection, Sync Now, Review and Apply,
Sync without safeguards, the Sync Log tab.

Test Connection is a second submit button of the Add Directory and Settings forms: it
tests the values on the form, through the connector(s), and stores nothing.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, OuterRef, Subquery
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views import View

from connectors.models import Connector
from console.api import as_id
from console.forms import add_service_error
from console.pages import paginate, render_page
from console.permissions import ChangeRequiredMixin
from directories import failover, services, tasks
from directories.forms import (
    DirectoryAddForm,
    DirectorySettingsForm,
    ask_password_again,
)
from directories.models import (
    Directory,
    DirectoryGroup,
    DirectoryUser,
)
from directories.sync.fetch import ConnectionTest, test_connection
from directories.views.base import directory_context
from synclog import lifecycle
from synclog.chart import ChartRun, run_chart
from synclog.choices import RunStatus, Trigger
from synclog.models import SyncRun
from synclog.queries import chart_runs, runs_with_attempts, syncs

RUNS_PER_PAGE = 20


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
        # The last sync, not the last review: a review changes nothing in the store.
        latest = syncs().filter(directory=OuterRef("pk")).order_by("-created", "-id")
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
            directory.connector_status = failover.connector_status(directory)
        return render(
            request,
            "directories/directory_list.html",
            {"directories": directories, "nav": "directories"},
        )


def _testing(request: HttpRequest) -> bool:
    """The form was sent with its Test Connection button, not its Save button."""
    return request.POST.get("action") == "test"


class DirectoryAddView(ChangeRequiredMixin, View):
    change_only = True

    def get(self, request: HttpRequest) -> HttpResponse:
        return self._render(request, DirectoryAddForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        form = DirectoryAddForm(request.POST)
        result = None
        if form.is_valid():
            if _testing(request):
                result = test_connection(services.new_directory(**form.service_fields()))
                ask_password_again(form)
            else:
                try:
                    directory = services.create_directory(**form.service_fields())
                except ValidationError as exc:
                    add_service_error(form, exc)
                else:
                    messages.success(request, f"Directory {directory.name} added.")
                    return redirect(directory)
        return self._render(request, form, result)

    def _render(
        self, request: HttpRequest, form: DirectoryAddForm, result: ConnectionTest | None = None
    ) -> HttpResponse:
        context = {
            "form": form,
            "nav": "directories",
            "has_connectors": Connector.objects.exists(),
            "connection_test": result,
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
        result = None
        valid = form.is_valid()
        if valid and _testing(request):
            try:
                typed = services.directory_with_changes(
                    directory, form.changes(), typed_password=form.typed_password()
                )
            except ValidationError as exc:
                add_service_error(form, exc)
            else:
                result = test_connection(typed)
                if form.typed_password():
                    ask_password_again(form, " to save it")
        elif valid:
            try:
                services.update_directory(
                    directory, form.changes(), typed_password=form.typed_password()
                )
            except ValidationError as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, "Directory settings saved.")
                return redirect("directories:directory_detail", pk=pk)
        # The form applied the typed values to the instance; the page shows the stored ones.
        directory.refresh_from_db()
        return self._render(request, directory, form, result)

    def _render(
        self,
        request: HttpRequest,
        directory: Directory,
        form: DirectorySettingsForm,
        result: ConnectionTest | None = None,
    ) -> HttpResponse:
        context = directory_context(directory, "settings", form=form, connection_test=result)
        context["sync_connectors"], context["uses_fallback"] = failover.effective_sync_connectors(
            directory
        )
        return render(request, "directories/directory_detail.html", context)


def _queue(request: HttpRequest, directory: Directory, trigger: str, **kwargs) -> SyncRun | None:
    """Queue a run the way Sync Now does and say so; None when another kind of run waits."""
    try:
        run, created = tasks.start_sync(directory, trigger, request.user, **kwargs)
    except lifecycle.RunWaiting as exc:
        messages.error(request, str(exc))
        return None
    what = "Review" if trigger == Trigger.REVIEW else "Sync"
    if created:
        messages.success(request, f"{what} of {directory.name} queued.")
    else:
        messages.info(request, f"A {what.lower()} is already waiting; your request joins it.")
    return run


class SyncNowView(ChangeRequiredMixin, View):
    change_only = True

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        directory = get_object_or_404(Directory, pk=pk)
        _queue(request, directory, Trigger.MANUAL)
        return redirect("directories:directory_sync_log", pk=pk)


class ReviewView(ChangeRequiredMixin, View):
    """Review: a run that reads and plans like a sync and writes nothing."""

    change_only = True

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        directory = get_object_or_404(Directory, pk=pk)
        run = _queue(request, directory, Trigger.REVIEW)
        if run is not None and run.is_review:
            return redirect(run)
        return redirect("directories:directory_sync_log", pk=pk)


def _review_of(directory: Directory, run_pk: int | str | None) -> SyncRun:
    review = SyncRun.objects.filter(directory=directory, pk=as_id(run_pk)).first()
    if review is None or not review.is_review:
        raise Http404("No such review of this directory.")
    return review


class ApplyReviewView(ChangeRequiredMixin, View):
    """Apply on a finished review: a real sync, linked to the review it applies."""

    change_only = True

    def post(self, request: HttpRequest, pk: int, run_pk: int) -> HttpResponse:
        directory = get_object_or_404(Directory, pk=pk)
        review = _review_of(directory, run_pk)
        try:
            run = _queue(request, directory, Trigger.MANUAL, reviewed_run=review)
        except lifecycle.NotAReview as exc:
            messages.error(request, f"{exc} Wait for it to finish.")
            return redirect(review)
        return redirect(run or review)


class SyncWithoutSafeguardsView(ChangeRequiredMixin, View):
    """A confirm step, then one sync that ignores the thresholds and the zero-result guard."""

    change_only = True

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        directory = get_object_or_404(Directory, pk=pk)
        review = _review_of(directory, request.GET["review"]) if request.GET.get("review") else None
        stopped = syncs().filter(directory=directory).order_by("-created", "-id").first()
        context = directory_context(
            directory,
            "settings",
            review=review,
            stopped=stopped if stopped and stopped.status == RunStatus.SAFEGUARD else None,
        )
        return render(request, "directories/sync_without_safeguards.html", context)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        directory = get_object_or_404(Directory, pk=pk)
        review = (
            _review_of(directory, request.POST["review"]) if request.POST.get("review") else None
        )
        try:
            run = _queue(
                request, directory, Trigger.MANUAL, ignore_safeguards=True, reviewed_run=review
            )
        except lifecycle.NotAReview as exc:
            messages.error(request, str(exc))
            run = None
        if run is not None:
            return redirect(run)
        return redirect("directories:directory_sync_log", pk=pk)


class DirectorySyncLogView(View):
    """The Sync Log tab: which connector(s) each run used (rule S10)."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        directory = get_object_or_404(Directory, pk=pk)
        page = paginate(request, runs_with_attempts().filter(directory=directory), RUNS_PER_PAGE)
        chart = run_chart(map(ChartRun.from_run, chart_runs(directory.pk)), directory.name)
        context = directory_context(
            directory, "sync_log", page_obj=page, show_directory=False, chart=chart
        )
        return render_page(
            request, "synclog/directory_sync_log.html", "synclog/_run_table.html", context
        )


class DirectoryDeleteView(ChangeRequiredMixin, View):
    """Delete a directory after a confirmation that says what goes with it."""

    change_only = True

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        directory = get_object_or_404(Directory, pk=pk)
        context = directory_context(
            directory, "settings", summary=services.deletion_summary(directory)
        )
        return render(request, "directories/directory_delete.html", context)

    def post(self, request: HttpRequest, pk: int) -> HttpResponse:
        directory = get_object_or_404(Directory, pk=pk)
        name = directory.name
        services.delete_directory(directory)
        messages.success(request, f"Directory {name} deleted.")
        return redirect("directories:directory_list")
