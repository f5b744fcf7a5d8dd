"""Console URLs of connectors."""

from __future__ import annotations

app_name = "connectors"
urlpatterns: list = []
