"""Console URLs of synclog."""

from __future__ import annotations

app_name = "synclog"
urlpatterns: list = []
