"""Console URLs of the Sync Log."""

from __future__ import annotations

from django.urls import path

from synclog import views

app_name = "synclog"
urlpatterns = [
    path("", views.SyncRunListView.as_view(), name="syncrun_list"),
    path("export.csv", views.SyncRunExportView.as_view(), name="syncrun_export"),
    path(
        "runs/<int:pk>/changes.csv",
        views.SyncChangeExportView.as_view(),
        name="syncchange_export",
    ),
    path("runs/<int:pk>/", views.SyncRunDetailView.as_view(), name="syncrun_detail"),
    path("runs/<int:pk>/row/", views.SyncRunRowView.as_view(), name="syncrun_row"),
]
