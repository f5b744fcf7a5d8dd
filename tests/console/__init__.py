"""Tests of the browser console pages."""

from __future__ import annotations
