"""Console URLs of connectors."""

from __future__ import annotations

from django.urls import path

from connectors import views

app_name = "connectors"
urlpatterns = [
    path("", views.ConnectorListView.as_view(), name="connector_list"),
    path("add/", views.ConnectorAddView.as_view(), name="connector_add"),
    path(
        "<int:pk>/activation-code/",
        views.ActivationCodeView.as_view(),
        name="connector_activation_code",
    ),
    path("<int:pk>/delete/", views.ConnectorDeleteView.as_view(), name="connector_delete"),
]
