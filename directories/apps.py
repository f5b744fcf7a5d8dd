"""App config for directories."""

from __future__ import annotations

from django.apps import AppConfig


class DirectoriesConfig(AppConfig):
    name = "directories"

    def ready(self) -> None:
        # Subscribes the follow-up run to the run-finished event, in every process.
        from directories import tasks  # noqa: F401
