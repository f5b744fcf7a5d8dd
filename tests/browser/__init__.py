"""End-to-end tests of the console in headless Chromium."""

from __future__ import annotations
