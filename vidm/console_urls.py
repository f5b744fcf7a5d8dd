from __future__ import annotations

from django.urls import path

from vidm.views import OAuthClientDeleteView, OAuthClientListView

app_name = "vidm-console"

urlpatterns = [
    path("", OAuthClientListView.as_view(), name="oauth_clients"),
    path("<int:pk>/delete/", OAuthClientDeleteView.as_view(), name="oauth_client_delete"),
]
