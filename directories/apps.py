"""App config for directories."""

from __future__ import annotations

from django.apps import AppConfig


class DirectoriesConfig(AppConfig):
    name = "directories"

    def ready(self) -> None:
        # Subscribes the follow-up run and the failure e-mail to the run-finished event,
        # in every process, and registers the `any_of` lookup.
        from directories import checks, lookups, notifications, tasks  # noqa: F401
