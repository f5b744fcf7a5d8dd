"""App config for synclog."""

from __future__ import annotations

from django.apps import AppConfig


class SynclogConfig(AppConfig):
    name = "synclog"
