"""App config for directories."""

from __future__ import annotations

from django.apps import AppConfig


class DirectoriesConfig(AppConfig):
    name = "directories"
