"""Template tags and filters of the console."""

from __future__ import annotations
