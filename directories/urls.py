"""Console URLs of directories."""

from __future__ import annotations

app_name = "directories"
urlpatterns: list = []
