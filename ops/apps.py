"""App config for the operations endpoints (health, readiness, metrics)."""

from __future__ import annotations

from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "ops"
    verbose_name = "Operations"
