"""App config for API tokens."""

from __future__ import annotations

from django.apps import AppConfig


class ApiTokensConfig(AppConfig):
    name = "apitokens"
    verbose_name = "API tokens"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the token schemes with drf-spectacular's schema generator.
        from apitokens import schema  # noqa: F401
