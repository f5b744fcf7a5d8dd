"""API routes of connectors."""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from connectors.api.views import ConnectorActivationView, ConnectorViewSet

app_name = "connectors-api"

router = SimpleRouter()
router.register("connectors", ConnectorViewSet, basename="connector")

urlpatterns = [
    path("connectors/activate/", ConnectorActivationView.as_view(), name="connector-activate"),
    *router.urls,
]
