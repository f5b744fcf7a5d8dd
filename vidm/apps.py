from __future__ import annotations

from django.apps import AppConfig


class VidmConfig(AppConfig):
    name = "vidm"
    verbose_name = "vIDM-compatible API"
    default_auto_field = "django.db.models.BigAutoField"
