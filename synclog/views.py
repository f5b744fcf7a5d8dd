"""Sync Log pages: every run, one run's attempts and changes, live rows."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.views import View
from django_htmx.http import HttpResponseStopPolling

from console.pages import paginate, render_page
from synclog import export
from synclog.choices import ChangeAction, ChangeKind, RunStatus, Trigger
from synclog.filtersets import SyncChangeFilterSet, SyncRunFilterSet, filter_errors
from synclog.models import WARNINGS_LISTED, SyncRun
from synclog.queries import review_comparison, runs_with_attempts

RUNS_PER_PAGE = 20
CHANGES_PER_PAGE = 50
WARNINGS_PER_PAGE = 50


class SyncRunListView(View):
    def get(self, request: HttpRequest) -> HttpResponse:
        filterset = SyncRunFilterSet(request.GET, queryset=runs_with_attempts())
        errors = filter_errors(filterset)
        runs = filterset.qs if not errors else SyncRun.objects.none()
        page = paginate(request, runs, RUNS_PER_PAGE)
        # Directories build on this app: reached through the run's relation, not imported.
        directories = SyncRun._meta.get_field("directory").related_model.objects
        context = {
            "page_obj": page,
            "show_directory": True,
            "nav": "sync_log",
            "filter_errors": errors,
            "filters": request.GET,
            "directories": directories.order_by("name").values_list("pk", "name"),
            "statuses": RunStatus.choices,
            "triggers": Trigger.choices,
        }
        return render_page(request, "synclog/syncrun_list.html", "synclog/_run_table.html", context)


class SyncRunRowView(View):
    """One run's row, polled while the run is queued or running."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        run = get_object_or_404(runs_with_attempts(), pk=pk)
        if not request.htmx:
            return redirect(run)
        context = {"run": run, "show_directory": request.GET.get("show_directory") == "1"}
        html = render_to_string("synclog/_run_row.html", context, request=request)
        if run.is_active:
            return HttpResponse(html)
        # The final row carries no polling attributes, and 286 also tells htmx to stop.
        return HttpResponseStopPolling(html)


class SyncRunDetailView(View):
    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        run = get_object_or_404(
            runs_with_attempts().select_related(
                "directory", "requested_by", "safeguards_ignored_by", "reviewed_run"
            ),
            pk=pk,
        )
        filterset = SyncChangeFilterSet(
            request.GET, queryset=run.changes.order_by("kind", "action", "name", "id")
        )
        errors = filter_errors(filterset)
        changes = filterset.qs if not errors else run.changes.none()
        kind = filterset.form.cleaned_data.get("kind", "") if not errors else ""
        action = filterset.form.cleaned_data.get("action", "") if not errors else ""
        context = {
            "run": run,
            "directory": run.directory,
            "attempts": run.attempts.all(),  # prefetched in failover order
            "changes_page": paginate(request, changes, CHANGES_PER_PAGE),
            "warnings_page": paginate(request, run.warnings.all(), WARNINGS_PER_PAGE, "wpage"),
            "warnings_listed": WARNINGS_LISTED,
            "warnings_unlisted": max(
                0, run.unresolved_references + run.skipped_entries - WARNINGS_LISTED
            ),
            "kind": kind,
            "action": action,
            "comparison": review_comparison(run) if not request.htmx else None,
            "filter_errors": errors,
            "kinds": ChangeKind.choices,
            "actions": ChangeAction.choices,
            "nav": "directories",
        }
        return render_page(
            request, "synclog/syncrun_detail.html", "synclog/_change_table.html", context
        )


class SyncRunExportView(View):
    """The Sync Log as CSV, with the same filters as the page."""

    def get(self, request: HttpRequest) -> HttpResponse:
        filterset = SyncRunFilterSet(request.GET, queryset=runs_with_attempts())
        if errors := filter_errors(filterset):
            return HttpResponse(" ".join(errors), status=400)

        return export.sync_log_csv(filterset.qs)


class SyncChangeExportView(View):
    """One run's changes as CSV, with the same kind/action filters as its page."""

    def get(self, request: HttpRequest, pk: int) -> HttpResponse:
        run = get_object_or_404(SyncRun, pk=pk)
        filterset = SyncChangeFilterSet(request.GET, queryset=run.changes.order_by("id"))
        if errors := filter_errors(filterset):
            return HttpResponse(" ".join(errors), status=400)
        return export.changes_csv(run, filterset.qs)
